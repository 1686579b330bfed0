"""A streaming response: 100 body chunks of 64 bytes, no content-length, so chunked on HTTP/1.1."""

from __future__ import annotations

from typing import Any

from _lifespan import lifespan

CHUNKS = 100
CHUNK = b"x" * 63 + b"\n"
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
MORE = {"type": "http.response.body", "body": CHUNK, "more_body": True}
LAST = {"type": "http.response.body", "body": CHUNK, "more_body": False}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    await send(START)
    for _ in range(CHUNKS - 1):
        await send(MORE)
    await send(LAST)
