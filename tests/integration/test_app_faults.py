"""Apps that do what they must not: one request's fault stays that request's, and says what it was."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from rawhttp import closed_by_peer, connect, exchange, read_response
from serverproc import serve


@pytest.fixture(scope="module")
def faulty():
    with serve("raw:misbehave") as sp:
        yield sp


@pytest.mark.parametrize(
    "path",
    [
        "/cancelled",
        "/exit",
        "/interrupt",
        "/base",
        "/cancelled-later",
        "/exit-later",
        "/interrupt-later",
        "/base-later",
    ],
)
def test_a_base_exception_from_the_app_is_a_500_and_the_server_goes_on(faulty, path: str) -> None:
    """SystemExit, KeyboardInterrupt, CancelledError or any BaseException of the app's, raised in its first
    step or after it suspended: a 500 for that request, as uvicorn gives, never the worker's end, and its
    traceback in the log, as uvicorn logs it."""
    said = "Exception in ASGI application"
    before = faulty.output.count(said)
    r = httpx.get(faulty.url + path)
    assert (r.status_code, r.text) == (500, "Internal Server Error")
    assert httpx.get(faulty.url + "/").text == "ok"  # the same worker, still serving
    assert faulty.proc.poll() is None
    deadline = time.monotonic() + 5
    while faulty.output.count(said) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert faulty.output.count(said) == before + 1


def test_an_app_that_raises_when_called_is_a_500() -> None:
    with serve("raw:sync_raises", "--interface", "asgi3") as sp:
        r = httpx.get(sp.url)
        assert r.status_code == 500
        assert sp.wait_for("raised by the call itself")
        assert httpx.get(sp.url).status_code == 500  # and the next request is served the same way


@pytest.mark.parametrize(("status", "upgrade"), [(199, False), (100, False), (103, False), (101, True)])
def test_a_1xx_status_as_the_response_is_refused(faulty, status: int, upgrade: bool) -> None:
    """1xx is interim (RFC 9110 15.2): the app's error gets its 500 and the connection ends, instead of
    a 1xx head with nothing after it and a connection left hanging."""
    extra = b"Connection: upgrade\r\nUpgrade: h2c\r\n" if upgrade else b""
    s = connect(faulty.port)
    s.sendall(b"GET /status-%d HTTP/1.1\r\nHost: x\r\n%s\r\n" % (status, extra))
    status_seen, headers, body, _ = read_response(s)
    assert (status_seen, body) == (500, b"Internal Server Error")
    assert closed_by_peer(s, timeout=5)
    assert faulty.wait_for(f"http.response.start needs a final status, 200 to 599, not {status}")


def test_more_body_than_the_content_length_is_named_in_the_log(faulty) -> None:
    s = connect(faulty.port)
    s.sendall(b"GET /too-long HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed_by_peer(s, timeout=5)
    assert faulty.wait_for("Response content longer than Content-Length")


@pytest.mark.parametrize("path", ["/too-short", "/too-short-two", "/too-short-file"])
def test_less_body_than_the_content_length_is_named_in_the_log(faulty, path: str) -> None:
    """The client gets the bytes there are and then the close, the only end it can see; the app's send()
    raises, as uvicorn's does, so its log says why the client got a cut body."""
    said = "RuntimeError: Response content shorter than Content-Length"
    before = faulty.output.count(said)
    s = connect(faulty.port)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    got = b""
    s.settimeout(5)
    while chunk := s.recv(65536):
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 10" in head.lower()
    assert body == b"short"
    assert faulty.wait_for(f'"GET {path} HTTP/1.1" 200')
    deadline = time.monotonic() + 5
    while faulty.output.count(said) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert faulty.output.count(said) == before + 1
    assert httpx.get(faulty.url + "/").text == "ok"


def test_what_an_app_writes_into_its_extensions_stays_its_own(faulty) -> None:
    first = httpx.get(faulty.url + "/extensions").text.split(",")
    second = httpx.get(faulty.url + "/extensions").text.split(",")
    assert "http.response.pathsend" in first and first == second
    assert "x-mine" not in second


def _heard(sp) -> str:
    """What the listeners app's receive() calls got, once they have got it (or "" after 5 s)."""
    deadline = time.monotonic() + 5
    heard = ""
    while time.monotonic() < deadline and not heard:
        heard = httpx.get(sp.url + "/heard").text
        time.sleep(0.05)
    return heard


def test_every_receive_call_waiting_hears_the_end_of_the_response() -> None:
    """A disconnect listener beside the handler's own receive(): all of them return, not just the last
    one made; cancelling one leaves the others waiting."""
    with serve("raw:listeners") as sp:
        assert httpx.get(sp.url + "/together").text == "sent"
        assert _heard(sp) == "a:http.disconnect,b:http.disconnect"


def test_receive_after_the_response_is_a_disconnect_even_with_the_body_unread() -> None:
    """ASGI: http.disconnect once a response has been sent, whatever of the body was left unread."""
    with serve("raw:listeners") as sp:
        s = connect(sp.port)
        s.sendall(b"POST /after HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"b" * 1000)
        status, _, body, _ = read_response(s)
        assert (status, body) == (200, b"sent")
        assert _heard(sp) == "after:http.disconnect"
        s.close()


def test_a_client_leaving_a_starlette_stream_is_no_error_in_the_log() -> None:
    """send() raises OSError once the client is gone (spec 2.4) and Starlette lets it out as
    ClientDisconnect: the client's doing, so no "Exception in ASGI application" with a traceback."""
    with serve("starlette_app:app") as sp:
        s = connect(sp.port)
        s.sendall(b"GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"tick 3" in _read_until(s, b"tick 3")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # a reset: the next send fails at once
        time.sleep(0.5)
        assert httpx.get(sp.url + "/state").status_code == 200
        assert sp.wait_for('"GET /state HTTP/1.1" 200')
        assert "Exception in ASGI application" not in sp.output
        assert "Traceback" not in sp.output


def _read_until(s: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_request_with_a_fragment_is_refused(faulty) -> None:
    """'#' never belongs to a request-target (RFC 9112 3.2): 400, and the next client is served."""
    status, _, _, s = exchange(faulty.port, b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400
    s.close()
    assert httpx.get(faulty.url + "/a").text == "ok"


def test_a_fault_of_the_server_ends_its_own_request_and_not_the_others_in_its_batch() -> None:
    """Requests that arrive together are handled as one batch. A fault of the server's own code while handling
    one of them (planted by the app module, see apps/server_fault.py) gets that request a 500, logged with
    its traceback, and the requests after it in the batch are answered as usual."""
    with serve("server_fault:app") as sp:
        blocker = connect(sp.port)
        blocker.sendall(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)  # the worker is now inside /block: what comes next waits for it, and comes together
        faulty, fine = connect(sp.port), connect(sp.port)
        faulty.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\nx-plant-fault: 1\r\nContent-Length: 1\r\n\r\na")
        time.sleep(0.05)
        fine.sendall(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nb")
        assert read_response(blocker)[2] == b"got "
        status, _, body, _ = read_response(faulty)
        assert (status, body) == (500, b"Internal Server Error")
        assert closed_by_peer(faulty, timeout=5)
        status, _, body, _ = read_response(fine)
        assert (status, body) == (200, b"got b")
        assert sp.wait_for("Exception in the server while handling a request")
        assert "RuntimeError: planted fault" in sp.output
        assert httpx.get(sp.url).text == "got "  # the worker goes on
