"""Apps that need their task from their first line on: asyncio.current_task(), asyncio.timeout(), task
groups and anyio (which Starlette's BaseHTTPMiddleware and its thread pool use) all look for it."""

from __future__ import annotations

import asyncio
import contextvars
import decimal
import gc
import json
import os
import weakref
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


# --- what a request's task runs in: its own context, from the server's, held until it ends ----------------

user: contextvars.ContextVar[str | None] = contextvars.ContextVar("user", default=None)
imported: contextvars.ContextVar[str] = contextvars.ContextVar("imported", default="<missing>")
imported.set("at import")  # the server imports the app in its own context, which every request copies
decimal.getcontext().prec = 6  # decimal's context is a context variable too
waiting: weakref.WeakSet[asyncio.Future[bytes]] = weakref.WeakSet()
factory_calls = 0


def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
    global factory_calls
    factory_calls += 1
    return asyncio.Task(coro, loop=loop, **kw)


async def _reply(send: Any, body: bytes, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def contexts(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            if os.environ.get("UA_TEST_FACTORY"):
                asyncio.get_running_loop().set_task_factory(counting_factory)
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/subscribe":  # only a weak reference holds what the task waits on
        fut = asyncio.get_running_loop().create_future()
        waiting.add(fut)
        await _reply(send, await fut)
    elif path == "/publish":
        gc.collect()
        for fut in list(waiting):
            fut.set_result(b"news")
        await _reply(send, b"%d" % len(waiting))
    elif path == "/bad-header":  # the app's error, met when the head goes after the step
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", 5)]})
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"hello"})
    elif path == "/wrap-call-soon":  # as tracing tools do: the wrapper keeps what call_soon returns
        loop = asyncio.get_running_loop()
        handles: weakref.WeakSet[Any] = weakref.WeakSet()
        original = loop.call_soon

        def call_soon(callback: Any, *args: Any, context: Any = None) -> Any:
            handle = original(callback, *args, context=context)
            handles.add(handle)
            return handle

        loop.call_soon = call_soon  # type: ignore[method-assign]
        await _reply(send, b"wrapped")
    elif path == "/factory":
        await _reply(send, f"{factory_calls} {type(asyncio.current_task()).__name__}".encode())
    else:
        seen = user.get()
        user.set(scope["query_string"].decode())
        await asyncio.sleep(0.001)
        out = {
            "seen": seen,
            "mine": user.get(),
            "imported": imported.get(),
            "seventh": str(decimal.Decimal(1) / 7),
        }
        await _reply(send, json.dumps(out).encode())


class PlainCall:
    """An app whose __call__ is a plain function that returns the coroutine (as Quart's is): it is called
    inside the request's task and context too."""

    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        seen = user.get()
        user.set("set by __call__")
        task = asyncio.current_task()
        return self.respond(send, f"seen={seen} task={task is not None}".encode())

    async def respond(self, send: Any, body: bytes) -> None:
        await _reply(send, body)


plain_call = PlainCall()
