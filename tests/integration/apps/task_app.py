"""Apps that need their task from their first line on: asyncio.current_task(), asyncio.timeout(), task
groups and anyio (which Starlette's BaseHTTPMiddleware and its thread pool use) all look for it."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


async def probe(scope: Any, receive: Any, send: Any) -> None:
    """What an app sees of its task: in its first step, and after it has suspended (the same task)."""
    if scope["type"] != "http":
        return
    first = asyncio.current_task()
    seen_by_anyio = anyio.get_current_task().id == id(first)
    async with asyncio.timeout(5), asyncio.TaskGroup() as group:
        group.create_task(asyncio.sleep(0))
    later = asyncio.current_task()
    body = f"task={first is not None} anyio={seen_by_anyio} same={later is first}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def stamp(request: Request, call_next: RequestResponseEndpoint) -> Response:
    response = await call_next(request)
    response.headers["x-through"] = "middleware"
    return response


def in_a_thread(request: Request) -> PlainTextResponse:
    """A plain def endpoint: Starlette runs it in anyio's thread pool."""
    return PlainTextResponse("from a thread")


app = Starlette(
    routes=[Route("/sync", in_a_thread)], middleware=[Middleware(BaseHTTPMiddleware, dispatch=stamp)]
)
