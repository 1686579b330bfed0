"""UringEventLoop: an asyncio event loop whose one blocking point is the io_uring engine.

Rules of the loop (one iteration of ``BaseEventLoop._run_once``):

1. asyncio computes the wait from the nearest timer (0 when callbacks are ready, forever when nothing is
   scheduled). ``RingSelector.select`` turns it into nanoseconds and makes exactly one ``ua_ring_run``
   call: that call submits everything queued since the last one (sends, poll changes), waits, and fills
   the event array, which is allocated once per selector and reused by every iteration.
2. When the server registered a batch handler (``UringEventLoop.set_ring_handler``), it is called once with
   the whole batch, ``on_events(events, n)``, before any ready callback of this iteration runs. It owns
   every event that is not ``UA_EV_POLL`` or ``UA_EV_WAKE``; there is never one Python call per event.
3. ``UA_EV_POLL`` events are third-party file descriptors (``add_reader``/``add_writer``, which became
   ``ua_ring_poll`` requests) and go back to asyncio as selector keys. The poll is level-triggered from the
   loop's point of view: while a registered fd stays ready, every iteration reports it, as epoll does.
4. ``UA_EV_WAKE`` only ends the wait: ``call_soon_threadsafe`` already queued its callback.

Signals keep asyncio's own path (``signal.set_wakeup_fd`` on a socket pair whose read end is polled by the
ring), but that pair is made only when the first signal handler is added: a server loop that never sets a
handler polls no fd at all, and the Python scan of the batch in ``select`` is skipped entirely.

With ``--loop asyncio`` or ``--loop uvloop`` the ring is driven by a stock loop instead: ``drive_ring``
registers ``ua_ring_fd()`` as a reader whose callback runs the ring without waiting and hands the batch to
the same handler (``RingAttachment``).
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import heapq
import os
import selectors
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVarTuple

from uringasgi._core import ffi, lib

__all__ = [
    "DEFAULT_CAPACITY",
    "LOOP_RING_CONFIG",
    "RingAttachment",
    "RingDriver",
    "RingSelector",
    "UringEventLoop",
    "UringEventLoopPolicy",
    "drive_ring",
    "install",
    "loop_factory",
    "new_event_loop",
    "new_ring",
]

# Events handed over by one ua_ring_run. A full array only means the next run returns the rest.
DEFAULT_CAPACITY = 1024
_MIN_CAPACITY = 4  # the engine reserves room for the events one completion may produce (UA_EV_RESERVE)

_EV_POLL: int = lib.UA_EV_POLL
_EV_WAKE: int = lib.UA_EV_WAKE
_EINTR = -errno.EINTR
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_POLLIN = 0x001
_POLLPRI = 0x002
_POLLOUT = 0x004
_NO_EVENTS: list[tuple[selectors.SelectorKey, int]] = []  # shared, never mutated: asyncio only iterates
# The stdlib's timer bookkeeping constants (asyncio.base_events), kept identical.
_MAX_WAIT = 24 * 3600.0
_PURGE_MIN_TIMERS = 100
_PURGE_CANCELLED_FRACTION = 0.5

_Ts = TypeVarTuple("_Ts")

OnEvents = Callable[[Any, int], None]
"""A batch handler: ``on_events(events, n)`` gets the cffi ``struct ua_event[]`` and how many are valid."""


def _check(ret: int, what: str) -> int:
    if ret < 0:
        raise OSError(-ret, f"{what}: {os.strerror(-ret)}")
    return ret


# IORING_SETUP_* flags (linux/io_uring.h) for ua_ring_config.setup_flags_mask.
_SETUP_SINGLE_ISSUER = 1 << 12
_SETUP_DEFER_TASKRUN = 1 << 13

# A loop's own ring only polls third-party fds: no listeners, so the smallest buffer ring and connection
# table the engine takes. And no SINGLE_ISSUER (nor DEFER_TASKRUN, which needs it): asyncio lets a loop be
# made in one thread and run in another, and a single-issuer ring refuses any other thread with EEXIST.
LOOP_RING_CONFIG: dict[str, int] = {
    "entries": 256,
    "buf_count": 1,
    "buf_size": 64,
    "max_conns": 1,
    "setup_flags_mask": _SETUP_SINGLE_ISSUER | _SETUP_DEFER_TASKRUN,
}


def new_ring(**config: int) -> Any:
    """A new engine ring (``struct ua_ring *``); the caller frees it with ``lib.ua_ring_free``.

    Keywords set ``struct ua_ring_config`` fields by name; the rest keep the engine's defaults.
    """
    cfg = ffi.new("struct ua_ring_config *")
    for name, value in config.items():
        setattr(cfg, name, value)
    out = ffi.new("struct ua_ring **")
    _check(lib.ua_ring_new(cfg, out), "ua_ring_new")
    return out[0]


def _ring_ptr(ring: Any) -> Any:
    """A ``struct ua_ring *`` from itself or from an object that holds one as ``.ptr`` (``ring.Ring``)."""
    return getattr(ring, "ptr", ring)


def _fileobj_to_fd(fileobj: Any) -> int:
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


def _poll_mask(events: int) -> int:
    mask = 0
    if events & _READ:
        mask |= _POLLIN
    if events & _WRITE:
        mask |= _POLLOUT
    return mask


class _KeyMap(Mapping[Any, selectors.SelectorKey]):
    """``get_map()``: a read-only view of the registered keys, looked up by fd or file object."""

    def __init__(self, selector: RingSelector) -> None:
        self._selector = selector

    def __len__(self) -> int:
        return len(self._selector._fd_to_key)

    def __getitem__(self, fileobj: Any) -> selectors.SelectorKey:
        try:
            return self._selector._fd_to_key[self._selector._lookup(fileobj)]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._selector._fd_to_key)


class RingSelector(selectors.BaseSelector):
    """A ``selectors`` selector whose ``select()`` is one ``ua_ring_run`` call.

    Registering an fd becomes ``ua_ring_poll(fd, POLLIN|POLLOUT)`` and unregistering ``ua_ring_poll(fd,
    0)``; the engine submits both with the next run. The selector owns the ring when it created it.
    """

    def __init__(self, ring: Any = None, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < _MIN_CAPACITY:
            raise ValueError(f"capacity must be at least {_MIN_CAPACITY}")
        self._owns_ring = ring is None
        self._ring: Any = new_ring(**LOOP_RING_CONFIG) if ring is None else _ring_ptr(ring)
        self._events: Any = ffi.new("struct ua_event[]", capacity)
        # The events' type fields as one strided view: finding a POLL event in a batch of requests costs a
        # scan in C, not a cffi item and attribute read per event.
        self._stride = ffi.sizeof("struct ua_event") // 4
        self._types = memoryview(ffi.buffer(self._events)).cast("I")
        self._capacity = capacity
        self._fd_to_key: dict[int, selectors.SelectorKey] = {}
        self._map: _KeyMap | None = _KeyMap(self)
        self._on_events: OnEvents | None = None
        self._on_error: Callable[[dict[str, Any]], object] | None = None
        self._run = lib.ua_ring_run
        # The engine had more events than the array holds: the next select must not wait for them.
        self._more = False
        # ua_ring_wake may come from any thread; close() must not free the ring under it.
        self._wake_lock = threading.Lock()

    @property
    def ring(self) -> Any:
        """The engine ring (``struct ua_ring *``); None once closed."""
        return self._ring

    @property
    def capacity(self) -> int:
        return self._capacity

    def set_handler(
        self, on_events: OnEvents | None, on_error: Callable[[dict[str, Any]], object] | None = None
    ) -> None:
        """The batch handler ``select`` calls with every non-empty batch, and where its errors go."""
        self._on_events = on_events
        self._on_error = on_error

    def _lookup(self, fileobj: Any) -> int:
        try:
            return _fileobj_to_fd(fileobj)
        except ValueError:
            # A closed file object can still be unregistered: find it by identity, as the stdlib does.
            for key in self._fd_to_key.values():
                if key.fileobj is fileobj:
                    return key.fd
            raise

    def _poll(self, fd: int, events: int) -> None:
        if self._ring is None:
            raise RuntimeError("Selector is closed")
        _check(lib.ua_ring_poll(self._ring, fd, _poll_mask(events)), "ua_ring_poll")

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        if not events or events & ~(_READ | _WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        fd = self._lookup(fileobj)
        if fd in self._fd_to_key:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        self._poll(fd, events)
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._fd_to_key[fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        try:
            key = self._fd_to_key.pop(self._lookup(fileobj))
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        if self._ring is not None:
            # Like epoll's unregister, a failure here (the fd is already gone) is not the caller's problem.
            lib.ua_ring_poll(self._ring, key.fd, 0)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        try:
            key = self._fd_to_key[self._lookup(fileobj)]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        if events != key.events:
            if not events or events & ~(_READ | _WRITE):
                raise ValueError(f"Invalid events: {events!r}")
            self._poll(key.fd, events)  # one request replaces the old mask
            key = key._replace(events=events, data=data)
        elif data != key.data:
            key = key._replace(data=data)
        else:
            return key
        self._fd_to_key[key.fd] = key
        return key

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        if self._map is None:
            raise RuntimeError("Selector is closed")
        return self._map[fileobj]

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        if self._map is None:
            raise RuntimeError("Selector is closed")
        return self._map

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self._more or (timeout is not None and timeout <= 0):
            ns = 0
        elif timeout is None:
            ns = -1
        else:
            ns = int(timeout * 1e9) + 1  # never wake a nanosecond before the timer is due
        ring = self._ring
        if ring is None:
            raise RuntimeError("Selector is closed")
        events = self._events
        n = self._run(ring, events, self._capacity, ns)
        if n <= 0:
            self._more = False
            if n < 0 and n != _EINTR:  # EINTR: a signal; its byte is already in the wakeup socket
                raise OSError(-n, f"ua_ring_run: {os.strerror(-n)}")
            return _NO_EVENTS
        self._more = n == self._capacity
        if self._on_events is not None:
            self._dispatch(events, n)
        fd_to_key = self._fd_to_key
        if not fd_to_key:
            return _NO_EVENTS
        stride = self._stride
        if _EV_POLL not in self._types[0 : stride * n : stride]:
            return _NO_EVENTS
        ready = []
        for i in range(n):
            ev = events[i]
            if ev.type != _EV_POLL:
                continue
            key = fd_to_key.get(ev.conn)
            if key is None:  # unregistered since the engine queued it
                continue
            revents = ev.res
            # As EpollSelector: an error or hangup wakes both directions, so the owner sees it.
            mask = 0
            if revents & ~_POLLOUT:
                mask |= _READ
            if revents & ~(_POLLIN | _POLLPRI):
                mask |= _WRITE
            mask &= key.events
            if mask:
                ready.append((key, mask))
        return ready

    def _dispatch(self, events: Any, n: int) -> None:
        assert self._on_events is not None
        try:
            self._on_events(events, n)
        except Exception as exc:
            if self._on_error is None:
                raise
            self._on_error({"message": "Exception in the ring event handler", "exception": exc})

    def wake(self) -> None:
        """End the current (or the next) wait of the ring; safe from any thread, and after close."""
        with self._wake_lock:
            if self._ring is not None:
                lib.ua_ring_wake(self._ring)

    def close(self) -> None:
        self._fd_to_key.clear()
        self._map = None
        self._on_events = None
        self._on_error = None
        with self._wake_lock:
            ring, self._ring = self._ring, None
        if ring is not None and self._owns_ring:
            lib.ua_ring_free(ring)


class RingDriver(Protocol):
    """What the server holds to run the ring under whichever loop it got."""

    def kick(self) -> None:
        """Make sure what Python queued on the ring this iteration is submitted soon."""

    def close(self) -> None:
        """Stop handing batches to the handler."""


class _NativeDriver:
    """The ring is the loop's own wait: every iteration runs it, so there is nothing to kick."""

    def __init__(self, selector: RingSelector) -> None:
        self._selector = selector

    def kick(self) -> None:
        return None

    def close(self) -> None:
        if self._selector.ring is not None:
            self._selector.set_handler(None)


