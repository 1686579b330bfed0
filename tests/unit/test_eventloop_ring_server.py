"""The engine serving HTTP while asyncio runs on the same thread, under each loop the server can get.

The ring listens on a real socket; its request events reach one batch handler, which answers them with
``ua_conn_respond``; an httpx client on the very same loop fetches from it. Natively (the loop's wait is that
ring, so the client's own socket is a poll on it too) and through ``RingAttachment`` on the stock asyncio loop
and on uvloop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from uringasgi.loop import RingAttachment, RingDriver, UringEventLoop, drive_ring, loop_factory
from uringasgi.loop import ring as R

LIMIT = 30.0


def _loops() -> list[Any]:
    out: list[Any] = [
        pytest.param(lambda ring: UringEventLoop(ring), False, id="uring-native"),
        pytest.param(lambda ring: loop_factory("asyncio")(), True, id="asyncio-attached"),
    ]
    try:
        uv = loop_factory("uvloop")
        out.append(pytest.param(lambda ring: uv(), True, id="uvloop-attached"))
    except ImportError:
        out.append(pytest.param(None, True, id="uvloop-attached", marks=pytest.mark.skip(reason="no uvloop")))
    return out


@pytest.mark.parametrize(("make_loop", "expect_attached"), _loops())
def test_engine_requests_reach_the_handler_and_httpx_reads_the_answers(
    make_loop: Callable[[R.Ring], asyncio.AbstractEventLoop], expect_attached: bool
) -> None:
    ring = R.Ring(cap=256)  # made in the thread that runs the loop: the engine's ring is single-issuer
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[tuple[bytes, bytes]] = []
    batches = 0

    async def main() -> tuple[list[tuple[int, str]], list[str], int, bool]:
        nonlocal batches
        loop = asyncio.get_running_loop()
        driver: RingDriver | None = None

        def on_events(events: Any, n: int) -> None:
            nonlocal batches
            batches += 1
            for i in range(n):
                ev = events[i]
                if ev.type == R.EV_REQUEST:
                    req = R.decode_request(ev)
                    seen.append((req.method, req.path))
                    ring.respond(ev.conn, 200, [(b"content-type", b"text/plain")], b"hello " + req.path)
            assert driver is not None
            driver.kick()  # under a stock loop the answers leave with the next zero-timeout run

        ring.listen(listener.fileno())
        driver = drive_ring(loop, ring, on_events)
        attached = isinstance(driver, RingAttachment)
        try:
            async with httpx.AsyncClient(timeout=LIMIT) as client:
                url = f"http://127.0.0.1:{port}"
                first = [await client.get(url + p) for p in ("/a", "/b")]
                many = await asyncio.gather(*(client.get(f"{url}/n{i}") for i in range(20)))
            # The client closed its connections: the engine notices and frees every slot.
            for _ in range(200):
                if ring.stats()["conns_open"] == 0:
                    break
                await asyncio.sleep(0.05)
            return (
                [(r.status_code, r.text) for r in first],
                sorted(r.text for r in many),
                ring.stats()["conns_open"],
                attached,
            )
        finally:
            ring.unlisten(listener.fileno())
            driver.close()

    try:
        with asyncio.Runner(loop_factory=lambda: make_loop(ring)) as runner:
            first, many, conns_open, attached = runner.run(asyncio.wait_for(main(), LIMIT))
    finally:
        ring.close()
        listener.close()
    assert first == [(200, "hello /a"), (200, "hello /b")]
    assert many == sorted(f"hello /n{i}" for i in range(20))
    assert sorted(seen) == sorted(
        [(b"GET", b"/a"), (b"GET", b"/b")] + [(b"GET", f"/n{i}".encode()) for i in range(20)]
    )
    assert conns_open == 0
    assert batches >= 1
    # The native loop runs the ring itself; the stock loops get it through a reader on ua_ring_fd().
    assert attached == expect_attached
