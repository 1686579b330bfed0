"""One worker: builds the loop and the ring, adopts the listeners, runs lifespan, serves, drains.

The worker's life:
  1. the loop (--loop) and the app (imported here, in the worker, as uvicorn's workers do); a warm spare
     then waits for a slot to take over (supervisor.py);
  2. lifespan startup; a failure ends the worker with exit status 3 and the error logged;
  3. the ring, with every limit from Config, adopts each listening socket (multishot accept);
  4. serve until SIGINT/SIGTERM (or --limit-max-requests); a second SIGINT exits at once;
  5. drain: stop accepting, let in-flight requests finish for up to --timeout-graceful-shutdown, then
     cancel what is left; lifespan shutdown; free the ring. run() returns 0 and keeps the signal that
     stopped it in stop_signal: the process that serves alone ends by it (supervisor.main), a worker the
     supervisor stopped exits 0, which is what the supervisor expects of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import signal
import socket
import sys
from typing import Any

from uringasgi._core import ffi, lib
from uringasgi.compat import announce_shutdown
from uringasgi.config import AppImportError, Config
from uringasgi.lifespan import Lifespan, LifespanFailed
from uringasgi.logs import error_logger
from uringasgi.loop import UringEventLoop, drive_ring, loop_factory
from uringasgi.protocol.accesslog import AccessLog
from uringasgi.protocol.asgi import Dispatcher

EXIT_STARTUP_FAILED = 3


def bind(config: Config) -> list[socket.socket]:
    """The listening sockets of a single-process server (the supervisor binds its own for workers)."""
    if config.fd is not None:
        sock = socket.socket(fileno=config.fd)
    elif config.uds:
        with contextlib.suppress(FileNotFoundError):
            if os.path.exists(config.uds) and not os.path.isdir(config.uds):
                os.unlink(config.uds)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(config.uds)
        os.chmod(config.uds, 0o666)
    else:
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
    sock.listen(config.backlog)
    sock.setblocking(False)
    return [sock]


def _server_address(sock: socket.socket) -> tuple[str, int | None]:
    if sock.family == socket.AF_UNIX:
        return (sock.getsockname(), None)  # the ASGI spec's [path, None]
    host, port = sock.getsockname()[:2]
    return (host, port)


def ring_config(config: Config, keep: list[Any]) -> Any:
    """struct ua_ring_config from Config; `keep` holds the memory it points at for the ring's life."""
    rc = ffi.new("struct ua_ring_config *")
    # 256 receive buffers of 16 KiB: a buffer is held only from a recv until its bytes are parsed (or, for
    # a partial head, copied out), so this serves thousands of connections; running short is back-pressure
    # (ENOBUFS), not an error. The engine's default of 1024 would put 16 MiB in every worker's RSS.
    rc.buf_count = 256
    rc.keepalive_ms = max(1, int(config.timeout_keep_alive * 1000))  # 0 to C is its default: 0 s is 1 ms
    rc.header_timeout_ms = int(config.timeout_header_read * 1000)
    rc.write_timeout_ms = int(config.timeout_write * 1000)
    rc.max_head = config.limit_header_bytes
    rc.max_headers = config.limit_header_count
    rc.max_target = config.limit_target_bytes
    rc.max_body = config.max_body_size or 0
    rc.out_high_water = 256 * 1024
    rc.out_low_water = 64 * 1024
    # A --header that names server or date replaces ours, as uvicorn's does for server.
    named = {name.strip().lower() for name, _ in config.headers}
    rc.server_header = int(config.server_header and "server" not in named)
    rc.date_header = int(config.date_header and "date" not in named)
    extra = config.rendered_headers()
    if extra:
        buf = ffi.new("uint8_t[]", extra)
        keep.append(buf)
        rc.extra_headers = buf
        rc.extra_headers_len = len(extra)
    return rc


def raise_fd_limit() -> None:
    """The soft limit on open files goes up to the hard one (what nginx's worker_rlimit_nofile is for, and
    Go's runtime does by itself): a worker holds a descriptor per connection and per cached static file, and
    1024, a common soft default, is soon reached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20  # an infinite soft limit is refused
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError) as exc:
        error_logger.debug("The open files limit stays at %d: %s", soft, exc)


def install_routes(ring: Any, config: Config) -> Any:
    """Static mounts (--static) on the ring, answered in C; returns what must live as long as the ring."""
    if not config.static:
        return None
    from uringasgi.routes import Attached, RouteKind, Router
    from uringasgi.static import StaticMount, StaticSettings, parse_static_spec

    # Each mount's open-file cache holds up to one descriptor per entry: together they keep to a quarter of
    # the worker's limit, so that connections have the rest.
    fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // (4 * len(config.static))
    settings = StaticSettings(
        index=config.static_index,
        max_age=config.static_max_age,
        fallthrough=config.static_fallthrough,
        dotfiles=config.static_dotfiles,
        compress=config.static_compress,
        cache_entries=max(16, min(StaticSettings.cache_entries, fds)),
    )
    router = Router()
    mounts = []
    for i, spec in enumerate(config.static):
        prefix, root = parse_static_spec(spec)
        mounts.append(StaticMount(root, settings))
        router.add(prefix, RouteKind.STATIC, i)
        error_logger.info("Serving %s from %s in C", prefix, root)
    return Attached(ring, router, [m.ptr for m in mounts]), mounts


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """What asyncio.run does before it closes its loop: the tasks still running (an app's background work,
    started at startup and never stopped) are cancelled and waited for, so that their finally blocks run."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


