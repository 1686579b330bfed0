"""Apps for test_scope_c.py: the scope made in C (protocol/asgi.c), and response headers as C takes them."""

from __future__ import annotations

import json
from typing import Any


def _text(b: bytes) -> str:
    return b.decode("latin-1")


async def scope_json(scope: Any, receive: Any, send: Any) -> None:
    """The whole scope as JSON (bytes as latin-1 text), plus the Python types of its fields."""
    if scope["type"] != "http":
        return
    out = dict(scope)
    out["headers"] = [[_text(n), _text(v)] for n, v in scope["headers"]]
    out["header_types"] = sorted({f"{type(n).__name__},{type(v).__name__}" for n, v in scope["headers"]})
    out["raw_path"] = _text(scope["raw_path"])
    out["query_string"] = _text(scope["query_string"])
    out["extensions"] = sorted(scope["extensions"])
    out["types"] = {k: type(v).__name__ for k, v in scope.items()}
    # The state is a copy per request: what this request writes, the next one must not see.
    out["state_seen"] = sorted(scope["state"])
    body = json.dumps(out).encode()
    scope["state"]["written_by_a_request"] = True
    scope["asgi"]["written_by_a_request"] = True
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


async def response_headers(scope: Any, receive: Any, send: Any) -> None:
    """Response headers in the shapes the query string names."""
    if scope["type"] != "http":
        return
    kind = scope["query_string"].decode()
    headers: Any
    if kind == "many":
        headers = [(b"x-h%03d" % i, b"v" * 40 + b"%d" % i) for i in range(300)]
    elif kind == "buffers":
        headers = ((bytearray(b"x-bytearray"), memoryview(b"yes")), [b"x-list-pair", bytearray(b"ok")])
    elif kind == "str":
        headers = [("x-str", "not bytes")]
    elif kind == "triple":
        headers = [(b"x-a", b"1", b"2")]
    elif kind == "newline":
        headers = [(b"x-a", b"1\r\nx-injected: yes")]
    else:
        headers = [(b"x-plain", b"1"), (b"x-dup", b"a"), (b"x-dup", b"b")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"done"})


def app_with_state() -> Any:
    """scope_json with lifespan state {"from_lifespan": 1}."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    scope["state"]["from_lifespan"] = 1
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await scope_json(scope, receive, send)

    return app
