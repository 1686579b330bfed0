"""The scope built in C (protocol/asgi.c) and the response headers C takes as given, seen by real clients.

Each test sends exact bytes over a real socket to a real server process and checks what the app saw (as
JSON) or what came back on the wire.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from rawhttp import connect, read_response
from serverproc import serve


@pytest.fixture(scope="module")
def scope_server():
    with serve("scope_c:app_with_state", "--factory", "--root-path", "/root") as sp:
        yield sp


@pytest.fixture(scope="module")
def headers_server():
    with serve("scope_c:response_headers") as sp:
        yield sp


def get_scope(port: int, request: bytes) -> tuple[dict[str, Any], int]:
    """(the scope the app saw, the client's own port)."""
    s = connect(port)
    try:
        s.sendall(request)
        status, _, body, _ = read_response(s)
        assert status == 200, body
        return json.loads(body), s.getsockname()[1]
    finally:
        s.close()


def test_every_field_of_an_http11_scope(scope_server) -> None:
    scope, client_port = get_scope(
        scope_server.port, b"GET /caf%C3%A9/x%2Fy?q=%20&r=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
    )
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == "/root"
    assert scope["path"] == "/root/café/x/y"
    assert scope["raw_path"] == "/root/caf%C3%A9/x%2Fy"
    assert scope["query_string"] == "q=%20&r=1"
    assert scope["headers"] == [["host", "example.com"]]
    assert scope["client"] == ["127.0.0.1", client_port]
    assert scope["server"] == ["127.0.0.1", scope_server.port]
    assert scope["extensions"] == sorted(
        [
            "http.response.pathsend",
            "http.response.zerocopysend",
            "http.response.trailers",
            "http.response.early_hint",
        ]
    )
    assert scope["types"] == {
        "type": "str",
        "asgi": "dict",
        "http_version": "str",
        "server": "tuple",
        "client": "tuple",
        "scheme": "str",
        "method": "str",
        "root_path": "str",
        "path": "str",
        "raw_path": "bytes",
        "query_string": "bytes",
        "headers": "list",
        "state": "dict",
        "extensions": "dict",
    }
    assert scope["header_types"] == ["bytes,bytes"]


def test_each_connection_has_its_own_client_address(scope_server) -> None:
    """Requests of one keep-alive connection share its client tuple; every connection gets its own port."""
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    socks = [connect(scope_server.port) for _ in range(40)]
    try:
        for _ in range(2):
            for s in socks:
                s.sendall(request)
                status, _, body, _ = read_response(s)
                assert status == 200, body
                assert json.loads(body)["client"] == ["127.0.0.1", s.getsockname()[1]]
    finally:
        for s in socks:
            s.close()


def test_state_and_asgi_are_copies_per_request(scope_server) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    first, _ = get_scope(scope_server.port, request)
    second, _ = get_scope(scope_server.port, request)
    # Each request wrote into its state and asgi dicts; neither write reached the lifespan state or the
    # next request.
    assert first["state_seen"] == second["state_seen"] == ["from_lifespan"]
    assert second["asgi"] == {"version": "3.0", "spec_version": "2.4"}


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/plain/path", "/plain/path"),
        (b"/a%20b", "/a b"),
        (b"/caf%c3%a9", "/café"),  # lowercase hex
        (b"/%E2%82%AC%F0%9F%98%80", "/€😀"),
        (b"/bad%E9", "/bad\ufffd"),  # not UTF-8: U+FFFD, as urllib.parse.unquote gives
        (b"/cut%C3", "/cut\ufffd"),
        (b"/not%zzhex", "/not%zzhex"),  # not an escape: kept as it is
        (b"/end%", "/end%"),
        (b"/end%4", "/end%4"),
        (b"/nul%00byte", "/nul\x00byte"),
        (b"/" + b"%41" * 2000, "/" + "A" * 2000),  # longer than the decoder's stack buffer
    ],
)
def test_path_is_percent_decoded_as_utf8(scope_server, target: bytes, path: str) -> None:
    scope, _ = get_scope(scope_server.port, b"GET " + target + b"?k=v HTTP/1.1\r\nHost: x\r\n\r\n")
    assert scope["path"] == "/root" + path
    assert scope["raw_path"] == "/root" + target.decode()
    assert scope["query_string"] == "k=v"


