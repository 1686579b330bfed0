"""The ring driven by a stock loop (``--loop asyncio`` and ``--loop uvloop``): its fd is one reader there.

The engine's own events come from a ring that nothing else touches: a wake from another thread
(UA_EV_WAKE) and a poll on a socket pair (UA_EV_POLL), each of which must reach the handler through the
stock loop's reader, in one batch call.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from uringasgi._core import lib

from uringasgi.loop import (
    LOOP_RING_CONFIG,
    RingAttachment,
    UringEventLoop,
    drive_ring,
    loop_factory,
    new_event_loop,
    new_ring,
)

LIMIT = 30.0
POLLIN = 0x001


def _factories() -> list[Any]:
    out: list[Any] = [pytest.param(loop_factory("asyncio"), id="asyncio")]
    try:
        out.append(pytest.param(loop_factory("uvloop"), id="uvloop"))
    except ImportError:
        out.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip(reason="uvloop is not installed")))
    # A UringEventLoop driving a second ring takes the same path as a stock loop.
    out.append(pytest.param(new_event_loop, id="uring-other-ring"))
    return out


@pytest.fixture
def ring() -> Iterator[Any]:
    r = new_ring(**LOOP_RING_CONFIG)
    yield r
    lib.ua_ring_free(r)


@pytest.mark.parametrize("factory", _factories())
def test_wake_from_a_thread_reaches_the_handler(
    factory: Callable[[], asyncio.AbstractEventLoop], ring: Any
) -> None:
    async def main() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        batches: list[list[int]] = []
        got = loop.create_future()

        def on_events(events: Any, n: int) -> None:
            batches.append([events[i].type for i in range(n)])
            if not got.done():
                got.set_result(None)

        driver = drive_ring(loop, ring, on_events)
        assert isinstance(driver, RingAttachment)
        threading.Thread(target=lib.ua_ring_wake, args=(ring,)).start()
        await asyncio.wait_for(got, LIMIT)
        driver.close()
        return batches

    with asyncio.Runner(loop_factory=factory) as runner:
        batches = runner.run(main())
    assert batches[0] == [lib.UA_EV_WAKE]


@pytest.mark.parametrize("factory", _factories())
def test_poll_event_is_delivered_after_a_kick(
    factory: Callable[[], asyncio.AbstractEventLoop], ring: Any
) -> None:
    """ua_ring_poll only queues the request: kick() is what submits it under a stock loop."""

    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        got: asyncio.Future[tuple[int, int]] = loop.create_future()

        def on_events(events: Any, n: int) -> None:
            for i in range(n):
                ev = events[i]
                if ev.type == lib.UA_EV_POLL and not got.done():
                    got.set_result((ev.conn, ev.res))

        driver = drive_ring(loop, ring, on_events)
        try:
            assert lib.ua_ring_poll(ring, a.fileno(), POLLIN) == 0
            driver.kick()
            b.send(b"x")
            fd, revents = await asyncio.wait_for(got, LIMIT)
            assert fd == a.fileno()
            assert lib.ua_ring_poll(ring, a.fileno(), 0) == 0
            driver.kick()
            await asyncio.sleep(0.01)
            return fd, revents
        finally:
            driver.close()
            a.close()
            b.close()

    with asyncio.Runner(loop_factory=factory) as runner:
        _, revents = runner.run(main())
    assert revents & POLLIN


def test_drive_ring_on_the_loops_own_ring_is_native() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, UringEventLoop)
        driver = drive_ring(loop, loop.ring, lambda events, n: None)
        driver.kick()  # the loop runs its ring every iteration: nothing to do
        driver.close()
        return not isinstance(driver, RingAttachment)

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        assert runner.run(main())
