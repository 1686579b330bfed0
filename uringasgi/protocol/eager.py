"""Step a coroutine eagerly; make a task only if it suspends (what 3.12's eager task factory does).

Most requests never suspend: the app answers from data it already has. Stepping the coroutine at once,
inside a copied context as a task's first step would be, saves the task and a loop iteration for those.
If it does suspend, `Resumed` hands it to a real task without stepping it again: the task's first step
gets the future the coroutine is already waiting on, waits for it like any other, and only then resumes
the coroutine. So it is never resumed before that future is done, and cancel() reaches it as in a task.

The first step itself is `_core.asgi.step` (protocol/asgi.c): copy the context, enter it, PyIter_Send, leave
it. In C, a coroutine that finishes hands back its value without the StopIteration that `coro.send` raises
and this module would catch: that exception was most of the cost of the step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from uringasgi import _core
from uringasgi._core import lib

if lib.ua_asgi_init() < 0:
    raise ImportError("uringasgi._core: the C-API functions of protocol/asgi.c could not be set up")
# step(coro) -> None | (yielded, context): the first step that Cycle.run (asgi.c) takes for every request,
# bound on its own so that it and carry_on can be tested together without a server (tests/unit/test_eager.py).
step: Callable[[Coroutine[Any, Any, Any]], tuple[Any, Any] | None] = _core.asgi.step

Done = Callable[[BaseException | None], None]


class AppExit(Exception):
    """The app raised SystemExit or KeyboardInterrupt (its cause) after its first step. A task lets those two
    out of the event loop; in an app they are its error, which gets a 500 as any other, as with uvicorn."""


def _guarded(step: Callable[..., Any], *args: Any) -> Any:
    try:
        return step(*args)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise AppExit(repr(exc)) from exc


class Resumed(Coroutine[Any, Any, Any]):
    __slots__ = ("_coro", "_first", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first
        self._pending = True

    def send(self, value: Any) -> Any:
        if self._pending:
            self._pending = False
            first, self._first = self._first, None
            return first
        return _guarded(self._coro.send, value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        # A cancel() before the first step lands here: the coroutine gets it where it waits.
        self._pending = False
        self._first = None
        if val is None and tb is None:
            return _guarded(self._coro.throw, typ)
        return _guarded(self._coro.throw, typ, val, tb)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        raise TypeError("Resumed is stepped by a task, never awaited")


def carry_on(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], suspended: tuple[Any, Any], done: Done
) -> asyncio.Task[Any]:
    """The task that carries on a coroutine `step` left suspended; `done(exc)` when it finishes."""
    yielded, ctx = suspended
    task = loop.create_task(Resumed(coro, yielded), context=ctx)

    def finished(t: asyncio.Task[Any]) -> None:
        done(t.exception() if not t.cancelled() else asyncio.CancelledError())

    task.add_done_callback(finished)
    return task