def test_raw_non_ascii_in_the_target_is_refused_before_the_app(scope_server) -> None:
    s = connect(scope_server.port)
    s.sendall("GET /café HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _, _, _ = read_response(s)
    assert status == 400
    s.close()


def test_http10_and_methods(scope_server) -> None:
    scope, _ = get_scope(scope_server.port, b"GET /x HTTP/1.0\r\n\r\n")
    assert scope["http_version"] == "1.0"
    assert scope["headers"] == []
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE", "M-SEARCH"):
        scope, _ = get_scope(
            scope_server.port, method.encode() + b" /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        )
        assert scope["method"] == method


def test_headers_in_order_with_duplicates_and_any_bytes(scope_server) -> None:
    sent = [
        ("Host", "x"),
        ("User-Agent", "test"),
        ("X-Custom-Thing", "1"),
        ("Accept", "*/*"),
        ("X-Custom-Thing", "2"),
        ("Cookie", "a=1"),
        ("Cookie", "b=2"),
        ("X-Obs-Text", "caf\xe9"),  # obs-text (RFC 9110 5.5): bytes 0x80-0xFF pass as they are
        ("Content-Type", "text/plain"),
        ("Content-Length", "0"),
    ]
    request = b"POST / HTTP/1.1\r\n" + b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in sent) + b"\r\n"
    scope, _ = get_scope(scope_server.port, request)
    assert scope["headers"] == [[n.lower(), v] for n, v in sent]


def test_the_most_headers_a_request_may_have(scope_server) -> None:
    # 64 is the largest --limit-header-count (the default): every one arrives, in order.
    sent = [(f"X-Header-{i:02d}", f"value {i}:" + "v" * i) for i in range(63)] + [("Host", "x")]
    request = b"GET / HTTP/1.1\r\n" + b"".join(f"{n}: {v}\r\n".encode() for n, v in sent) + b"\r\n"
    scope, _ = get_scope(scope_server.port, request)
    assert scope["headers"] == [[n.lower(), v] for n, v in sent]
    s = connect(scope_server.port)
    s.sendall(request.replace(b"Host: x\r\n", b"Host: x\r\nX-One-Too-Many: 1\r\n"))
    assert read_response(s)[0] == 431
    s.close()


def test_proxy_headers_only_from_a_header_name() -> None:
    with serve("scope_c:scope_json") as sp:
        # "forwarded" in a value, and a look-alike name: neither is a proxy header.
        scope, port = get_scope(
            sp.port,
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Note: forwarded for=1.2.3.4\r\nX-Forwarded-Host: h\r\n\r\n",
        )
        assert scope["client"] == ["127.0.0.1", port]
        assert scope["scheme"] == "http"
        scope, _ = get_scope(sp.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.9\r\n\r\n")
        assert scope["client"][0] == "192.0.2.9"


def test_client_and_server_over_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no ::1 here")
    with serve("scope_c:scope_json", "--host", "::1", ready=False) as sp:
        assert sp.wait_for("running on", 30)
        m = re.search(r"running on http://\[::1\]:(\d+)", sp.output)
        assert m, sp.output
        port = int(m.group(1))
        s = socket.create_connection(("::1", port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body, _ = read_response(s)
        assert status == 200
        scope = json.loads(body)
        assert scope["client"] == ["::1", s.getsockname()[1]]
        assert scope["server"] == ["::1", port]
        s.close()


def test_client_and_server_over_a_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with serve("scope_c:scope_json", "--uds", path, ready=False) as sp:
        deadline = time.monotonic() + 30
        while "running on" not in sp.output and time.monotonic() < deadline:
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        s.sendall(b"GET /u HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body, _ = read_response(s)
        assert status == 200
        scope = json.loads(body)
        assert scope["client"] is None
        assert scope["server"] == [path, None]  # the ASGI spec's [path, None] for a Unix socket
        assert scope["path"] == "/u"
        s.close()


def test_many_response_headers_arrive_in_order(headers_server) -> None:
    s = connect(headers_server.port)
    s.sendall(b"GET /?many HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body, _ = read_response(s)
    assert (status, body) == (200, b"done")
    got = [(k, v) for k, v in headers.items() if k.startswith("x-h")]
    assert got == [(f"x-h{i:03d}", "v" * 40 + str(i)) for i in range(300)]
    s.close()


def test_response_headers_as_bytes_like_objects_and_duplicates(headers_server) -> None:
    s = connect(headers_server.port)
    s.sendall(b"GET /?buffers HTTP/1.1\r\nHost: x\r\n\r\nGET /?plain HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body, buf = read_response(s)
    assert (status, headers["x-bytearray"], headers["x-list-pair"], body) == (200, "yes", "ok", b"done")
    s.settimeout(10)
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head = bytes(buf).partition(b"\r\n\r\n")[0]
    assert b"\r\nx-dup: a\r\nx-dup: b\r\n" in head
    s.close()


@pytest.mark.parametrize("kind", ["str", "triple", "newline"])
def test_bad_response_headers_give_a_500_and_no_injection(headers_server, kind: str) -> None:
    s = connect(headers_server.port)
    s.sendall(b"GET /?" + kind.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(10)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    s.close()
    assert b"x-injected" not in data
    assert data.startswith(b"HTTP/1.1 500 "), data
    assert headers_server.wait_for("Exception in ASGI application")
