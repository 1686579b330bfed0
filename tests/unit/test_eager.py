"""An app's task, its first step taken as it is made: results, exceptions, the task itself, cancellation,
context; on the uring loop, asyncio's and uvloop's, the step taken at once."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from uringasgi.loop.eventloop import UringEventLoop
from uringasgi.protocol.eager import TASK_NAME, AppExit, start

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uring": UringEventLoop,
    "asyncio": asyncio.SelectorEventLoop,
    "uvloop": uvloop.new_event_loop,
}


def drive(
    make_loop: Callable[[], asyncio.AbstractEventLoop], app: Any
) -> tuple[asyncio.Task[Any], list[str]]:
    """Start app(trace) as the server does, from a loop callback outside any task; run the loop until the
    task is done. Returns the task and the trace, where "started" marks the moment start() returned."""
    loop = make_loop()
    trace: list[str] = []
    made: asyncio.Future[asyncio.Task[Any]] = loop.create_future()

    def callback() -> None:
        task = start(loop, lambda *_: app(trace), {}, None, None)
        trace.append("started")
        loop.call_soon(made.set_result, task)  # the loop's call_soon still queues everything else

    async def main() -> asyncio.Task[Any]:
        loop.call_soon(callback)
        task = await made
        await asyncio.wait([task])
        return task

    try:
        return loop.run_until_complete(main()), trace
    finally:
        loop.close()


@pytest.fixture(params=sorted(LOOPS))
def make_loop(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    return LOOPS[request.param]


def test_the_app_runs_in_its_task_from_its_first_line(make_loop: Any) -> None:
    async def app(trace: list[str]) -> str:
        first = asyncio.current_task()
        async with asyncio.timeout(5):  # needs the current task
            await asyncio.sleep(0)
        trace.append(f"same={asyncio.current_task() is first}")
        return "result"

    task, trace = drive(make_loop, app)
    assert task.result() == "result" and task.get_name() == TASK_NAME
    assert trace[-1] == "same=True"


@pytest.mark.parametrize("make", [UringEventLoop, asyncio.SelectorEventLoop, uvloop.new_event_loop])
def test_an_app_that_does_not_wait_finishes_before_start_returns(make: Any) -> None:
    async def app(trace: list[str]) -> None:
        trace.append("ran")

    task, trace = drive(make, app)
    assert trace == ["ran", "started"]
    assert task.done() and task.exception() is None


def test_suspension_continues_and_gets_the_awaited_result(make_loop: Any) -> None:
    async def app(trace: list[str]) -> None:
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, fut.set_result, 42)
        trace.append("before")
        trace.append(f"after {await fut}")

    _, trace = drive(make_loop, app)
    assert [t for t in trace if t != "started"] == ["before", "after 42"]


@pytest.mark.parametrize("later", [False, True])
def test_an_exception_is_the_tasks(make_loop: Any, later: bool) -> None:
    async def app(trace: list[str]) -> None:
        if later:
            await asyncio.sleep(0.01)
        raise KeyError("boom")

    task, _ = drive(make_loop, app)
    assert isinstance(task.exception(), KeyError)


@pytest.mark.parametrize("later", [False, True])
@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt()])
def test_system_exit_and_keyboard_interrupt_stay_in_the_task(make_loop: Any, later: bool, exc: Any) -> None:
    """A task lets these two out of the loop; an app's are its error (AppExit), and the loop goes on."""

    async def app(trace: list[str]) -> None:
        if later:
            await asyncio.sleep(0.01)
        raise exc

    task, _ = drive(make_loop, app)
    error = task.exception()
    assert isinstance(error, AppExit) and error.__cause__ is exc


def test_cancel_reaches_the_app_where_it_waits(make_loop: Any) -> None:
    async def app(trace: list[str]) -> None:
        asyncio.get_running_loop().call_later(0.01, asyncio.current_task().cancel)  # type: ignore[union-attr]
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            trace.append("cancelled inside")
            raise

    task, trace = drive(make_loop, app)
    assert task.cancelled() and "cancelled inside" in trace


def test_runs_in_a_copied_context(make_loop: Any) -> None:
    async def app(trace: list[str]) -> None:
        var.set("inner")
        await asyncio.sleep(0.001)
        trace.append(var.get())

    var.set("outer")
    _, trace = drive(make_loop, app)
    assert "inner" in trace
    assert var.get() == "outer"  # the app's set() did not leak out
