"""The engine serving HTTP/1.1 from a real process over real sockets: keep-alive, pipelining, bodies, errors.

The server is tests/integration/engine_harness.py: the bare engine and a tiny Python loop, no asyncio.
Every test ends by checking that the engine's counters are back to zero once the clients are gone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest
from engine_client import Engine, assert_clean, connect, read_response


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = Engine()
    yield e
    e.stop()


def test_hello_and_keep_alive_with_httpx(engine: Engine) -> None:
    with httpx.Client(base_url=engine.url) as c:
        for _ in range(50):
            r = c.get("/")
            assert r.status_code == 200
            assert r.text == "hello"
            assert r.headers["content-type"] == "text/plain"
            assert r.headers["content-length"] == "5"
    st = engine.stats()
    assert st["accepted"] == 2  # one keep-alive connection for 50 requests, one for stats
    assert st["requests"] == 51
    assert_clean(engine)


def test_pipelined_requests_are_answered_in_order(engine: Engine) -> None:
    s = connect(engine.port)
    reqs = b"".join(
        f"GET /{p} HTTP/1.1\r\nhost: x\r\n\r\n".encode()
        for p in ["slow?ms=200", "", "big?n=70000", "slow?ms=50", ""]
    )
    s.sendall(reqs)
    buf = bytearray()
    bodies = [read_response(s, buf)[2] for _ in range(5)]
    assert bodies == [b"late", b"hello", b"x" * 70000, b"late", b"hello"]
    s.close()
    assert_clean(engine)


def test_request_body_and_head_split_across_reads(engine: Engine) -> None:
    s = connect(engine.port)
    body = os.urandom(100_000)
    req = b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    # A byte at a time through the head, then the body in uneven pieces.
    for i in range(60):
        s.sendall(req[i : i + 1])
        time.sleep(0.001)
    rest = req[60:]
    while rest:
        s.sendall(rest[:7777])
        rest = rest[7777:]
    status, _, got = read_response(s, bytearray())
    assert status == b"HTTP/1.1 200 OK"
    assert got == body
    s.close()
    assert_clean(engine)


def test_chunked_request_body(engine: Engine) -> None:
    with httpx.Client(base_url=engine.url) as c:
        pieces = [os.urandom(n) for n in (1, 1000, 70000, 3)]
        r = c.post("/echo", content=iter(pieces))
        assert r.status_code == 200
        assert r.content == b"".join(pieces)
    assert_clean(engine)


def test_streamed_response_is_chunked(engine: Engine) -> None:
    with httpx.Client(base_url=engine.url) as c:
        r = c.get("/stream", params={"n": 5, "size": 1000})
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.content == b"y" * 5000
    assert_clean(engine)


def test_expect_100_continue(engine: Engine) -> None:
    s = connect(engine.port)
    s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n")
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        buf += s.recv(100)
    assert bytes(buf).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    del buf[: len(b"HTTP/1.1 100 Continue\r\n\r\n")]
    s.sendall(b"hello")
    status, _, body = read_response(s, buf)
    assert status == b"HTTP/1.1 200 OK" and body == b"hello"
    s.close()
    assert_clean(engine)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n", b"400"),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nhost: x\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\nhost: x\r\nx: " + b"a" * 20000 + b"\r\n\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n", b"501"),
        (b"GET / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\n", b"400"),
        (b"CONNECT x:443 HTTP/1.1\r\nhost: x:443\r\n\r\n", b"501"),
        (b"GET / HTTP/2.0\r\nhost: x\r\n\r\n", b"505"),
        (b"GET / HTTP/1.1\r\nhost : x\r\n\r\n", b"400"),
    ],
)
def test_bad_requests_are_answered_in_c_and_closed(
    engine: Engine, request_bytes: bytes, status: bytes
) -> None:
    s = connect(engine.port)
    s.sendall(request_bytes)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 " + status), data[:100]
    assert b"connection: close" in data.lower()
    s.close()
    st = engine.settled()
    assert st["requests"] == 1  # only the stats request reached Python
    assert_clean(engine)


def test_pipelined_connection_close_ends_the_connection(engine: Engine) -> None:
    s = connect(engine.port)
    s.sendall(
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"
        b"GET /big?n=10 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"  # after a close: never answered
    )
    buf = bytearray()
    assert read_response(s, buf)[2] == b"hello"
    _, headers, body = read_response(s, buf)
    assert body == b"x" * 10 and headers[b"connection"] == b"close"
    s.settimeout(10)
    assert s.recv(100) == b"" and buf == b""
    s.close()
    assert engine.settled()["requests"] == 3  # two on that connection, one for the stats
    assert_clean(engine)


def test_http10_stream_is_close_delimited_and_head_has_no_body(engine: Engine) -> None:
    s = connect(engine.port)
    s.sendall(b"GET /stream?n=3&size=10 HTTP/1.0\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding" not in head.lower()
    assert body == b"y" * 30
    s.close()
    s = connect(engine.port)
    s.sendall(b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n")
    buf = bytearray()
    while b"hello" not in buf:
        buf += s.recv(65536)
    _, _, rest = bytes(buf).partition(b"\r\n\r\n")
    assert rest.startswith(b"HTTP/1.1 200 OK")  # the HEAD response had no body bytes
    s.close()
    assert_clean(engine)


def test_client_gone_while_the_app_works_is_a_disconnect(engine: Engine) -> None:
    s = connect(engine.port)
    s.sendall(b"GET /slow?ms=400 HTTP/1.1\r\nhost: x\r\n\r\n")
    time.sleep(0.1)
    s.close()
    time.sleep(0.8)
    st = engine.settled()
    assert st["disconnects"] == 1, st  # the app heard of it
    assert st["epipe"] == 1, st  # and its late response was refused, not sent
    assert_clean(engine)


def test_bad_chunk_in_a_body_the_app_is_reading(engine: Engine) -> None:
    s = connect(engine.port)
    s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
    time.sleep(0.2)
    s.sendall(b"zz\r\n")  # not a chunk size
    data = b""
    s.settimeout(10)
    while chunk := s.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 400 "), data
    s.close()
    st = engine.settled()
    assert st["disconnects"] == 1, st  # the app, reading the body, is told the request is gone
    assert_clean(engine)
