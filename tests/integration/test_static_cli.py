"""--static and its flags through the real command line, beside an app, and `uringasgi compress`."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from rawhttp import exchange
from serverproc import serve, uringasgi_exe


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<h1>home</h1>\n")
    (tmp_path / "app.js").write_text("console.log('hi');\n" * 200)
    (tmp_path / ".secret").write_text("hidden\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.txt").write_text("sub page\n")
    return tmp_path


def test_static_mount_beside_the_app(site: Path) -> None:
    with serve("raw:scope_echo", "--static", f"/assets={site}", "--static-index", "index.html") as sp:
        r = httpx.get(sp.url + "/assets/")
        assert r.status_code == 200 and r.text == "<h1>home</h1>\n"
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        r = httpx.get(sp.url + "/assets/sub/page.txt")
        assert r.text == "sub page\n" and "etag" in r.headers and "last-modified" in r.headers
        assert httpx.get(sp.url + "/assets/missing.txt").status_code == 404
        assert httpx.get(sp.url + "/assets/.secret").status_code == 404
        # Raw, so no client normalises the dot segments away first.
        status, _, body, _ = exchange(sp.port, b"GET /assets/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"root:" not in body
        assert httpx.get(sp.url + "/elsewhere").json()["path"] == "/elsewhere"  # the app


def test_static_flags(site: Path) -> None:
    args = ["--static", f"/s={site}", "--static-max-age", "60", "--static-fallthrough", "--static-dotfiles"]
    with serve("raw:scope_echo", *args) as sp:
        r = httpx.get(sp.url + "/s/app.js")
        assert r.headers["cache-control"] == "public, max-age=60"
        assert httpx.get(sp.url + "/s/.secret").text == "hidden\n"
        # A miss under the prefix goes to the app instead of a 404.
        assert httpx.get(sp.url + "/s/not-here").json()["path"] == "/s/not-here"


def test_compress_command_and_precompressed_siblings(site: Path) -> None:
    res = subprocess.run([uringasgi_exe(), "compress", str(site)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert (site / "app.js.br").exists() and (site / "app.js.gz").exists()
    with serve("raw:hello", "--static", f"/s={site}") as sp:
        r = httpx.get(sp.url + "/s/app.js", headers={"Accept-Encoding": "br"})
        assert r.headers["content-encoding"] == "br"
        assert r.headers["vary"].lower() == "accept-encoding"
        assert r.text == "console.log('hi');\n" * 200  # httpx decodes brotli
        r = httpx.get(sp.url + "/s/app.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in r.headers


def test_bad_static_spec_is_one_line(tmp_path: Path) -> None:
    res = subprocess.run(
        [uringasgi_exe(), "raw:hello", "--static", f"assets={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 2
    assert "expected /PREFIX=DIRECTORY" in res.stderr
    assert "Traceback" not in res.stderr


def test_static_hits_are_in_the_access_log(site: Path) -> None:
    with serve("raw:hello", "--static", f"/s={site}") as sp:
        httpx.get(sp.url + "/s/sub/page.txt")
        httpx.get(sp.url + "/s/nothing-here")
        httpx.get(sp.url + "/app-route")
        assert sp.wait_for('"GET /s/sub/page.txt HTTP/1.1" 200 OK')
        assert sp.wait_for('"GET /s/nothing-here HTTP/1.1" 404 Not Found')
        assert sp.wait_for('"GET /app-route HTTP/1.1" 200 OK')


def _files(root: Path, n: int) -> dict[str, bytes]:
    """n files of 10 kB (over the 8 KiB up to which the cache keeps a body in memory, not its descriptor)."""
    root.mkdir()
    made = {}
    for i in range(n):
        made[f"f{i}.bin"] = body = bytes([i % 251]) * 10_000
        (root / f"f{i}.bin").write_bytes(body)
    return made


def test_each_mount_caches_descriptors_within_its_share_of_the_open_files_limit(tmp_path: Path) -> None:
    """At a limit of 128 open files (soft and hard), each of two mounts keeps at most 16 descriptors (an
    eighth of the limit, and no fewer than 16): 300 files are served whole, and after them the worker holds
    about the same descriptors as before, where the first mount's cache alone used to fill the limit."""
    a, b = _files(tmp_path / "a", 150), _files(tmp_path / "b", 150)
    args = ("--static", f"/a={tmp_path / 'a'}", "--static", f"/b={tmp_path / 'b'}")
    with serve("raw:hello", *args, nofile=128) as sp, httpx.Client(base_url=sp.url) as client:
        fds = Path(f"/proc/{sp.proc.pid}/fd")
        assert client.get("/").status_code == 200
        before = len(list(fds.iterdir()))
        for prefix, files in (("/a/", a), ("/b/", b)):
            for name, body in files.items():
                r = client.get(prefix + name)
                assert (r.status_code, r.content) == (200, body), prefix + name
        assert len(list(fds.iterdir())) - before <= 2 * 16


def test_out_of_descriptors_the_cache_gives_some_back_and_the_file_is_served(tmp_path: Path) -> None:
    """100 idle connections take most of a limit of 128 open files, and opening a file to cache fails
    (EMFILE) long before the cache's share is reached: the cache closes descriptors of files no response
    holds and opens it, where it used to answer 500."""
    files = _files(tmp_path / "a", 40)
    with serve("raw:hello", "--static", f"/a={tmp_path / 'a'}", nofile=128) as sp:
        idle = [socket.create_connection(("127.0.0.1", sp.port)) for _ in range(100)]
        try:
            assert httpx.get(sp.url + "/a/f0.bin").status_code == 200  # every idle one is accepted by now
            with httpx.Client(base_url=sp.url) as client:
                for name, body in files.items():
                    r = client.get("/a/" + name)
                    assert (r.status_code, r.content) == (200, body), name
        finally:
            for s in idle:
                s.close()


def test_the_access_line_of_a_static_hit_is_written_while_only_static_files_are_asked_for(site: Path) -> None:
    """C answers static hits without a run of the Python loop ending; their lines are written before the
    engine waits again, not held until an app request comes or the server stops."""
    with serve("raw:hello", "--static", f"/assets={site}") as sp:
        assert httpx.get(sp.url + "/assets/app.js?marker=1").status_code == 200
        assert sp.wait_for('"GET /assets/app.js?marker=1 HTTP/1.1" 200', timeout=5)
