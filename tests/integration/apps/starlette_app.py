"""A Starlette app with StaticFiles and lifespan state."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = os.path.join(os.path.dirname(__file__), "static")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield {"db": "connected", "counter": [0]}


async def state(request: Request) -> JSONResponse:
    request.state.counter[0] += 1
    return JSONResponse({"db": request.state.db, "count": request.state.counter[0]})


async def ticks(request: Request) -> StreamingResponse:
    """A line every 20 ms for a minute: a client that leaves mid-stream."""

    async def lines() -> AsyncIterator[bytes]:
        for i in range(3000):
            yield b"tick %d\n" % i
            await asyncio.sleep(0.02)

    return StreamingResponse(lines(), media_type="text/plain")


app = Starlette(
    routes=[
        Route("/state", state),
        Route("/ticks", ticks),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ],
    lifespan=lifespan,
)
