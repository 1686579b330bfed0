"""Apps that use each ASGI extension the server advertises."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

DATA = os.path.join(tempfile.gettempdir(), f"uringasgi-ext-{os.getpid()}.bin")
with open(DATA, "wb") as f:
    f.write(bytes(range(256)) * 200)  # 51,200 bytes


async def starlette_file(request: Any) -> FileResponse:
    return FileResponse(DATA)


starlette_app = Starlette(routes=[Route("/file", starlette_file)])


async def raw(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    ext = scope["extensions"]
    if path == "/extensions":
        body = ",".join(sorted(ext)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    elif path == "/pathsend":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-test")],
            }
        )
        await send({"type": "http.response.pathsend", "path": DATA})
    elif path == "/zerocopy":
        with open(DATA, "rb") as f:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send(
                {
                    "type": "http.response.zerocopysend",
                    "file": f,
                    "offset": 256,
                    "count": 1024,
                    "more_body": True,
                }
            )
            await send({"type": "http.response.body", "body": b"|tail"})
    elif path == "/trailers":
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"part one,", "more_body": True})
        await send({"type": "http.response.body", "body": b"part two"})
        await send(
            {
                "type": "http.response.trailers",
                "headers": [(b"x-checksum", b"abc123")],
                "more_trailers": False,
            }
        )
    elif path == "/early":
        await send({"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload; as=style"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"after hints"})
