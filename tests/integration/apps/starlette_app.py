"""A Starlette app with StaticFiles and lifespan state."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = os.path.join(os.path.dirname(__file__), "static")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield {"db": "connected", "counter": [0]}


async def state(request: Request) -> JSONResponse:
    request.state.counter[0] += 1
    return JSONResponse({"db": request.state.db, "count": request.state.counter[0]})


app = Starlette(
    routes=[Route("/state", state), Mount("/static", StaticFiles(directory=STATIC), name="static")],
    lifespan=lifespan,
)
