"""The ASGI lifespan protocol: startup before the first request, shutdown after the last.

--lifespan on: the app must speak it; a failure stops the worker. auto: an app that raises before it
answers startup does not speak it, and the server goes on without. off: never run.
`state` is the dict each request scope gets a shallow copy of.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uringasgi.logs import error_logger

Message = dict[str, Any]


class LifespanFailed(RuntimeError):
    pass


class Lifespan:
    def __init__(self, app: Any, mode: str, asgi_version: str = "3.0") -> None:
        self.app = app
        self.mode = mode
        self.asgi_version = asgi_version
        self.state: dict[str, Any] = {}
        self.unsupported = mode == "off"
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.startup_done = asyncio.Event()
        self.shutdown_done = asyncio.Event()
        self.failure: str | None = None
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        if self.unsupported:
            return
        error_logger.info("Waiting for application startup.")
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.inbox.put({"type": "lifespan.startup"})
        await self.startup_done.wait()
        if self.failure is not None:
            raise LifespanFailed(self.failure)
        if not self.unsupported:
            error_logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        if self.unsupported or self.task is None or self.task.done():
            return
        error_logger.info("Waiting for application shutdown.")
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.shutdown_done.wait()
        if self.failure is not None:
            error_logger.error(self.failure)
        else:
            error_logger.info("Application shutdown complete.")

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": self.asgi_version, "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self.receive, self.send)
        except BaseException as exc:
            if self.mode == "auto" and not self.startup_done.is_set():
                error_logger.info("ASGI 'lifespan' protocol appears unsupported.")
                self.unsupported = True
            else:
                error_logger.error("Exception in 'lifespan' protocol", exc_info=exc)
                self.failure = self.failure or f"lifespan failed: {exc!r}"
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
        finally:
            if self.mode == "on" and not self.startup_done.is_set() and self.failure is None:
                self.failure = "the application returned from lifespan without completing startup"
            self.startup_done.set()
            self.shutdown_done.set()

    async def receive(self) -> Message:
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self.startup_done.set()
        elif kind == "lifespan.startup.failed":
            self.failure = message.get("message") or "application startup failed"
            self.startup_done.set()
        elif kind == "lifespan.shutdown.complete":
            self.shutdown_done.set()
        elif kind == "lifespan.shutdown.failed":
            self.failure = message.get("message") or "application shutdown failed"
            self.shutdown_done.set()
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message '{kind}'.")
