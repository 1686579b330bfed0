"""--static and its flags through the real command line, beside an app, and `uringasgi compress`."""

from __future__ import annotations

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
