"""protocol/asgi.c called directly: what it refuses, and a batch with nothing in it.

What it builds is checked through real servers in tests/integration/test_scope_c.py.
"""

from __future__ import annotations

import gc

import pytest

from uringasgi import _core
from uringasgi.protocol import asgi as _asgi  # sets up _core.asgi

assert _asgi.Dispatcher


def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not run: these batches hold no request")


def test_the_c_functions_refuse_wrong_arguments() -> None:
    asgi = _core.asgi
    rest = (_asgi.Cycle, None, 0, {}, 1, False, _app, False, None, None)
    with pytest.raises(TypeError):
        asgi.context([], "http", "", "not bytes", {}, {}, {}, *rest)
    with pytest.raises(TypeError):  # the cycle class must be a subclass of the C Cycle
        asgi.context([], "http", "", b"", {}, {}, {}, dict, *rest[1:])
    with pytest.raises(TypeError):  # the cycle arguments come all ten or none
        asgi.context([], "http", "", b"", {}, {}, {}, _asgi.Cycle)
    with pytest.raises(TypeError):  # the app must be callable
        asgi.context([], "http", "", b"", {}, {}, {}, *rest[:6], "app", *rest[7:])
    with pytest.raises(TypeError):  # look_all is a bool
        asgi.context([], "http", "", b"", {}, {}, {}, *rest[:7], 1, *rest[8:])
    with pytest.raises(TypeError):  # kick is None or callable
        asgi.context([], "http", "", b"", {}, {}, {}, *rest[:8], "kick", None)
    with pytest.raises(TypeError):  # so is on_request_done
        asgi.context([], "http", "", b"", {}, {}, {}, *rest[:9], 0)
    with pytest.raises(TypeError):
        asgi.batch((1, 2), 0, 0)
    ctx = asgi.context([], "http", "", b"", {}, {}, {"version": "3.0"}, *rest)
    assert asgi.batch(ctx, 0, 0) == []
    with pytest.raises(ValueError):
        asgi.respond(0, 1, 200, [], b"", 0)
    with pytest.raises(TypeError):
        asgi.respond(0, 1, 200, [], b"")


def _ctx(root: str = "") -> object:
    return _core.asgi.context(
        [("10.0.0.1", 8000)], "http", root, root.encode(), {"k": 1}, {}, {"version": "3.0"}
    )


def test_head_builds_the_scope_a_server_would() -> None:
    head = (
        b"GET /caf%C3%A9/%ZZ?x=1&y=%20 HTTP/1.1\r\n"
        b"Host: example.org\r\nX-Dup:  a \r\nx-dup: b\r\nACCEPT: */*\r\n\r\n"
    )
    scope = _core.asgi.head(_ctx(), head)
    assert scope["method"] == "GET"
    assert scope["http_version"] == "1.1"
    assert scope["path"] == "/café/%ZZ"  # decoded as UTF-8; a bad escape stays as it is
    assert scope["raw_path"] == b"/caf%C3%A9/%ZZ"
    assert scope["query_string"] == b"x=1&y=%20"
    # wire order, duplicates kept, names lowercased, values without their surrounding whitespace
    assert scope["headers"] == [
        (b"host", b"example.org"),
        (b"x-dup", b"a"),
        (b"x-dup", b"b"),
        (b"accept", b"*/*"),
    ]
    assert scope["server"] == ("10.0.0.1", 8000) and scope["client"] is None
    assert scope["state"] == {"k": 1}


def test_head_with_root_path_http10_and_a_large_head() -> None:
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 80) for i in range(63))
    head = b"POST /api HTTP/1.0\r\nHost: h\r\n" + fields + b"\r\n"
    assert len(head) > 4096  # past the on-stack copy
    scope = _core.asgi.head(_ctx("/root"), head)
    assert scope["http_version"] == "1.0"
    assert scope["method"] == "POST"
    assert scope["path"] == "/root/api" and scope["raw_path"] == b"/root/api"
    assert len(scope["headers"]) == 64
    assert scope["headers"][-1] == (b"x-f62", b"v" * 80)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"A: b\r\n" * 64 + b"\r\n", "431"),
        (b"GET / HTTP/2.1\r\nHost: x\r\n\r\n", "505"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", "400"),  # incomplete
    ],
)
def test_head_refuses_what_a_server_refuses(head: bytes, status: str) -> None:
    with pytest.raises(ValueError, match=f"^{status} "):
        _core.asgi.head(_ctx(), head)


def test_the_scope_is_an_ordinary_dict() -> None:
    """Its fields are written into a copy of a template (asgi.c): it must behave as any dict would."""
    scope = _core.asgi.head(_ctx(), b"GET /a?b HTTP/1.0\r\nHost: h\r\n\r\n")
    assert list(scope) == [
        "type", "asgi", "http_version", "server", "client", "scheme", "method", "root_path",
        "path", "raw_path", "query_string", "headers", "state", "extensions",
    ]  # fmt: skip
    assert (scope["http_version"], scope["path"], scope["query_string"]) == ("1.0", "/a", b"b")
    assert scope == dict(scope.items()) and hash(tuple(scope)) == hash(tuple(dict(scope)))
    assert gc.is_tracked(scope)  # it holds containers (headers, state): cycles through it are collected
    scope["path"] = "/changed"
    del scope["client"]
    scope["new"] = 1
    assert (scope["path"], "client" in scope, scope["new"]) == ("/changed", False, 1)
    again = _core.asgi.head(_ctx(), b"GET /a?b HTTP/1.0\r\nHost: h\r\n\r\n")
    assert again["path"] == "/a" and "client" in again  # the template was not touched
    assert again["state"] is not scope["state"] and again["asgi"] is not scope["asgi"]
