"""Every app runs in a real task, whose first step is taken at once (what 3.12's eager tasks do).

Most requests never suspend: the app answers from data it already has. Taking the task's first step when
the task is made, instead of from the loop's next iteration, saves that iteration and the loop's handle
for those, and the response leaves in the same batch as its request. The task itself is not saved: an app
needs asyncio.current_task() from its first line (timeouts, task groups, anyio's cancel scopes, sniffio,
Starlette's BaseHTTPMiddleware and its thread pool all look for it), and the task that carries the app on
after it suspends must be that same task.

`_core.asgi` starts the task (protocol/asgi.c, start_task): on 3.12 with Task(eager_start=True); on 3.11 it
takes back the first step that the task's constructor gives loop.call_soon, and runs it at once. A loop
without instance attributes runs that step from its next iteration on 3.11, as create_task does (uvloop's
loop, a Python subclass, has them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from uringasgi import _core
from uringasgi._core import lib

if lib.ua_asgi_init() < 0:
    raise ImportError("uringasgi._core: the C-API functions of protocol/asgi.c could not be set up")

# The name of every app's task: a constant, since "Task-N" would be formatted for every request.
TASK_NAME = "uringasgi-request"


class AppExit(Exception):
    """The app raised SystemExit or KeyboardInterrupt (its cause). A task lets those two out of the event
    loop; in an app they are its error, which gets a 500 as any other, as with uvicorn."""


async def guarded(app: Callable[[Any, Any, Any], Awaitable[Any]], scope: Any, receive: Any, send: Any) -> Any:
    """What an app's task runs: the app, called inside the task (a plain function's __call__ too), with
    its SystemExit and KeyboardInterrupt made an AppExit."""
    try:
        return await app(scope, receive, send)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise AppExit(repr(exc)) from exc


# start(loop, app, scope, receive, send) -> task: what Cycle.run does for a request, bound on its own so
# that it can be tested without a server (tests/unit/test_eager.py). Called from a loop callback, outside
# any task; the task runs in a copy of the caller's context.
App = Callable[[Any, Any, Any], Awaitable[Any]]
start: Callable[[asyncio.AbstractEventLoop, App, Any, Any, Any], asyncio.Task[Any]] = _core.asgi.start
