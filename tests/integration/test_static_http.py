"""Static files served in C by a real server process, checked with real clients (httpx, curl, raw sockets).

The server is static_server.py: the engine with static routes attached, and an app behind them that
answers `app: METHOD PATH` for what the routes hand over."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import brotli
import httpx
import pytest
from rawhttp import read_response

HERE = pathlib.Path(__file__).resolve().parent
T0 = 1_700_000_000


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str

    output: str = ""

    def stop(self) -> dict[str, object]:
        """SIGTERM, wait, and the counters it printed on the way out."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        self.output = out
        assert self.proc.returncode == 0, out
        line = next(ln for ln in out.splitlines() if ln.startswith("stats "))
        stats: dict[str, object] = json.loads(line[6:])
        return stats


@contextlib.contextmanager
def server(
    mounts: list[tuple[str, pathlib.Path]],
    access_log: bool = False,
    ring: dict[str, int] | None = None,
    **settings: object,
) -> Iterator[Server]:
    spec = json.dumps(
        {
            "mounts": [[p, str(d)] for p, d in mounts],
            "settings": settings,
            "access_log": access_log,
            "ring": ring or {},
        }
    )
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "static_server.py"), spec],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("running on "), line + (proc.stdout.read() if proc.poll() is not None else "")
        yield Server(proc, line.split()[-1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def raw(url: str, request: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes as they are (no client-side path cleaning) and read until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def raw_get(url: str, path: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
    data = raw(url, f"GET {path} HTTP/1.1\r\nhost: x\r\n{headers}connection: close\r\n\r\n".encode())
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines[1:])}
    return int(lines[0].split()[1]), hdrs, body


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    base = tmp_path_factory.mktemp("static")
    root = base / "public"
    root.mkdir()
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(b"TOP-SECRET\n")
    files = {
        "index.html": b"<h1>home</h1>",
        "app.css": b"body{margin:0}\n" * 20,
        "app.js": b"console.log(1);\n" * 200,
        "data.json": b'{"a": 1}',
        "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(100),
        "font.woff2": b"wOF2" + bytes(50),
        "blob.unknownext": b"\x00\x01",
        "hello.txt": b"0123456789",
        "docs/index.html": b"<h1>docs</h1>",
        ".env": b"SECRET=1",
        ".git/config": b"[core]",
    }
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (T0, T0))
    (root / "app.js.br").write_bytes(brotli.compress(files["app.js"]))
    (root / "app.js.gz").write_bytes(gzip.compress(files["app.js"]))
    (root / "escape").symlink_to("../outside/secret.txt")
    return root


@pytest.fixture(scope="module")
def srv(site: pathlib.Path) -> Iterator[Server]:
    with server([("/static", site), ("/spa", site)], index="index.html", max_age=60) as s:
        yield s
        stats = s.stop()
        routes = stats["routes"]
        assert isinstance(routes, dict) and routes["static_hits"] > 0


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("data.json", "application/json"),
        ("logo.png", "image/png"),
        ("font.woff2", "font/woff2"),
        ("blob.unknownext", "application/octet-stream"),
    ],
)
def test_content_types(srv: Server, site: pathlib.Path, name: str, ctype: str) -> None:
    r = httpx.get(f"{srv.url}/static/{name}", headers={"accept-encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert r.content == (site / name).read_bytes()
    assert r.headers["etag"] == f'"{T0:x}-{(site / name).stat().st_size:x}"'
    assert r.headers["last-modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert r.headers["cache-control"] == "public, max-age=60"
    assert r.headers["server"] == "uringasgi"


def test_other_paths_go_to_the_app(srv: Server) -> None:
    assert httpx.get(f"{srv.url}/api/items").text == "app: GET /api/items\n"
    assert httpx.get(f"{srv.url}/staticx/app.css").text == "app: GET /staticx/app.css\n"


def test_index_and_redirect(srv: Server) -> None:
    r = httpx.get(f"{srv.url}/static/docs")
    assert r.status_code == 301 and r.headers["location"] == "/static/docs/"
    r = httpx.get(f"{srv.url}/static/docs", follow_redirects=True)
    assert r.text == "<h1>docs</h1>"
    assert httpx.get(f"{srv.url}/static/").text == "<h1>home</h1>"


def test_304(srv: Server) -> None:
    with httpx.Client(base_url=srv.url) as c:
        etag = c.get("/static/app.css").headers["etag"]
        r = c.get("/static/app.css", headers={"if-none-match": etag})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
        r = c.get("/static/app.css", headers={"if-none-match": f'"x", W/{etag}'})
        assert r.status_code == 304
        r = c.get("/static/app.css", headers={"if-modified-since": "Tue, 14 Nov 2023 22:13:20 GMT"})
        assert r.status_code == 304
        r = c.get("/static/app.css", headers={"if-modified-since": "Tue, 14 Nov 2023 22:13:19 GMT"})
        assert r.status_code == 200
        assert c.get("/static/app.css").status_code == 200  # the keep-alive connection still works


def test_412(srv: Server) -> None:
    """If-Match and If-Unmodified-Since (RFC 9110 13.1.1, 13.1.4): a precondition that fails is a 412."""
    with httpx.Client(base_url=srv.url) as c:
        etag = c.get("/static/app.css").headers["etag"]
        assert c.get("/static/app.css", headers={"if-match": etag}).status_code == 200
        r = c.get("/static/app.css", headers={"if-match": '"x"'})
        assert (r.status_code, r.content) == (412, b"")
        r = c.get("/static/app.css", headers={"if-unmodified-since": "Tue, 14 Nov 2023 22:13:19 GMT"})
        assert r.status_code == 412
        assert c.get("/static/app.css").status_code == 200  # the keep-alive connection still works


def test_206_and_416(srv: Server) -> None:
    with httpx.Client(base_url=srv.url) as c:
        r = c.get("/static/hello.txt", headers={"range": "bytes=2-4"})
        assert (r.status_code, r.content, r.headers["content-range"]) == (206, b"234", "bytes 2-4/10")
        r = c.get("/static/hello.txt", headers={"range": "bytes=-3"})
        assert (r.status_code, r.content) == (206, b"789")
        r = c.get("/static/hello.txt", headers={"range": "bytes=7-"})
        assert (r.status_code, r.content) == (206, b"789")
        r = c.get("/static/hello.txt", headers={"range": "bytes=10-"})
        assert (r.status_code, r.headers["content-range"]) == (416, "bytes */10")
        r = c.get("/static/hello.txt", headers={"range": "bytes=0-1,5-6"})
        assert (r.status_code, r.content) == (200, b"0123456789")  # several ranges: the whole file
        r = c.get("/static/hello.txt", headers={"range": "bytes=0-1", "if-range": '"stale"'})
        assert (r.status_code, r.content) == (200, b"0123456789")


def test_curl_range_and_conditional(srv: Server, tmp_path: pathlib.Path) -> None:
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    out = subprocess.run(
        ["curl", "-s", "-r", "3-5", f"{srv.url}/static/hello.txt"], capture_output=True, timeout=30
    )
    assert out.stdout == b"345"
    # -z sends If-Modified-Since from a file's mtime; a copy with the same mtime means "not newer": 304.
    ref = tmp_path / "ref"
    ref.write_bytes(b"")
    os.utime(ref, (T0, T0))
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-z", str(ref), f"{srv.url}/static/app.css"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout == "304"


def test_precompressed_selection(srv: Server, site: pathlib.Path) -> None:
    js = (site / "app.js").read_bytes()
    with httpx.Client(base_url=srv.url) as c:
        for accept, encoding, raw_body in (
            ("br", "br", (site / "app.js.br").read_bytes()),
            ("gzip", "gzip", (site / "app.js.gz").read_bytes()),
            ("gzip, br", "br", (site / "app.js.br").read_bytes()),
            ("br;q=0.1, gzip", "gzip", (site / "app.js.gz").read_bytes()),
            ("identity", None, js),
        ):
            with c.stream("GET", "/static/app.js", headers={"accept-encoding": accept}) as r:
                body = b"".join(r.iter_raw())
            assert r.headers.get("content-encoding") == encoding, accept
            assert r.headers["vary"] == "accept-encoding"
            assert body == raw_body
            assert int(r.headers["content-length"]) == len(raw_body)
        # and httpx decoding the br one gets the file
        assert c.get("/static/app.js", headers={"accept-encoding": "br"}).content == js


# A field sent on several lines (RFC 9110 5.3): the lines of a list are one list, the second line counts.


def test_if_none_match_on_a_second_line_is_304(srv: Server, site: pathlib.Path) -> None:
    etag = f'"{T0:x}-{(site / "app.css").stat().st_size:x}"'
    status, hdrs, body = raw_get(
        srv.url, "/static/app.css", f'if-none-match: "a"\r\nif-none-match: {etag}\r\n'
    )
    assert (status, hdrs["etag"], body) == (304, etag, b"")
    status, _, _ = raw_get(srv.url, "/static/app.css", 'if-none-match: "a"\r\nif-none-match: "b"\r\n')
    assert status == 200


def test_if_match_on_two_lines(srv: Server, site: pathlib.Path) -> None:
    etag = f'"{T0:x}-{(site / "app.css").stat().st_size:x}"'
    status, _, body = raw_get(srv.url, "/static/app.css", 'if-match: "a"\r\nif-match: "b"\r\n')
    assert (status, body) == (412, b"")
    status, _, body = raw_get(srv.url, "/static/app.css", f'if-match: "a"\r\nif-match: {etag}\r\n')
    assert (status, body) == (200, (site / "app.css").read_bytes())


@pytest.mark.parametrize(("second", "encoding", "suffix"), [("br", "br", ".br"), ("gzip", "gzip", ".gz")])
def test_accept_encoding_on_a_second_line_chooses_the_sibling(
    srv: Server, site: pathlib.Path, second: str, encoding: str, suffix: str
) -> None:
    status, hdrs, body = raw_get(
        srv.url, "/static/app.js", f"accept-encoding: identity\r\naccept-encoding: {second}\r\n"
    )
    assert (status, hdrs.get("content-encoding"), hdrs["vary"]) == (200, encoding, "accept-encoding")
    assert body == (site / f"app.js{suffix}").read_bytes()


def test_a_repeated_range_or_if_modified_since_is_ignored(srv: Server, site: pathlib.Path) -> None:
    """Not lists: two lines are no valid value, ignored as the RFC says (14.2, 13.1.3), not read as one."""
    status, _, body = raw_get(srv.url, "/static/hello.txt", "range: bytes=0-1\r\nrange: bytes=0-1\r\n")
    assert (status, body) == (200, b"0123456789")
    date = "Tue, 14 Nov 2023 22:13:20 GMT"
    status, _, body = raw_get(
        srv.url, "/static/app.css", f"if-modified-since: {date}\r\nif-modified-since: {date}\r\n"
    )
    assert (status, body) == (200, (site / "app.css").read_bytes())


def test_dotfiles_are_404(srv: Server) -> None:
    for path in ("/static/.env", "/static/.git/config", "/static/%2eenv"):
        status, _, body = raw_get(srv.url, path)
        assert status == 404 and b"SECRET" not in body, path


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(srv: Server, method: str) -> None:
    r = httpx.request(method, f"{srv.url}/static/app.css", content=b"x" * 100)
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"


def test_head(srv: Server, site: pathlib.Path) -> None:
    r = httpx.head(f"{srv.url}/static/app.css")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str((site / "app.css").stat().st_size)


@pytest.mark.parametrize(
    "path",
    [
        "/static/../outside/secret.txt",
        "/static/%2e%2e/outside/secret.txt",
        "/static/..%2foutside%2fsecret.txt",
        "/static/..%5coutside%5csecret.txt",
        "/static/%c0%ae%c0%ae/outside/secret.txt",
        "/static/escape",
        "/static/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/static/....//outside/secret.txt",
    ],
)
def test_traversal_never_leaves_the_mount(srv: Server, path: str) -> None:
    status, _, body = raw_get(srv.url, path)
    assert status in (400, 404), path
    assert b"TOP-SECRET" not in body and b"root:" not in body


def test_traversal_with_curl_path_as_is(srv: Server) -> None:
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    for path in ("/static/../outside/secret.txt", "/static/../../../../etc/passwd"):
        out = subprocess.run(
            ["curl", "-s", "--path-as-is", "-w", "\n%{http_code}", srv.url + path],
            capture_output=True,
            timeout=30,
        )
        assert out.stdout.endswith(b"\n400") and b"SECRET" not in out.stdout and b"root:" not in out.stdout


def test_pipelined_static_and_app_requests_answer_in_order(srv: Server) -> None:
    req = (
        b"GET /static/hello.txt HTTP/1.1\r\nhost: x\r\n\r\n"
        b"GET /api/x HTTP/1.1\r\nhost: x\r\n\r\n"
        b"GET /static/hello.txt HTTP/1.1\r\nhost: x\r\nrange: bytes=0-1\r\n\r\n"
        b"GET /static/nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    data = raw(srv.url, req)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200", b"200", b"206", b"404"]
    first = data.index(b"\r\n\r\n0123456789HTTP/1.1")
    app = data.index(b"app: GET /api/x", first)
    assert data.index(b"content-range: bytes 0-1/10", app) < data.index(b"404 Not Found\n", app)


def test_a_client_that_pipelines_and_reads_nothing_holds_a_few_files_not_one_per_request(
    tmp_path: pathlib.Path,
) -> None:
    """300 pipelined requests for a 1 MiB file, and the client reads nothing for a while: the server parses
    the next request only as the output drains, so it holds a few open files for this client, not one per
    request (nginx too answers a pipeline one request at a time). Then every response arrives whole, though
    the client shut its side after sending."""
    data = os.urandom(1 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    with server([("/s", tmp_path)]) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        fds = pathlib.Path(f"/proc/{srv.proc.pid}/fd")
        with socket.create_connection((host, int(port)), timeout=20) as s:
            before = len(list(fds.iterdir()))
            s.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 300)
            s.shutdown(socket.SHUT_WR)  # a half-close: the requests already sent are still answered
            time.sleep(1.0)
            assert len(list(fds.iterdir())) - before <= 4
            leftover = bytearray()
            for _ in range(300):
                status, _, body, leftover = read_response(s, leftover)
                assert (status, len(body)) == (200, len(data)) and body == data
            assert not leftover and s.recv(1) == b""  # then the server closes


def test_one_gib_file_checksummed(tmp_path: pathlib.Path) -> None:
    """A sparse 1 GiB file with random blocks scattered through it, so a wrong offset changes the sum."""
    root = tmp_path / "big"
    root.mkdir()
    size = 1 << 30
    local = hashlib.sha256()
    with open(root / "big.bin", "wb") as f:
        f.truncate(size)
        for off in range(0, size, 64 << 20):
            f.seek(off + 12345)
            f.write(os.urandom(1 << 20))
    with open(root / "big.bin", "rb") as f:
        while block := f.read(8 << 20):
            local.update(block)
    with server([("/", root)]) as s:
        got = hashlib.sha256()
        n = 0
        with httpx.stream("GET", f"{s.url}/big.bin", timeout=120) as r:
            assert r.status_code == 200 and r.headers["content-length"] == str(size)
            for chunk in r.iter_raw(1 << 20):
                got.update(chunk)
                n += len(chunk)
        assert n == size
        assert got.hexdigest() == local.hexdigest()
        r = httpx.get(f"{s.url}/big.bin", headers={"range": f"bytes={size - 100}-"})
        with open(root / "big.bin", "rb") as f:
            f.seek(size - 100)
            assert r.status_code == 206 and r.content == f.read()


def test_thousand_concurrent_small_file_clients(site: pathlib.Path) -> None:
    expected = (site / "app.css").read_bytes()

    async def one(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /static/app.css HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        await writer.drain()
        data = await reader.read()
        writer.close()
        return data

    async def run(port: int) -> list[bytes]:
        return await asyncio.wait_for(asyncio.gather(*(one(port) for _ in range(1000))), 120)

    with server([("/static", site)]) as s:
        results = asyncio.run(run(int(s.url.rsplit(":", 1)[1])))
        stats = s.stop()
    assert len(results) == 1000
    for data in results:
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and body == expected
    ring = stats["ring"]
    assert isinstance(ring, dict) and ring["accepted"] == 1000 and ring["conns_open"] == 0
    routes = stats["routes"]
    assert isinstance(routes, dict) and routes["static_hits"] == 1000
    assert stats["mounts"][0]["held"] == 0  # type: ignore[index]


def test_file_changed_between_requests_gets_a_new_etag(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"one")
    os.utime(tmp_path / "a.txt", (T0, T0))
    with server([("/", tmp_path)]) as s, httpx.Client(base_url=s.url) as c:
        r1 = c.get("/a.txt")
        (tmp_path / "a.txt").write_bytes(b"two!")
        time.sleep(1.2)  # the open-file cache checks the disk at most once a second
        r2 = c.get("/a.txt")
        assert (r1.text, r2.text) == ("one", "two!")
        assert r1.headers["etag"] != r2.headers["etag"]
        assert c.get("/a.txt", headers={"if-none-match": r1.headers["etag"]}).status_code == 200


def test_file_deleted_while_cached_is_404(tmp_path: pathlib.Path) -> None:
    (tmp_path / "small.txt").write_bytes(b"small")
    (tmp_path / "large.bin").write_bytes(os.urandom(1 << 20))
    with server([("/", tmp_path)]) as s, httpx.Client(base_url=s.url) as c:
        assert c.get("/small.txt").status_code == 200
        assert c.get("/large.bin").status_code == 200
        (tmp_path / "small.txt").unlink()
        (tmp_path / "large.bin").unlink()
        time.sleep(1.2)
        for path in ("/small.txt", "/large.bin"):
            r = c.get(path)
            assert r.status_code == 404 and r.content == b"404 Not Found\n"


def test_file_larger_than_the_socket_buffers_then_app_and_memory_responses_on_one_connection(
    tmp_path: pathlib.Path,
) -> None:
    """A file far larger than the send and receive buffers, read late: its sendfile meets a full socket and
    waits for room; the app's response and a small in-memory file pipelined behind it still follow it in
    order on the same (now non-blocking) connection, and every byte of the file arrives intact."""
    big = os.urandom(1 << 20) * 6 + os.urandom(12345)
    (tmp_path / "big.bin").write_bytes(big)
    (tmp_path / "small.txt").write_bytes(b"small file\n")
    with server([("/static", tmp_path)]) as s:
        host, port = s.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sk:
            sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            sk.sendall(
                b"GET /static/big.bin HTTP/1.1\r\nhost: x\r\n\r\n"
                b"GET /api/after HTTP/1.1\r\nhost: x\r\n\r\n"
                b"GET /static/small.txt HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            )
            time.sleep(0.5)  # the server fills its socket buffer and must wait for the reader
            chunks = []
            while chunk := sk.recv(1 << 20):
                chunks.append(chunk)
        data = b"".join(chunks)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and f"content-length: {len(big)}".encode() in head
        assert hashlib.sha256(rest[: len(big)]).digest() == hashlib.sha256(big).digest()
        tail = rest[len(big) :]
        assert re.findall(rb"HTTP/1\.1 (\d{3}) ", tail) == [b"200", b"200"]
        assert tail.index(b"app: GET /api/after") < tail.index(b"small file\n")
        assert tail.endswith(b"small file\n")
        stats = s.stop()
    assert stats["mounts"][0]["held"] == 0  # type: ignore[index]


def test_a_file_whose_client_reset_during_a_pipeline_after_its_eof_fails_at_once(
    tmp_path: pathlib.Path,
) -> None:
    """Two pipelined requests and the client's EOF; the first response leaves while the loop is busy in an
    app (/block) and the client, having read it, resets. The next run takes the send's completion: with no
    op left in flight the second request, parsed from the bytes held back, is answered in C, its sendfile
    fails at once (ECONNRESET) and the connection is freed right there, input included. Parsing went on to
    consume those bytes: a memmove of about 4 GiB from NULL, and the worker died (SIGSEGV)."""
    (tmp_path / "first.bin").write_bytes(b"1" * 6000)  # over out_high_water: the second head waits
    (tmp_path / "second.bin").write_bytes(b"2" * (1 << 20))  # a file range: sent by sendfile
    with server([("/s", tmp_path)], ring={"out_high_water": 4096}) as s:
        host, port = s.url.removeprefix("http://").split(":")
        x, b1, b2 = (socket.create_connection((host, int(port)), timeout=10) for _ in range(3))
        with x, b1, b2:
            time.sleep(0.1)
            b1.sendall(b"GET /block HTTP/1.1\r\nhost: x\r\n\r\n")  # the loop is busy for 0.5 s
            time.sleep(0.2)
            x.sendall(
                b"GET /s/first.bin HTTP/1.1\r\nhost: x\r\n\r\nGET /s/second.bin HTTP/1.1\r\nhost: x\r\n\r\n"
            )
            x.shutdown(socket.SHUT_WR)
            b2.sendall(b"GET /block HTTP/1.1\r\nhost: x\r\n\r\n")  # in x's batch: the loop is busy again
            assert x.recv(65536).startswith(b"HTTP/1.1 200 OK")  # the first response, while b2's app blocks
            x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            x.close()  # a reset
            assert b"app: GET /block" in b1.recv(65536)
            assert b"app: GET /block" in b2.recv(65536)
        r = httpx.get(f"{s.url}/s/first.bin", timeout=10)  # the worker lives on
        assert r.status_code == 200 and len(r.content) == 6000
        stats = s.stop()
    assert stats["ring"]["conns_open"] == 0  # type: ignore[index]
    assert stats["mounts"][0]["held"] == 0  # type: ignore[index]


def test_file_truncated_while_sent_ends_that_response_only(tmp_path: pathlib.Path) -> None:
    size = 64 << 20
    with open(tmp_path / "shrink.bin", "wb") as f:
        f.write(os.urandom(1 << 20) * 64)
    with server([("/", tmp_path)]) as s:
        host, port = s.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sk:
            sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            sk.sendall(b"GET /shrink.bin HTTP/1.1\r\nhost: x\r\n\r\n")
            got = sk.recv(65536)
            assert got.startswith(b"HTTP/1.1 200 OK")
            os.truncate(tmp_path / "shrink.bin", 2 << 20)
            total = len(got)
            while chunk := sk.recv(1 << 20):
                total += len(chunk)
        assert total < size  # the response ended early: the connection was closed, not padded
        r = httpx.get(f"{s.url}/shrink.bin", timeout=30)  # the worker lives on
        assert r.status_code == 200
        stats = s.stop()
    assert stats["mounts"][0]["held"] == 0  # type: ignore[index]


def test_access_log_of_static_hits_is_written_from_c(site: pathlib.Path) -> None:
    with server([("/static", site)], access_log=True) as s:
        host, port = s.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sk:
            client_port = sk.getsockname()[1]
            sk.sendall(
                b"GET /static/app.css HTTP/1.1\r\nhost: x\r\n\r\n"
                b"GET /static/nope.css?v=2 HTTP/1.1\r\nhost: x\r\n\r\n"
                b"GET /api HTTP/1.1\r\nhost: x\r\n\r\n"
                b"HEAD /static/hello.txt HTTP/1.0\r\nrange: bytes=0-1\r\n\r\n"
            )
            data = b""
            while chunk := sk.recv(65536):
                data += chunk
        assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200", b"404", b"200", b"200"]
        s.stop()
    lines = [ln for ln in s.output.splitlines() if ln.startswith("INFO:")]
    assert lines == [  # the app's request is not in this log: Python logs its own
        f'INFO:     127.0.0.1:{client_port} - "GET /static/app.css HTTP/1.1" 200 OK',
        f'INFO:     127.0.0.1:{client_port} - "GET /static/nope.css?v=2 HTTP/1.1" 404 Not Found',
        f'INFO:     127.0.0.1:{client_port} - "HEAD /static/hello.txt HTTP/1.0" 200 OK',
    ]


def test_fallthrough_hands_misses_to_the_app(site: pathlib.Path) -> None:
    with server([("/static", site)], fallthrough=True) as s, httpx.Client(base_url=s.url) as c:
        assert c.get("/static/app.css").text == (site / "app.css").read_text()
        assert c.get("/static/missing.js").text == "app: GET /static/missing.js\n"
        assert c.post("/static/app.css", content=b"x").text == "app: POST /static/app.css\n"
        assert c.get("/static/.env").text == "app: GET /static/.env\n"
        stats = s.stop()
    routes = stats["routes"]
    assert isinstance(routes, dict) and routes == {"static_hits": 1, "passed": 3}


def test_brotli_on_the_fly(tmp_path: pathlib.Path) -> None:
    page = b"<p>static, compressed once, then from memory</p>\n" * 400
    (tmp_path / "page.html").write_bytes(page)
    with server([("/", tmp_path)], compress=True) as s, httpx.Client(base_url=s.url) as c:
        # the first asking is answered at once, in identity; the copy is made on the mount's helper thread
        first = c.get("/page.html", headers={"accept-encoding": "gzip, br"})
        assert "content-encoding" not in first.headers and first.content == page
        assert first.headers["vary"] == "accept-encoding"
        deadline = time.monotonic() + 10
        while "content-encoding" not in c.get("/page.html", headers={"accept-encoding": "br"}).headers:
            assert time.monotonic() < deadline, "no brotli copy within 10 s"
            time.sleep(0.01)
        for _ in range(3):
            with c.stream("GET", "/page.html", headers={"accept-encoding": "gzip, br"}) as r:
                raw_body = b"".join(r.iter_raw())
            assert r.headers["content-encoding"] == "br" and r.headers["vary"] == "accept-encoding"
            assert brotli.decompress(raw_body) == page and len(raw_body) < len(page) // 10
        r = c.get("/page.html", headers={"accept-encoding": "gzip"})
        assert "content-encoding" not in r.headers and r.content == page
        stats = s.stop()
    assert stats["mounts"][0]["compressions"] == 1  # type: ignore[index]