class UringEventLoop(asyncio.SelectorEventLoop):
    """A complete asyncio loop (it is the stdlib's Unix selector loop) whose wait is ``ua_ring_run``.

    ``ring``: an engine ring made by the caller (the server, with its config and listeners): a
    ``struct ua_ring *`` or an object holding one as ``.ptr``. The caller frees it after ``close()``, and
    must make it in the thread that runs the loop (the engine's best setup is single-issuer). By default
    the loop makes its own (``LOOP_RING_CONFIG``) and frees it on ``close()``.
    """

    _selector: RingSelector
    # The stdlib's private state this class reads (asyncio.base_events.BaseEventLoop).
    _internal_fds: int  # its count of the loop's own fds
    _ready: Any
    _scheduled: Any
    _stopping: bool
    _debug: bool
    _clock_resolution: float
    _timer_cancelled_count: int
    _process_events: Callable[[list[tuple[selectors.SelectorKey, int]]], None]

    def __init__(self, ring: Any = None, *, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(RingSelector(ring, capacity))

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        # Every future and task made asks get_debug() (the C Future's init), an app's task for every
        # request: the flag's own bound C method answers it without a Python frame.
        self.get_debug = bool(enabled).__bool__  # type: ignore[method-assign]

    @property
    def ring(self) -> Any:
        """The engine ring this loop waits on (``struct ua_ring *``)."""
        if self._selector is None:
            raise RuntimeError("Event loop is closed")
        return self._selector.ring

    def set_ring_handler(self, on_events: OnEvents | None) -> RingDriver:
        """Hand every batch of the ring to ``on_events(events, n)``, once per iteration, before callbacks.

        An exception from the handler goes to the loop's exception handler, like a callback's.
        """
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        self._selector.set_handler(on_events, self.call_exception_handler)
        return _NativeDriver(self._selector)

    def _run_once(self) -> None:
        """One iteration, as ``BaseEventLoop._run_once`` does it, minus the work an idle part costs there.

        No clock read without timers, no event processing call without events, and bound locals in the
        callback loop. Debug mode runs the stdlib's own iteration, with its slow-callback reports.
        """
        if self._debug:
            super()._run_once()  # type: ignore[misc]
            return
        ready: Any = self._ready
        scheduled: Any = self._scheduled
        if scheduled and (
            scheduled[0]._cancelled
            or (
                len(scheduled) > _PURGE_MIN_TIMERS
                and self._timer_cancelled_count / len(scheduled) > _PURGE_CANCELLED_FRACTION
            )
        ):
            self._purge_timers()
            scheduled = self._scheduled
        if ready or self._stopping:
            timeout: float | None = 0
        elif scheduled:
            timeout = min(max(0.0, scheduled[0]._when - self.time()), _MAX_WAIT)
        else:
            timeout = None
        event_list = self._selector.select(timeout)
        if event_list:
            self._process_events(event_list)
        if scheduled:
            end_time = self.time() + self._clock_resolution
            while scheduled:
                handle = scheduled[0]
                if handle._when >= end_time:
                    break
                heapq.heappop(scheduled)
                handle._scheduled = False
                ready.append(handle)
        # Only what is ready now runs; callbacks these add wait for the next iteration's I/O poll.
        popleft = ready.popleft
        for _ in range(len(ready)):
            handle = popleft()
            if not handle._cancelled:
                handle._run()

    def _purge_timers(self) -> None:
        """Drop cancelled timers: all of them when they are most of the heap, else those at its top."""
        scheduled: Any = self._scheduled
        if (
            len(scheduled) > _PURGE_MIN_TIMERS
            and self._timer_cancelled_count / len(scheduled) > _PURGE_CANCELLED_FRACTION
        ):
            keep = []
            for handle in scheduled:
                if handle._cancelled:
                    handle._scheduled = False
                else:
                    keep.append(handle)
            heapq.heapify(keep)
            self._scheduled = keep
            self._timer_cancelled_count = 0
        else:
            while scheduled and scheduled[0]._cancelled:
                self._timer_cancelled_count -= 1
                heapq.heappop(scheduled)._scheduled = False

    # The wakeup is the ring's own (UA_EV_WAKE), not a socket pair: see the module docstring. The ring
    # is then the loop's one internal fd, where the stdlib counts its socket pair.
    def _make_self_pipe(self) -> None:
        self._ssock: Any = None
        self._csock: Any = None
        self._internal_fds += 1

    def _close_self_pipe(self) -> None:
        if self._ssock is not None:
            super()._close_self_pipe()  # type: ignore[misc]
        self._internal_fds -= 1

    def _write_to_self(self) -> None:
        selector = self._selector
        if selector is not None:
            selector.wake()

    def add_signal_handler(self, sig: int, callback: Callable[[*_Ts], object], *args: *_Ts) -> None:
        if self._ssock is None and not self.is_closed():
            # signal.set_wakeup_fd writes each signal's number here; the ring polls the read end.
            super()._make_self_pipe()  # type: ignore[misc]
        super().add_signal_handler(sig, callback, *args)


class RingAttachment:
    """A ring driven by a stock loop (asyncio's or uvloop's): ``ua_ring_fd()`` is one of its readers.

    The reader's callback runs the ring without waiting and hands the batch to ``on_events``. A stock loop
    does not run the ring every iteration, so what Python queues on it (sends, listeners) needs ``kick()``:
    one zero-timeout run at the end of the current iteration, however many times it is called. Nor does the
    ring's fd poll readable when only a timer of the engine is due (an idle keep-alive connection, a slow
    client's head, the idle trim), so each run leaves a loop timer for the engine's next one.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        ring: Any,
        on_events: OnEvents,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._loop = loop
        self._ring = ring = _ring_ptr(ring)
        self._on_events = on_events
        self._events: Any = ffi.new("struct ua_event[]", capacity)
        self._capacity = capacity
        self._run = lib.ua_ring_run
        self._next_timer = lib.ua_ring_next_timer
        self._timer: asyncio.TimerHandle | None = None
        self._kicked = False
        self._fd = _check(lib.ua_ring_fd(ring), "ua_ring_fd")
        self._closed = False
        # The ring's own context for kicks: kick() is called from inside requests' tasks, and a handle
        # made there would run the batch (and every app it starts) in that request's context.
        self._context = contextvars.copy_context()
        loop.add_reader(self._fd, self._drain)
        self.kick()  # submit what the engine queued before we came (its wake poll, listeners)

    def _drain(self) -> None:
        self._kicked = False
        if self._closed:
            return
        n = self._run(self._ring, self._events, self._capacity, 0)
        if n < 0:
            if n == _EINTR:
                self.kick()
                return
            raise OSError(-n, f"ua_ring_run: {os.strerror(-n)}")
        if n == self._capacity:
            self.kick()  # the rest is already waiting in the engine: no new readiness will announce it
        in_ns = self._next_timer(self._ring)
        if in_ns >= 0:
            when = self._loop.time() + in_ns / 1e9
            if self._timer is None or when < self._timer.when():
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self._loop.call_at(when, self._on_timer, context=self._context)
        if n:
            self._on_events(self._events, n)

    def _on_timer(self) -> None:
        self._timer = None
        self._drain()

    def kick(self) -> None:
        if not self._kicked and not self._closed:
            self._kicked = True
            self._loop.call_soon(self._drain, context=self._context)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._fd)
            if self._timer is not None:
                self._timer.cancel()


def drive_ring(
    loop: asyncio.AbstractEventLoop, ring: Any, on_events: OnEvents, capacity: int = DEFAULT_CAPACITY
) -> RingDriver:
    """Run ``ring`` under ``loop``, handing its batches to ``on_events``: natively when ``loop`` is the
    UringEventLoop that waits on this very ring, otherwise as a reader on the ring's fd."""
    if isinstance(loop, UringEventLoop) and loop.ring == _ring_ptr(ring):
        return loop.set_ring_handler(on_events)
    return RingAttachment(loop, ring, on_events, capacity)


class UringEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy (child watchers included), with UringEventLoop as its loop."""

    def _loop_factory(self) -> UringEventLoop:
        return UringEventLoop()


def new_event_loop() -> UringEventLoop:
    """A new UringEventLoop with its own ring; fits ``asyncio.Runner(loop_factory=...)``."""
    return UringEventLoop()


def install() -> None:
    """Make UringEventLoop the loop of ``asyncio.run`` and ``asyncio.new_event_loop`` in this process."""
    asyncio.set_event_loop_policy(UringEventLoopPolicy())


def loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop a ``--loop`` value names: ``uring``, ``asyncio``, ``uvloop``, or ``auto`` (uring when the
    kernel lets us make a ring, else uvloop when it is installed, else asyncio)."""
    if kind == "uring":
        return new_event_loop
    if kind == "asyncio":
        return asyncio.SelectorEventLoop
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if kind == "auto":
        try:
            lib.ua_ring_free(new_ring(**LOOP_RING_CONFIG))
        except OSError:
            try:
                return loop_factory("uvloop")
            except ImportError:
                return asyncio.SelectorEventLoop
        return new_event_loop
    raise ValueError(f"unknown loop {kind!r}: expected auto, uring, asyncio or uvloop")
