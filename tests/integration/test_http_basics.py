"""HTTP/1.1 behaviour of a real server process, seen by real clients."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading

import httpx
import pytest
from rawhttp import closed_by_peer, connect, exchange, read_response
from serverproc import serve


@pytest.fixture(scope="module")
def hello():
    with serve("raw:hello") as sp:
        yield sp


@pytest.fixture(scope="module")
def echo():
    with serve("raw:echo") as sp:
        yield sp


@pytest.fixture(scope="module")
def scope_app():
    with serve("raw:scope_echo", "--root-path", "/api") as sp:
        yield sp


def test_hello_world_with_default_headers(hello) -> None:
    r = httpx.get(hello.url + "/")
    assert r.status_code == 200
    assert r.text == "Hello, world!"
    assert r.headers["content-length"] == "13"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["server"] == "uringasgi"
    assert "GMT" in r.headers["date"]


def test_python_dash_m_runs_the_server() -> None:
    """`python -m uringasgi APP`, as `python -m uvicorn APP` runs uvicorn."""
    with serve("raw:hello", exe=[sys.executable, "-m", "uringasgi"]) as sp:
        assert httpx.get(sp.url).text == "Hello, world!"


def test_keep_alive_serves_many_requests_on_one_connection(hello) -> None:
    s = connect(hello.port)
    buf = bytearray()
    for _ in range(20):
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body, buf = read_response(s, buf)
        assert (status, body) == (200, b"Hello, world!")
        assert headers.get("connection") != "close"
    s.close()


def test_pipelined_requests_answer_in_order(echo) -> None:
    s = connect(echo.port)
    reqs = b"".join(
        b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (i, len(b"body%d" % i), b"body%d" % i)
        for i in range(10)
    )
    s.sendall(reqs)
    buf = bytearray()
    for i in range(10):
        status, _, body, buf = read_response(s, buf)
        assert status == 200
        assert body == b"body%d" % i
    s.close()


def test_http10_closes_after_response(hello) -> None:
    status, headers, body, s = exchange(hello.port, b"GET / HTTP/1.0\r\n\r\n")
    assert status == 200 and body == b"Hello, world!"
    assert closed_by_peer(s)


def test_http10_keep_alive_when_asked(hello) -> None:
    s = connect(hello.port)
    s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, headers, body, buf = read_response(s)
    assert status == 200 and headers.get("connection", "").lower() == "keep-alive"
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    status, _, body, _ = read_response(s, buf)
    assert body == b"Hello, world!"


def test_head_has_no_body(hello) -> None:
    s = connect(hello.port)
    s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body, buf = read_response(s, head_only=True)
    # The app sent a body without a length: HEAD gets neither the body nor chunked framing.
    assert status == 200 and "transfer-encoding" not in headers and body == b""
    # The next response starts right after the head: no stray body bytes in between.
    status, _, body, _ = read_response(s, buf)
    assert body == b"Hello, world!"


def test_chunked_request_body(echo) -> None:
    raw = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    status, headers, body, _ = exchange(echo.port, raw)
    assert status == 200 and body == b"hello world"


def test_streaming_response_is_chunked() -> None:
    with serve("raw:stream") as sp:
        s = connect(sp.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body, _ = read_response(s)
        assert headers["transfer-encoding"] == "chunked"
        assert body == b"".join(b"chunk %d\n" % i for i in range(100))


STREAMED = b"".join(b"chunk %d\n" % i for i in range(100))


def test_apps_own_transfer_encoding_frames_the_stream() -> None:
    """chunked named by the app: chunked on HTTP/1.1, left out for HTTP/1.0 (RFC 9112 6.1), and refused
    when it is not the last coding, as no client could find the body's end."""
    with serve("raw:stream") as sp:
        s = connect(sp.port)
        buf = bytearray()
        for te, seen in ((b"gzip,%20chunked", "gzip, chunked"), (b"Chunked", "Chunked")):
            s.sendall(b"GET /?te=%s HTTP/1.1\r\nHost: x\r\n\r\n" % te)
            status, headers, body, buf = read_response(s, buf)
            assert (status, headers["transfer-encoding"], body) == (200, seen, STREAMED)
            assert "content-length" not in headers and "connection" not in headers
        s.close()

        status, headers, body, s = exchange(sp.port, b"GET /?te=chunked HTTP/1.0\r\n\r\n")
        assert (status, headers["connection"], body) == (200, "close", STREAMED)  # read to the close
        assert "transfer-encoding" not in headers
        s.close()

        status, headers, _, s = exchange(sp.port, b"GET /?te=chunked,%20gzip HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 500
        s.close()


def test_expect_100_continue_sent_when_body_is_read(echo) -> None:
    s = connect(echo.port)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    status, _, _, buf = read_response(s)
    assert status == 100
    s.sendall(b"hello")
    status, _, body, _ = read_response(s, buf)
    assert (status, body) == (200, b"hello")


def test_expect_100_continue_not_sent_when_body_unread(hello) -> None:
    s = connect(hello.port)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    status, headers, body, _ = read_response(s)
    assert status == 200 and body == b"Hello, world!"


def test_scope(scope_app) -> None:
    r = httpx.get(scope_app.url + "/a%20b/c?x=1&y=%20", headers={"X-Thing": "A"})
    scope = r.json()
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/a b/c"
    assert scope["raw_path"] == "/api/a%20b/c"
    assert scope["query_string"] == "x=1&y=%20"
    assert ["x-thing", "A"] in scope["headers"]
    assert scope["server"] == ["127.0.0.1", scope_app.port]
    assert scope["client"][0] == "127.0.0.1"


def test_header_order_and_duplicates_kept(scope_app) -> None:
    s = connect(scope_app.port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\n\r\n")
    _, _, body, _ = read_response(s)
    headers = json.loads(body)["headers"]
    assert headers == [["host", "x"], ["x-a", "1"], ["x-b", "2"], ["x-a", "3"]]


def test_proxy_headers_from_trusted_peer(scope_app) -> None:
    r = httpx.get(
        scope_app.url + "/",
        headers={"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https"},
    )
    scope = r.json()
    assert scope["client"][0] == "203.0.113.7"
    assert scope["scheme"] == "https"


@pytest.fixture(scope="module")
def rfc7239_app():
    with serve("raw:scope_echo", "--forwarded-style", "forwarded") as sp:
        yield sp


def test_forwarded_header(rfc7239_app) -> None:
    r = httpx.get(rfc7239_app.url + "/", headers={"Forwarded": 'for="198.51.100.4";proto=https'})
    scope = r.json()
    assert scope["client"][0] == "198.51.100.4"
    assert scope["scheme"] == "https"


def _scope_via(port: int, headers: bytes) -> dict:
    s = connect(port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    status, _, body, _ = read_response(s)
    s.close()
    assert status == 200
    return json.loads(body)


@pytest.mark.parametrize(
    ("headers", "client", "scheme"),
    [
        # A proxy that sets the X- pair passes the client's own Forwarded through: it must not count.
        (
            b"X-Forwarded-For: 203.0.113.7\r\nForwarded: for=6.6.6.6;proto=https\r\n",
            ["203.0.113.7", 0],
            "http",
        ),
        (b"Forwarded: for=6.6.6.6;proto=https\r\n", ["127.0.0.1", None], "http"),
        (b"X-Forwarded-For: 1.2.3.4:5555\r\n", ["1.2.3.4", 5555], "http"),
        (b"X-Forwarded-For: 1.2.3.4:\xb2\r\n", ["1.2.3.4", 0], "http"),  # latin-1 "²" is no port
        (b"X-Forwarded-For: [2001:db8::1]:4711\r\n", ["2001:db8::1", 4711], "http"),
        (b"X-Forwarded-For: 2001:db8::1\r\n", ["2001:db8::1", 0], "http"),
        (b"X-Forwarded-For: \r\n", ["127.0.0.1", None], "http"),  # empty: the peer stays
        # repeated headers are one list: the rightmost address not trusted is the client
        (
            b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 198.51.100.1, 127.0.0.1\r\n",
            ["198.51.100.1", 0],
            "http",
        ),
        (b"X-Forwarded-Proto: HTTPS\r\n", ["127.0.0.1", None], "https"),
    ],
)
def test_proxy_headers_shapes(scope_app, headers: bytes, client: list | None, scheme: str) -> None:
    _check_proxied(scope_app.port, headers, client, scheme)


@pytest.mark.parametrize(
    ("headers", "client", "scheme"),
    [
        # With Forwarded read, a client's own X- headers passed through by the proxy must not count.
        (
            b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nForwarded: for=203.0.113.7\r\n",
            ["203.0.113.7", 0],
            "http",
        ),
        (b'Forwarded: for="[2001:db8::2]:80";proto=HTTPS\r\n', ["2001:db8::2", 80], "https"),
        (b"Forwarded: for=unknown\r\n", None, "http"),  # RFC 7239 6: the proxy does not know
        (b"Forwarded: for=_hidden, for=203.0.113.9\r\n", ["203.0.113.9", 0], "http"),
        (b"Forwarded: for=192.0.2.1\r\nForwarded: for=192.0.2.2;proto=https\r\n", ["192.0.2.2", 0], "https"),
    ],
)
def test_forwarded_header_shapes(rfc7239_app, headers: bytes, client: list | None, scheme: str) -> None:
    _check_proxied(rfc7239_app.port, headers, client, scheme)


def _check_proxied(port: int, headers: bytes, client: list | None, scheme: str) -> None:
    scope = _scope_via(port, headers)
    seen = scope["client"]
    if client is not None and client[1] is None:  # the peer's own port, whatever it was
        seen = [seen[0], None]
    assert (seen, scope["scheme"]) == (client, scheme)


def test_absolute_form_without_a_path_is_the_root(scope_app) -> None:
    """RFC 9110 4.2.3: an empty path is "/"; a router must not see ""."""
    for target in (b"http://example.com", b"http://example.com?x=1", b"http://example.com:80"):
        s = connect(scope_app.port)
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n")
        status, _, body, _ = read_response(s)
        s.close()
        scope = json.loads(body)
        assert (status, scope["path"], scope["raw_path"]) == (200, "/api/", "/api/")


def _half_closed(port: int, raw: bytes) -> bytes:
    """Send raw with the FIN in the same segment (TCP_CORK), then read to the server's close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    s.sendall(raw)
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data


def test_a_half_closed_client_is_answered(hello, echo) -> None:
    """A client that shuts its sending side after the request (nc -N, socat) still reads: every request
    it sent is answered, in order, and then the connection closes (RFC 9112 9.6)."""
    for _ in range(20):
        data = _half_closed(hello.port, b"GET / HTTP/1.0\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"Hello, world!")
        two = _half_closed(
            hello.port, b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert two.count(b"HTTP/1.1 200 OK") == 2 and two.endswith(b"Hello, world!")
        posted = _half_closed(echo.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        assert posted.startswith(b"HTTP/1.1 200 OK") and posted.endswith(b"hello")


def test_a_half_closed_client_of_a_slow_app_counts_as_gone() -> None:
    """An app that is still working when the client's EOF comes hears http.disconnect, as with uvicorn."""
    with serve("raw:wait_disconnect") as sp:
        data = _half_closed(sp.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert data == b""
        assert httpx.get(sp.url + "/seen").text == "disconnect"


def test_proxy_headers_ignored_from_untrusted_peer() -> None:
    with serve("raw:scope_echo", "--forwarded-allow-ips", "10.0.0.0/8") as sp:
        r = httpx.get(sp.url + "/", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
        assert r.json()["client"][0] == "127.0.0.1"
        assert r.json()["scheme"] == "http"
    with serve("raw:scope_echo", "--no-proxy-headers") as sp:
        r = httpx.get(sp.url + "/", headers={"X-Forwarded-For": "203.0.113.7"})
        assert r.json()["client"][0] == "127.0.0.1"


def test_server_date_and_extra_headers_flags() -> None:
    with serve("raw:hello", "--no-server-header", "--no-date-header", "--header", "X-Powered-By:uring") as sp:
        r = httpx.get(sp.url)
        assert "server" not in r.headers
        assert "date" not in r.headers
        assert r.headers["x-powered-by"] == "uring"


def test_concurrent_connections_each_with_several_requests(hello) -> None:
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with httpx.Client(timeout=30) as c:
                for _ in range(5):
                    r = c.get(hello.url)
                    assert r.text == "Hello, world!"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_large_upload_and_download_checksummed(echo) -> None:
    payload = bytes(range(256)) * (20 * 4096)  # 20 MiB
    r = httpx.post(echo.url, content=payload, timeout=60)
    assert r.status_code == 200
    assert r.headers["x-sha256"] == hashlib.sha256(payload).hexdigest()
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(payload).hexdigest()
    with serve("raw:big") as sp, httpx.stream("GET", sp.url + "/?n=10", timeout=60) as resp:
        h = hashlib.sha256()
        for chunk in resp.iter_bytes():
            h.update(chunk)
    assert h.hexdigest() == hashlib.sha256((bytes(range(256)) * 256) * 160).hexdigest()


def test_client_disconnect_mid_body_is_seen_by_app() -> None:
    with serve("raw:wait_disconnect") as sp:
        s = connect(sp.port)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        for _ in range(100):
            if httpx.get(sp.url + "/seen").text == "disconnect":
                break
            threading.Event().wait(0.05)
        assert httpx.get(sp.url + "/seen").text == "disconnect"


@pytest.mark.parametrize("loop", ["uring", "asyncio"])
@pytest.mark.parametrize("path", ["/", "/later"])
def test_the_head_goes_when_the_app_waits_after_starting(loop: str, path: str) -> None:
    """An app that starts its response and then waits for its first body (a stream's first event): the
    client has the head at once, as from uvicorn, not when the body comes 2 s later."""
    with serve("raw:head_then_wait", "--loop", loop) as sp:
        s = connect(sp.port)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        s.settimeout(1.0)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)  # TimeoutError: the head was held
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in head
        s.settimeout(5)
        rest = head.partition(b"\r\n\r\n")[2]
        while not rest.endswith(b"0\r\n\r\n"):
            rest += s.recv(4096)
        assert b"data: event" in rest
        s.close()
