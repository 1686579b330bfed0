"""The ring core through the bindings: setup fallbacks, waits, wake-ups, third-party fd polls, ring fd.

No network here: pipes and eventfd-backed wake-ups only. Connections are in tests/integration.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
from collections.abc import Iterator

import pytest

from uringasgi.loop import ring as R
from uringasgi.loop.probe import probe

DEFER = R.SETUP_DEFER_TASKRUN | R.SETUP_SINGLE_ISSUER
COOP = R.SETUP_COOP_TASKRUN
VARIANTS = {"defer": 0, "coop": DEFER, "plain": DEFER | COOP}


def events(ring: R.Ring, n: int) -> list[tuple[int, int, int]]:
    return [(ring.events[i].type, ring.events[i].conn, ring.events[i].res) for i in range(n)]


@pytest.fixture(params=list(VARIANTS))
def ring(request: pytest.FixtureRequest) -> Iterator[R.Ring]:
    r = R.Ring(cap=64, setup_flags_mask=VARIANTS[request.param])
    yield r
    r.close()


def test_setup_uses_the_best_flags_the_kernel_takes() -> None:
    info = probe()
    with R.Ring() as r:
        flags = r.stats()["setup_flags"]
        if info.defer_taskrun:
            assert flags & R.SETUP_DEFER_TASKRUN and flags & R.SETUP_SINGLE_ISSUER
    with R.Ring(setup_flags_mask=DEFER) as r:
        flags = r.stats()["setup_flags"]
        assert not flags & R.SETUP_DEFER_TASKRUN
        assert flags & R.SETUP_COOP_TASKRUN
    with R.Ring(setup_flags_mask=DEFER | COOP) as r:
        assert r.stats()["setup_flags"] & (R.SETUP_DEFER_TASKRUN | R.SETUP_COOP_TASKRUN) == 0


def test_run_waits_for_its_timeout_when_nothing_happens(ring: R.Ring) -> None:
    t0 = time.monotonic()
    assert ring.run(0.2) == 0
    assert time.monotonic() - t0 >= 0.19
    assert ring.run(0) == 0


def test_wake_from_another_thread_ends_an_unbounded_wait(ring: R.Ring) -> None:
    t = threading.Thread(target=lambda: (time.sleep(0.1), ring.wake()))
    t.start()
    n = ring.run(None)
    t.join()
    assert events(ring, n) == [(R.EV_WAKE, 0, 0)]


def test_wakes_before_the_loop_looks_are_one_wake_up(ring: R.Ring) -> None:
    for _ in range(3):
        ring.wake()
    assert events(ring, ring.run(5)) == [(R.EV_WAKE, 0, 0)]
    assert ring.run(0.05) == 0


def test_poll_is_level_triggered_and_removable(ring: R.Ring) -> None:
    rfd, wfd = os.pipe()
    try:
        ring.poll(rfd, R.POLLIN)
        assert ring.run(0.05) == 0
        os.write(wfd, b"x")
        got = events(ring, ring.run(5))
        assert got == [(R.EV_POLL, rfd, R.POLLIN)]
        # Not read yet: reported again, as a selector would.
        assert events(ring, ring.run(5)) == [(R.EV_POLL, rfd, R.POLLIN)]
        assert os.read(rfd, 1) == b"x"
        assert ring.run(0.05) == 0
        # Writer side is writable at once; both fds in one batch.
        ring.poll(wfd, R.POLLOUT)
        os.write(wfd, b"y")
        got = sorted(events(ring, ring.run(5)))
        assert got == sorted([(R.EV_POLL, rfd, R.POLLIN), (R.EV_POLL, wfd, R.POLLOUT)])
        ring.poll(rfd, 0)
        ring.poll(wfd, 0)
        assert ring.run(0.05) == 0
        st = ring.stats()
        assert st["polls_armed"] == 0 and st["ops_inflight"] == 0
    finally:
        os.close(rfd)
        os.close(wfd)


def test_poll_mask_change_replaces_the_armed_poll(ring: R.Ring) -> None:
    rfd, wfd = os.pipe()
    try:
        ring.poll(wfd, R.POLLIN)  # a pipe's write end never becomes readable
        assert ring.run(0.05) == 0
        ring.poll(wfd, R.POLLIN | R.POLLOUT)
        assert events(ring, ring.run(5)) == [(R.EV_POLL, wfd, R.POLLOUT)]
        ring.poll(wfd, 0)
        assert ring.run(0.05) == 0
        assert ring.stats()["ops_inflight"] == 0
    finally:
        os.close(rfd)
        os.close(wfd)


def test_hangup_is_reported(ring: R.Ring) -> None:
    rfd, wfd = os.pipe()
    ring.poll(rfd, R.POLLIN)
    os.close(wfd)
    got = events(ring, ring.run(5))
    assert len(got) == 1 and got[0][:2] == (R.EV_POLL, rfd) and got[0][2] & select.POLLHUP
    ring.poll(rfd, 0)
    ring.run(0)
    os.close(rfd)


def test_ring_fd_is_readable_while_completions_are_pending(ring: R.Ring) -> None:
    rfd, wfd = os.pipe()
    try:
        ring.poll(rfd, R.POLLIN)
        ring.submit()
        assert select.select([ring.fd()], [], [], 0.05)[0] == []
        os.write(wfd, b"x")
        assert select.select([ring.fd()], [], [], 5)[0] == [ring.fd()]
        assert events(ring, ring.run(0)) == [(R.EV_POLL, rfd, R.POLLIN)]
        ring.poll(rfd, 0)
        ring.run(0)
    finally:
        os.close(rfd)
        os.close(wfd)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ring_runs_under_a_stock_asyncio_loop(variant: str) -> None:
    """--loop asyncio: the ring's fd is a reader on the stock loop, which calls run(0) when it fires."""

    async def main() -> list[tuple[int, int, int]]:
        loop = asyncio.get_running_loop()
        got: list[tuple[int, int, int]] = []
        done = loop.create_future()
        rfd, wfd = os.pipe()
        with R.Ring(cap=64, setup_flags_mask=VARIANTS[variant]) as ring:

            def on_ring() -> None:
                for ev in events(ring, ring.run(0)):
                    got.append(ev)
                    if ev[0] == R.EV_POLL:
                        os.read(rfd, 1)
                        ring.poll(rfd, 0)
                        ring.submit()
                        threading.Thread(target=ring.wake).start()
                    elif ev[0] == R.EV_WAKE and not done.done():
                        done.set_result(None)

            loop.add_reader(ring.fd(), on_ring)
            ring.poll(rfd, R.POLLIN)
            ring.submit()
            loop.call_later(0.05, os.write, wfd, b"x")
            try:
                await asyncio.wait_for(done, 10)
            finally:
                loop.remove_reader(ring.fd())
                os.close(rfd)
                os.close(wfd)
        return got

    got = asyncio.run(main())
    assert [g[0] for g in got] == [R.EV_POLL, R.EV_WAKE]


