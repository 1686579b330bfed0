"""Starlette FileResponse of a 50 KiB file. Servers that advertise `http.response.pathsend` get the path;
the others get the file read and sent in chunks by Starlette."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

FILE = os.path.join(os.environ["BENCH_WWW"], "50k.bin")


async def file(_request: object) -> FileResponse:
    return FileResponse(FILE)


app = Starlette(routes=[Route("/file", file)])
