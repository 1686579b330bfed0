"""Each ASGI extension in scope["extensions"] does what it says, seen on the wire."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from rawhttp import connect, read_response
from serverproc import serve

FILE = bytes(range(256)) * 200


@pytest.fixture(scope="module")
def ext():
    with serve("extensions:raw") as sp:
        yield sp


def test_extensions_advertised(ext) -> None:
    assert httpx.get(ext.url + "/extensions").text == (
        "http.response.early_hint,http.response.pathsend,http.response.trailers,http.response.zerocopysend"
    )


def test_pathsend(ext) -> None:
    r = httpx.get(ext.url + "/pathsend")
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(FILE))
    assert r.headers["content-type"] == "application/x-test"
    assert r.content == FILE


def test_starlette_file_response_uses_pathsend() -> None:
    with serve("extensions:starlette_app") as sp:
        for _ in range(3):  # the same connection, back to back
            r = httpx.get(sp.url + "/file")
            assert hashlib.sha256(r.content).digest() == hashlib.sha256(FILE).digest()
            assert r.headers["content-length"] == str(len(FILE))


def test_zerocopysend_range_then_body(ext) -> None:
    r = httpx.get(ext.url + "/zerocopy")
    assert r.content == FILE[256 : 256 + 1024] + b"|tail"


def test_trailers_follow_the_chunked_body(ext) -> None:
    s = connect(ext.port)
    s.sendall(b"GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
    raw = b""
    while not raw.endswith(b"\r\n\r\n") or b"x-checksum" not in raw:
        chunk = s.recv(65536)
        assert chunk
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body.endswith(b"0\r\nx-checksum: abc123\r\n\r\n")
    assert b"part one," in body and b"part two" in body


def test_early_hints_before_the_response(ext) -> None:
    s = connect(ext.port)
    s.sendall(b"GET /early HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _, buf = read_response(s)
    assert status == 103
    assert headers["link"] == "</style.css>; rel=preload; as=style"
    status, _, body, _ = read_response(s, buf)
    assert (status, body) == (200, b"after hints")


def test_no_early_hints_for_http10(ext) -> None:
    s = connect(ext.port)
    s.sendall(b"GET /early HTTP/1.0\r\n\r\n")
    status, _, body, _ = read_response(s)
    assert (status, body) == (200, b"after hints")