def test_bad_arguments_are_einval() -> None:
    with pytest.raises(OSError) as e:
        R.Ring(buf_count=1000)  # not a power of two
    assert e.value.errno == 22
    with R.Ring(cap=2) as r:
        with pytest.raises(OSError) as e:
            r.run(0)  # too small a batch for one completion's events
        assert e.value.errno == 22
    with R.Ring() as r:
        with pytest.raises(OSError):
            r.poll(-1, R.POLLIN)
        with pytest.raises(OSError):
            r.poll(0, 0x100)


def test_free_with_polls_armed_leaves_no_fd() -> None:
    """Teardown cancels what is in the kernel; repeated rings leak no descriptor."""
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        rfd, wfd = os.pipe()
        with R.Ring(buf_count=16) as r:
            r.poll(rfd, R.POLLIN)
            r.run(0)
        os.close(rfd)
        os.close(wfd)
    assert len(os.listdir("/proc/self/fd")) == before


def test_cq_overflow_loses_no_completion() -> None:
    """An 8-entry CQ and 64 ready fds: completions overflow into the kernel backlog and all come back."""
    pipes = [os.pipe() for _ in range(64)]
    try:
        with R.Ring(cap=256, entries=2, max_conns=2) as r:
            for rfd, wfd in pipes:
                os.write(wfd, b"x")
                r.poll(rfd, R.POLLIN)
            seen: set[int] = set()
            for _ in range(10):
                seen |= {fd for kind, fd, _ in events(r, r.run(1)) if kind == R.EV_POLL}
                if len(seen) == 64:
                    break
            assert seen == {rfd for rfd, _ in pipes}
            assert r.stats()["cq_overflow"] >= 1
            for rfd, _ in pipes:
                r.poll(rfd, 0)
            r.run(0.05)
            assert r.stats()["ops_inflight"] == 0
    finally:
        for rfd, wfd in pipes:
            os.close(rfd)
            os.close(wfd)


def test_tiny_timeouts_return(ring: R.Ring) -> None:
    """A timeout that has passed by the time the engine would wait is a poll, not an unbounded wait."""
    for ns in (1, 10, 1000, 100_000):
        t0 = time.monotonic()
        assert ring.run(ns / 1e9) == 0
        assert time.monotonic() - t0 < 5
