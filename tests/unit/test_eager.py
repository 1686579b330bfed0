"""The eager first step and the hand-over to a task: results, exceptions, cancellation, context."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import Any

import pytest

from uringasgi.protocol.eager import Done, carry_on, step

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")


def run_eagerly(loop: asyncio.AbstractEventLoop, coro: Any, done: Done) -> asyncio.Task[Any] | None:
    """What Cycle.run does with an app's coroutine: the first step, then a task only if it suspended."""
    try:
        suspended = step(coro)
    except Exception as exc:
        done(exc)
        return None
    if suspended is None:
        done(None)
        return None
    return carry_on(loop, coro, suspended, done)


def drive(coro_fn: Any) -> tuple[list[Any], asyncio.Task[Any] | None, list[str]]:
    """Run coro_fn eagerly inside a running loop; returns (done calls, task, trace)."""
    trace: list[str] = []
    calls: list[Any] = []

    async def main() -> asyncio.Task[Any] | None:
        loop = asyncio.get_running_loop()
        task = run_eagerly(loop, coro_fn(trace), calls.append)
        trace.append("returned")
        if task is not None:
            with contextlib.suppress(BaseException):  # the done callback reports it
                await task
            await asyncio.sleep(0)
        return task

    task = asyncio.run(main())
    return calls, task, trace


def test_no_suspension_finishes_in_the_first_step_without_a_task() -> None:
    async def app(trace: list[str]) -> None:
        trace.append("ran")

    calls, task, trace = drive(app)
    assert task is None
    assert calls == [None]
    assert trace == ["ran", "returned"]  # finished before run_eagerly returned


def test_exception_in_first_step_is_reported() -> None:
    async def app(trace: list[str]) -> None:
        raise ValueError("first step")

    calls, task, _ = drive(app)
    assert task is None and isinstance(calls[0], ValueError)


def test_suspension_continues_in_a_task_and_gets_the_awaited_result() -> None:
    async def app(trace: list[str]) -> None:
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, fut.set_result, 42)
        trace.append("before")
        value = await fut
        trace.append(f"after {value}")

    calls, task, trace = drive(app)
    assert task is not None
    assert calls == [None]
    assert trace == ["before", "returned", "after 42"]


def test_never_resumed_before_its_future_is_done() -> None:
    """A sleep(0) (a bare yield) and a real future, in a row, both honoured."""

    async def app(trace: list[str]) -> None:
        await asyncio.sleep(0)
        trace.append("after yield")
        await asyncio.sleep(0.02)
        trace.append("after sleep")

    calls, _, trace = drive(app)
    assert trace == ["returned", "after yield", "after sleep"]
    assert calls == [None]


def test_exception_after_suspension_is_reported() -> None:
    async def app(trace: list[str]) -> None:
        await asyncio.sleep(0.01)
        raise KeyError("later")

    calls, _, _ = drive(app)
    assert isinstance(calls[0], KeyError)


def test_cancel_reaches_the_coroutine_where_it_waits() -> None:
    cleanup: list[str] = []

    async def app(trace: list[str]) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cleanup.append("cancelled inside")
            raise

    async def main() -> list[Any]:
        calls: list[Any] = []
        task = run_eagerly(asyncio.get_running_loop(), app([]), calls.append)
        assert task is not None
        task.cancel()  # before the task's first step
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return calls

    calls = asyncio.run(main())
    assert cleanup == ["cancelled inside"]
    assert isinstance(calls[0], asyncio.CancelledError)


def test_runs_in_a_copied_context() -> None:
    seen: list[str] = []

    async def app(trace: list[str]) -> None:
        var.set("inner")
        await asyncio.sleep(0.001)
        seen.append(var.get())

    async def main() -> None:
        var.set("outer")
        task = run_eagerly(asyncio.get_running_loop(), app([]), lambda exc: None)
        assert var.get() == "outer"  # the app's set() did not leak out
        assert task is not None
        await task

    asyncio.run(main())
    assert seen == ["inner"]
