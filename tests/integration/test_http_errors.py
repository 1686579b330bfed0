"""What a user sees when the app fails, and when a client sends what it must not."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import httpx
import pytest
from rawhttp import closed_by_peer, connect, exchange, read_response
from serverproc import serve


def test_exception_before_response_gives_500_and_close() -> None:
    with serve("raw:boom_before") as sp:
        status, headers, body, s = exchange(sp.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 500
        assert body == b"Internal Server Error"
        assert headers["connection"] == "close"
        assert closed_by_peer(s)
        assert sp.wait_for("boom before the response")


def test_exception_after_response_start_closes_connection() -> None:
    with serve("raw:boom_after") as sp:
        s = connect(sp.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionError):
            read_response(s)  # content-length 100, only 7 bytes, then the close
        assert sp.wait_for("boom after the response started")


def test_returning_without_response_gives_500() -> None:
    with serve("raw:no_response") as sp:
        r = httpx.get(sp.url)
        assert r.status_code == 500
        assert sp.wait_for("returned without completing response")


def test_wrong_message_order_is_named_in_the_log() -> None:
    with serve("raw:wrong_order") as sp:
        r = httpx.get(sp.url)
        assert r.status_code == 500
        assert sp.wait_for("Expected ASGI message 'http.response.start', but got 'http.response.body'")


BAD_REQUESTS = [
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
    (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
]


@pytest.mark.parametrize(("raw", "status"), BAD_REQUESTS)
def test_bad_request_gets_status_and_close_then_next_client_is_served(raw: bytes, status: int) -> None:
    with serve("raw:hello") as sp:
        got, _, _, s = exchange(sp.port, raw)
        assert got == status
        assert closed_by_peer(s)
        assert httpx.get(sp.url).text == "Hello, world!"


def test_connect_is_refused_and_what_follows_is_never_read_as_a_request() -> None:
    """A 2xx to CONNECT would make the connection a tunnel (RFC 9110 9.3.6), which an ASGI app cannot give:
    the app never sees it, the client gets 501 and the close, and the bytes meant for the tunnel are not
    answered as a request of their own."""
    with serve("raw:hello") as sp:
        s = connect(sp.port)
        s.sendall(
            b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\nGET /tunneled HTTP/1.1\r\nHost: internal\r\n\r\n"
        )
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        assert got.startswith(b"HTTP/1.1 501 ") and got.count(b"HTTP/1.1 ") == 1
        assert "tunneled" not in sp.output


def test_a_later_http_1_minor_version_is_served_as_1_1() -> None:
    """RFC 9110 2.5: HTTP/1.2 and on are read as the highest 1.x we conform to, not refused with 505."""
    with serve("raw:scope_echo") as sp:
        status, _, body, _ = exchange(sp.port, b"GET /v HTTP/1.2\r\nHost: x\r\n\r\n")
        assert status == 200 and b'"http_version": "1.1"' in body


def test_header_bytes_limit_431() -> None:
    with serve("raw:hello", "--limit-header-bytes", "1024") as sp:
        got, _, _, s = exchange(sp.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n")
        assert got == 431
        assert httpx.get(sp.url, headers={"X-Small": "a" * 100}).status_code == 200


def test_header_count_limit_431() -> None:
    with serve("raw:hello", "--limit-header-count", "10") as sp:
        many = b"".join(b"X-%d: v\r\n" % i for i in range(11))
        got, _, _, _ = exchange(sp.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert got == 431
        few = b"".join(b"X-%d: v\r\n" % i for i in range(8))
        got, _, _, _ = exchange(sp.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + few + b"\r\n")
        assert got == 200


def test_max_body_size_413_before_the_app_reads() -> None:
    with serve("raw:echo", "--max-body-size", "1000") as sp:
        got, _, _, s = exchange(sp.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        assert got == 413
        assert httpx.post(sp.url, content=b"a" * 1000).content == b"a" * 1000
        chunked = (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"400\r\n"
            + b"a" * 1024
            + b"\r\n"
        )
        s = connect(sp.port)
        s.sendall(chunked)
        status, _, _, _ = read_response(s)
        assert status == 413


# Each loop: under a stock asyncio or uvloop loop the engine's timers fire only if that loop runs the ring for
# them, since nothing arrives on an idle connection to make the ring's fd readable.
LOOPS = ["uring", "asyncio", "uvloop"]


@pytest.mark.parametrize("loop", LOOPS)
def test_keep_alive_timeout_closes_idle_connection(loop: str) -> None:
    with serve("raw:hello", "--timeout-keep-alive", "1", "--loop", loop) as sp:
        s = connect(sp.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(s)
        started = time.monotonic()
        assert closed_by_peer(s, timeout=5)
        assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize("loop", LOOPS)
def test_header_read_timeout_stops_slowloris(loop: str) -> None:
    with serve("raw:hello", "--timeout-header-read", "1", "--loop", loop) as sp:
        s = connect(sp.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(40):  # a header line every 0.25 s never finishes the head
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            time.sleep(0.25)
        assert closed or closed_by_peer(s, timeout=2)
        assert httpx.get(sp.url).status_code == 200


@pytest.mark.parametrize("loop", LOOPS)
def test_header_read_timeout_closes_a_head_left_unfinished(loop: str) -> None:
    """A client that sends part of a head and then nothing: no byte comes to run the ring, only its timer."""
    with serve("raw:hello", "--timeout-header-read", "1", "--loop", loop) as sp:
        s = connect(sp.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert closed_by_peer(s, timeout=5)
        assert time.monotonic() - started >= 0.5


def test_limit_concurrency_503() -> None:
    with serve("raw:slow", "--limit-concurrency", "1") as sp:
        s = connect(sp.port)
        s.sendall(b"GET /?s=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        r = httpx.get(sp.url + "/?s=0")
        assert r.status_code == 503
        status, _, body, _ = read_response(s)
        assert (status, body) == (200, b"slept")


def test_limit_max_requests_stops_the_worker() -> None:
    with serve("raw:hello", "--limit-max-requests", "3") as sp:
        for _ in range(3):
            assert httpx.get(sp.url).status_code == 200
        sp.proc.wait(10)
        assert sp.proc.returncode == 0
        assert "Maximum request limit of 3 exceeded" in sp.output


def test_client_that_vanishes_mid_request_does_not_hurt_others() -> None:
    with serve("raw:echo") as sp:
        for _ in range(20):
            s = connect(sp.port)
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        assert httpx.post(sp.url, content=b"ok").content == b"ok"


def test_clients_that_reset_mid_body_under_a_flood_are_let_go_at_once() -> None:
    """Thousands of uploads that stop mid-body with a reset, far more than the receive buffers: a
    connection waiting for a buffer learns of its client's reset without one, so the server does not pile
    up connections (and their apps' partial bodies) it would only find gone once a buffer came free."""
    with serve("raw:echo", "--no-access-log", nofile=20000) as sp:
        part = b"x" * 100_000
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
        count = 0
        lock = threading.Lock()

        def flood() -> None:
            nonlocal count
            for _ in range(60):
                with socket.create_connection(("127.0.0.1", sp.port), timeout=10) as s:
                    s.sendall(head + part)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with lock:
                    count += 1

        threads = [threading.Thread(target=flood) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        open_fds = len(os.listdir(f"/proc/{sp.proc.pid}/fd"))
        assert count == 6000
        assert open_fds < 1500, f"{open_fds} fds open once the 6000 clients had all reset"
        assert httpx.post(sp.url, content=b"still here").content == b"still here"