class Server:
    def __init__(
        self,
        config: Config,
        sockets: list[socket.socket] | None = None,
        beat_fd: int | None = None,
        fast_log: bool = True,
        standby_fd: int | None = None,
        shared: bool | None = None,
    ) -> None:
        # Other processes accept on our listener too (the supervisor says so; alone, an inherited --fd may
        # be): each accept takes one connection, so the kernel's wakeups rotate among them (ring.h).
        self.shared = config.fd is not None if shared is None else shared
        self.fast_log = fast_log
        self.standby_fd = standby_fd
        self.inherited: list[int] = []  # a spare's inherited listener fds
        self.config = config
        self.sockets = sockets
        self.beat_fd = beat_fd
        self.should_exit = asyncio.Event()
        self.force_exit = False
        self.stop_signal: int | None = None  # the first SIGINT or SIGTERM received
        self.requests = 0
        limit = config.limit_max_requests
        if limit is not None and config.limit_max_requests_jitter:
            limit += random.randint(0, config.limit_max_requests_jitter)
        self.max_requests = limit

    def run(self) -> int:
        config = self.config
        raise_fd_limit()
        keep: list[Any] = []
        out = ffi.new("struct ua_ring **")
        rc = lib.ua_ring_new(ring_config(config, keep), out)
        if rc < 0:
            error_logger.error(
                "io_uring is not available here (%s). uringasgi serves every connection through io_uring, "
                "so it cannot serve on this kernel; `uringasgi --kernel-info` shows what is missing.",
                os.strerror(-rc),
            )
            return 1
        ring = out[0]
        # Mounts live until after ua_ring_free: the ring's routes point at them.
        routes = install_routes(ring, config)
        # The ring is the loop's own wait (--loop auto/uring), or a reader on a stock loop.
        loop = UringEventLoop(ring) if config.loop in ("auto", "uring") else loop_factory(config.loop)()
        asyncio.set_event_loop(loop)
        try:
            code: int = loop.run_until_complete(self.serve(ring, routes))
            return code
        finally:
            with contextlib.suppress(Exception):
                _cancel_leftovers(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            lib.ua_ring_free(ring)
            del routes
            if config.uds and self.sockets is None:  # the socket file this process made goes with it
                with contextlib.suppress(OSError):
                    os.unlink(config.uds)

    def _on_signal(self, sig: int) -> None:
        if self.should_exit.is_set() and sig == signal.SIGINT:
            self.force_exit = True
            error_logger.info("Second interrupt: exiting now.")
            os._exit(1)
        if self.stop_signal is None:
            self.stop_signal = sig
        self.should_exit.set()

    def _request_done(self) -> None:
        self.requests += 1
        limit = self.max_requests
        if limit is not None and self.requests >= limit and not self.should_exit.is_set():
            error_logger.warning("Maximum request limit of %d exceeded. Terminating process.", limit)
            self._beat(b"D")  # the supervisor hands this worker's listener to a new one while it drains
            self.should_exit.set()

    async def serve(self, ring: Any, routes: Any = None) -> int:
        config = self.config
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self._heartbeat()
        try:
            app, asgi_version, detected = config.load_app()
            if detected:
                error_logger.warning(
                    "ASGI app factory detected. Using it, but please consider setting the --factory flag "
                    "explicitly."
                )
        except AppImportError as exc:
            error_logger.error("Error loading ASGI app. %s", exc)
            return EXIT_STARTUP_FAILED  # uvicorn's status for it too
        if self.standby_fd is not None:
            # A spare runs lifespan startup only once it has a slot: while it waits, the app's startup
            # (a scheduler, a registration, a model loaded into memory) must not run once more than there
            # are workers serving.
            adopted = await self._standby()
            if adopted is None:  # stopped while waiting for a slot
                return 0
            self.sockets = [adopted]
        lifespan = Lifespan(app, config.lifespan, asgi_version)
        try:
            await lifespan.startup()
        except LifespanFailed as exc:
            error_logger.error("Application startup failed. Exiting. (%s)", exc)
            return EXIT_STARTUP_FAILED
        try:
            sockets = self.sockets if self.sockets is not None else bind(config)
        except OSError as exc:
            error_logger.error("%s", exc)
            await lifespan.shutdown()
            return 1
        dispatcher = Dispatcher(
            loop,
            ring,
            app,
            servers=[_server_address(s) for s in sockets],
            root_path=config.root_path,
            state=lifespan.state,
            proxy_headers=config.proxy_headers,
            forwarded_style=config.forwarded_style,
            asgi_version=asgi_version,
            trusted=config.trusted,
            limit_concurrency=config.limit_concurrency,
            access=AccessLog(loop, config.access_log, self.fast_log, config.access_log_format),
            high_water=256 * 1024,
            # Counted only to stop at --limit-max-requests: without it, nothing is called per request.
            on_request_done=None if self.max_requests is None else self._request_done,
        )
        if routes is not None and dispatcher.access.stream is not None:
            # Static hits are logged by C, to the same stream, in the same format.
            dispatcher.access.stream.flush()
            routes[0].log_to(dispatcher.access.stream.fileno())
        driver = drive_ring(loop, ring, dispatcher.dispatch)
        dispatcher.use_kick(None if isinstance(loop, UringEventLoop) else driver.kick)
        try:
            for s in sockets:
                rc = lib.ua_ring_listen(ring, s.fileno(), lib.UA_LISTEN_SHARED if self.shared else 0)
                if rc < 0:
                    raise OSError(-rc, f"adopting the listener failed: {os.strerror(-rc)}")
            self._announce(sockets)
            self._beat(b"R")
            await self.should_exit.wait()
            error_logger.info("Shutting down")
            announce_shutdown()
            for s in sockets:
                lib.ua_ring_unlisten(ring, s.fileno())
            await self._drain(dispatcher, ring)
        finally:
            await lifespan.shutdown()
            driver.close()
            for s in sockets:
                s.close()
        error_logger.info("Finished server process [%d]", os.getpid())
        return 0

    async def _drain(self, dispatcher: Dispatcher, ring: Any) -> None:
        """Let in-flight requests finish and connections close, for at most --timeout-graceful-shutdown s.

        Every further response closes its connection (ua_ring_drain), so a busy keep-alive client gets its
        answer and reconnects elsewhere; an idle one is closed within a second. Past the timeout the requests'
        tasks are cancelled, and only those: the lifespan task still has its shutdown to run.
        """
        deadline = self.config.timeout_graceful_shutdown
        waited = 0.0
        while dispatcher.tasks or dispatcher.cycles or lib.ua_ring_drain(ring) > 0:
            if dispatcher.kick is not None:
                # A stock loop runs the ring only when it has completions or is kicked: the cancels of the
                # listeners' accepts, queued by unlisten, must be submitted for their last completions.
                dispatcher.kick()
            if deadline is not None and waited >= deadline:
                error_logger.error(
                    "Cancel %d running request(s), timeout graceful shutdown exceeded", len(dispatcher.tasks)
                )
                for task in list(dispatcher.tasks):
                    task.cancel()
                break
            await asyncio.sleep(0.05)
            waited += 0.05

    async def _standby(self) -> socket.socket | None:
        """A warm spare (see supervisor.py): app imported; wait for a listener to adopt, then run lifespan.

        The supervisor writes "FD CPU\n" on the standby pipe when a worker dies; this process then takes
        over that worker's listener (every listener's fd was inherited) and its CPU (-1: not pinned).
        """
        loop = asyncio.get_running_loop()
        assert self.standby_fd is not None
        got: asyncio.Future[bytes] = loop.create_future()
        buf = b""

        def readable() -> None:
            nonlocal buf
            data = os.read(self.standby_fd, 64)  # type: ignore[arg-type]
            buf += data
            if (b"\n" in buf or not data) and not got.done():
                got.set_result(buf)

        loop.add_reader(self.standby_fd, readable)
        self._beat(b"S")
        stop: asyncio.Future[Any] = loop.create_task(self.should_exit.wait())
        try:
            await asyncio.wait([got, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(self.standby_fd)
            stop.cancel()
        if not got.done() or not got.result().strip():
            return None
        fd_text, cpu_text = got.result().split()[:2]
        fd, cpu = int(fd_text), int(cpu_text)
        if cpu >= 0:
            os.sched_setaffinity(0, {cpu})
        for other in self.inherited:
            if other != fd:
                os.close(other)  # the other slots' listeners are not ours
        return socket.socket(fileno=fd)

    def _beat(self, what: bytes) -> bool:
        """Tell the supervisor something: "S" standing by, "R" serving, "." the loop still turns (draining
        included: a worker that finishes its requests is alive), "D" draining on its own (max requests)."""
        if self.beat_fd is None:
            return False
        try:
            os.write(self.beat_fd, what)
        except OSError:
            return False
        return True

    def _heartbeat(self) -> None:
        if self._beat(b"."):
            asyncio.get_running_loop().call_later(1.0, self._heartbeat)

    def _announce(self, sockets: list[socket.socket]) -> None:
        error_logger.info("Started server process [%d]", os.getpid())
        for s in sockets:
            if s.family == socket.AF_UNIX:
                where = f"unix socket {s.getsockname()}"
            else:
                host, port = s.getsockname()[:2]
                where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
            error_logger.info("uringasgi running on %s (Press CTRL+C to quit)", where)
        sys.stdout.flush()
