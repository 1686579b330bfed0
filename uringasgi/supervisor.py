"""The master process: binds listeners, spawns, pins, watches and replaces workers; handles signals.

Rules:
  - One SO_REUSEPORT listener per worker slot, bound here before any worker starts, so a port problem is
    reported once, and a replacement worker adopts its predecessor's listener with its queued connections.
  - Workers are fresh interpreters (`python -m uringasgi.supervisor`), given their listener, a heartbeat pipe
    and the Config as JSON. Each imports the app itself. With --workers auto each is pinned to one CPU.
  - A worker writes b"R" on its heartbeat pipe once it serves, then b"." every second. One that is silent for
    --timeout-worker-healthcheck is killed and replaced. One that dies is replaced, with a growing back-off
    while it keeps dying within a second of its start; if no worker ever got ready, the supervisor gives up.
  - One warm spare stands by: a worker that has imported the app, holding every listener's fd, and that
    writes b"S" when ready. When a worker dies, the spare is told "FD CPU" on its standby pipe, runs the
    app's lifespan startup and serves that slot (a fresh interpreter takes about half a second to get as far
    as the import), and a new spare is started behind it. Lifespan startup waits for the slot so that its
    side effects run once per serving worker, as under uvicorn, not once more for a spare that may never
    serve.
  - INT/TERM: every worker drains and stops; a second INT kills them at once. Once they are gone, the
    supervisor ends by the signal it was told to stop with (end_by_signal), as a single worker does. A worker
    stopped by the supervisor (or by anyone: systemd signals the whole cgroup) drains and exits 0, which is
    what the supervisor expects of the workers it stops; one that exits while it was not asked to is
    replaced, whatever its status. HUP: each slot gets a new worker, and its old one is stopped only once
    the new one is ready (zero failed requests). TTIN/TTOU: one worker more or less.
  - With one worker and no --reload there is no supervisor: the worker runs in this process, as uvicorn does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from uringasgi.config import Config, ConfigError
from uringasgi.logs import configure as configure_logging
from uringasgi.logs import error_logger
from uringasgi.protocol.accesslog import check_format as check_access_log_format

if TYPE_CHECKING:
    from uringasgi.server import Server

SUPERVISOR_ONLY = (
    "workers",
    "pin",
    "reload",
    "reload_dirs",
    "reload_includes",
    "reload_excludes",
    "reload_delay",
    "pid_file",
)
BEAT_SECONDS = 1.0


def main(app: Any, **kw: Any) -> int:
    """The command line's run of `app` with uvicorn-style options; returns the process exit status. Stopped
    by SIGINT or SIGTERM, it does not return: once the server has drained, the process ends by that signal
    (end_by_signal)."""
    code, sig = serve(app, **kw)
    if sig is not None:
        end_by_signal(sig)
    return code


def serve(app: Any, **kw: Any) -> tuple[int, int | None]:
    """Run `app` with uvicorn-style options until it stops: the exit status and, when that is 0 and SIGINT or
    SIGTERM stopped the server, that signal (another status says more than the signal would)."""
    options = {k: kw.pop(k) for k in SUPERVISOR_ONLY if k in kw}
    config = Config(app=app, **kw)
    fast_log = configure_logging(config.log_config, config.log_level, config.access_log, config.use_colors)
    _check_static(config.static)
    if config.access_log_format is not None:
        try:
            check_access_log_format(config.access_log_format)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if config.fd is None and config.uds is None:
        config.fd = _systemd_listener()
    workers = _resolve_workers(options.get("workers"))
    reload = bool(options.get("reload"))
    if (workers != 1 or reload) and not isinstance(app, str):
        raise ConfigError(
            "You must pass the application as an import string to enable 'reload' or 'workers'."
        )
    if options.get("pid_file"):
        with open(options["pid_file"], "w") as f:
            f.write(f"{os.getpid()}\n")
    uds = None
    runner: Server | Supervisor
    try:
        if workers == 1 and not reload:
            from uringasgi.server import Server

            runner = Server(config, fast_log=fast_log)
        else:
            if config.uds:
                # One socket file for every worker: bound here, then served as a --fd is (each slot a dup).
                from uringasgi.server import bind

                try:
                    [uds] = bind(config)
                except OSError as exc:
                    error_logger.error("cannot bind %s: %s", config.uds, exc.strerror)
                    return 1, None
                config.fd = uds.fileno()
            cpus = sorted(os.sched_getaffinity(0))
            pin = options.get("pin", True) and options.get("workers") == "auto"
            try:
                runner = Supervisor(
                    config,
                    workers if isinstance(workers, int) else len(cpus),
                    cpus if pin else None,
                    options if reload else None,
                )
            except OSError as exc:  # the port: one line and status 1, as a single worker says it
                error_logger.error("%s", exc)
                return 1, None
        code = runner.run()
    finally:
        if options.get("pid_file"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(options["pid_file"])
        if uds is not None and config.uds:  # the socket file goes with the server, as uvicorn's does
            uds.close()
            with contextlib.suppress(OSError):
                os.unlink(config.uds)
    return code, runner.stop_signal if code == 0 else None


def end_by_signal(sig: int) -> None:
    """End this process by `sig`'s default action, as uvicorn's server does since 0.29 (it raises again the
    signal it caught): after a clean drain a shell sees 128 + N (143 for TERM, 130 for INT) and systemd a
    stop by its KillSignal, rather than a success that hides why the process ended; a script that ran the
    server stops too on an INT. Nothing runs after it, atexit handlers included: the logs and stdout are
    flushed first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(sig, signal.SIG_DFL)
    signal.raise_signal(sig)


def _systemd_listener() -> int | None:
    """systemd socket activation (sd_listen_fds): the first passed socket, fd 3, when it is meant for us."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for the workers: they get their listener explicitly
    return 3 if count >= 1 else None


def _check_static(specs: list[str]) -> None:
    """A bad --static is one line here, not one traceback per worker."""
    if not specs:
        return
    from uringasgi.static import parse_static_spec

    for spec in specs:
        try:
            parse_static_spec(spec)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def _resolve_workers(value: Any) -> int:
    if value is None:
        value = os.environ.get("WEB_CONCURRENCY", "1")
    if value == "auto":
        return len(os.sched_getaffinity(0))
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--workers: {value!r} is not a number or 'auto'") from None
    if n < 1:
        raise ConfigError("--workers: must be at least 1")
    return n


def check_port_free(config: Config) -> None:
    """SO_REUSEPORT would let the slots share the port with a server already there (another copy of this
    one, most likely) and split its traffic with it: bound once without it first, the port must be free,
    as it must for uvicorn."""
    if config.fd is not None or config.uds or not config.port:
        return
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot bind {config.host}:{config.port}: {exc.strerror}") from None


def bind_slot(config: Config, port: int) -> socket.socket:
    """One listener of the shared port; SO_REUSEPORT lets every slot bind it and the kernel spread load."""
    if config.fd is not None:  # --fd, or the --uds socket main() bound
        return socket.socket(fileno=os.dup(config.fd))
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((config.host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot bind {config.host}:{port}: {exc.strerror}") from None
    sock.listen(config.backlog)
    return sock


@dataclasses.dataclass
class Worker:
    slot: int  # -1: the spare
    proc: subprocess.Popen[bytes]
    beat_fd: int
    started: float
    last_beat: float
    ready: bool = False
    retiring: bool = False
    standby_w: int = -1  # the spare's standby pipe (write end)
    standing_by: bool = False


class Supervisor:
    def __init__(self, config: Config, n: int, cpus: list[int] | None, reload: dict[str, Any] | None) -> None:
        self.config = config
        self.cpus = cpus
        self.reload = reload
        self.listeners: list[socket.socket] = []
        self.port = config.port
        check_port_free(config)
        for _ in range(n):
            self._add_listener()
        self.workers: dict[int, Worker] = {}  # by pid
        self.spare: Worker | None = None
        self.backoff: dict[int, float] = {}
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.signals: list[int] = []
        self.stop_signal: int | None = None  # the first INT or TERM: main() ends the process by it
        self.stopping = False
        self.ever_ready = False
        self.restart_all = False

    def _add_listener(self) -> None:
        sock = bind_slot(self.config, self.port)
        if self.port == 0 and sock.family != socket.AF_UNIX:
            self.port = sock.getsockname()[1]  # every further slot binds the port the first one got
        self.listeners.append(sock)

    # --- workers ---------------------------------------------------------------------------------
    def _cpu(self, slot: int) -> int | None:
        return None if self.cpus is None else self.cpus[slot % len(self.cpus)]

    def spawn(self, slot: int) -> Worker:
        """A worker for `slot`, or the spare for slot -1."""
        beat_r, beat_w = os.pipe2(os.O_CLOEXEC)
        env = dict(os.environ)
        config = dataclasses.asdict(self.config)
        config.pop("trusted", None)
        config["uds"] = None
        # --fd and --uds: every slot is a dup of one socket (bind_slot), which the workers then share.
        shared = self.config.fd is not None
        spec: dict[str, Any] = {"config": config, "beat_fd": beat_w, "cpu": None, "shared": shared}
        standby_r = standby_w = -1
        if slot >= 0:
            config["fd"] = self.listeners[slot].fileno()
            spec["cpu"] = self._cpu(slot)
            fds = [config["fd"], beat_w]
        else:
            standby_r, standby_w = os.pipe2(os.O_CLOEXEC)
            config["fd"] = None
            spec["standby_fd"] = standby_r
            spec["listeners"] = [s.fileno() for s in self.listeners]
            fds = [*spec["listeners"], beat_w, standby_r]
        env["URINGASGI_WORKER"] = json.dumps(spec)
        proc = subprocess.Popen([sys.executable, "-m", "uringasgi.supervisor"], env=env, pass_fds=fds)
        os.close(beat_w)
        if standby_r >= 0:
            os.close(standby_r)
        now = time.monotonic()
        w = Worker(slot, proc, beat_r, now, now, standby_w=standby_w)
        self.workers[proc.pid] = w
        self.sel.register(beat_r, selectors.EVENT_READ, w)
        if slot < 0:
            self.spare = w
        return w

    def _replace(self, slot: int) -> None:
        """A worker for `slot` now: the spare if it stands by (then a new spare), else a fresh one."""
        spare = self.spare
        if spare is not None and spare.standing_by:
            cpu = self._cpu(slot)
            msg = f"{self.listeners[slot].fileno()} {-1 if cpu is None else cpu}\n".encode()
            try:
                os.write(spare.standby_w, msg)
            except OSError:
                spare = None
            if spare is not None:
                os.close(spare.standby_w)
                spare.standby_w = -1
                spare.slot = slot
                spare.standing_by = False
                # its lifespan startup runs now: failing it is dying young, as a fresh worker's would be
                spare.started = time.monotonic()
                self.spare = None
                self.spawn(-1)
                return
        self.spawn(slot)

    def _forget(self, w: Worker) -> None:
        self.sel.unregister(w.beat_fd)
        os.close(w.beat_fd)
        if w.standby_w >= 0:
            os.close(w.standby_w)
            w.standby_w = -1
        if self.spare is w:
            self.spare = None
        self.workers.pop(w.proc.pid, None)

    def _on_beat(self, w: Worker) -> None:
        try:
            data = os.read(w.beat_fd, 64)
        except OSError:
            data = b""
        if not data:
            return  # EOF: the exit is picked up by the reaper
        w.last_beat = time.monotonic()
        if b"S" in data and w.slot < 0:
            w.standing_by = True
        if b"R" in data and not w.ready:
            w.ready = True
            self.ever_ready = True
            self.backoff.pop(w.slot, None)
            self._retire_replaced(w.slot, w)
        if b"D" in data and not w.retiring and not self.stopping and 0 <= w.slot < len(self.listeners):
            # --limit-max-requests: the worker drains its requests; its slot is served by another now,
            # not once it has exited
            w.retiring = True
            self._replace(w.slot)

    def _retire_replaced(self, slot: int, keep: Worker) -> None:
        """HUP: once a slot's new worker serves, its old ones drain and stop."""
        for other in list(self.workers.values()):
            if other.slot == slot and other is not keep and not other.retiring:
                other.retiring = True
                other.proc.send_signal(signal.SIGTERM)

    def _reap(self) -> None:
        for w in list(self.workers.values()):
            code = w.proc.poll()
            if code is None:
                continue
            self._forget(w)
            if w.retiring or self.stopping:
                continue
            if w.slot >= len(self.listeners):
                continue  # TTOU removed the slot
            if w.slot < 0:
                if self.ever_ready and time.monotonic() - w.started > 1.0:
                    self.spawn(-1)  # a spare that died young is not replaced: workers will show why
                continue
            quick = time.monotonic() - w.started < 1.0
            delay = self.backoff.get(w.slot, 0.0)
            if quick:
                delay = min(max(delay * 2, 0.1), 10.0)
                self.backoff[w.slot] = delay
            error_logger.warning("Worker [%d] exited with status %s; replacing it", w.proc.pid, code)
            if quick and not self.ever_ready and delay >= 1.6:
                error_logger.error("Workers keep failing at start; giving up.")
                self.stopping = True
                self.exit_code = 3
                for other in self.workers.values():  # the spare, waiting for a slot, and any still starting
                    other.proc.send_signal(signal.SIGTERM)
                return
            if delay:
                time.sleep(delay)
            self._replace(w.slot)

    def _check_health(self) -> None:
        limit = self.config.timeout_worker_healthcheck
        now = time.monotonic()
        for w in list(self.workers.values()):
            if w.retiring:
                continue
            grace = limit if w.ready else max(limit, 60.0)  # importing a large app may take a while
            if now - w.last_beat > grace:
                error_logger.error(
                    "Worker [%d] missed its heartbeat for %.1f s; killing it", w.proc.pid, now - w.last_beat
                )
                w.proc.kill()
                w.last_beat = now  # killed once: the reaper replaces it, and the log says it once

    # --- signals -----------------------------------------------------------------------------------
    def _signal(self, sig: int, _frame: Any) -> None:
        self.signals.append(sig)
        with contextlib.suppress(BlockingIOError):
            os.write(self.wake_w, b"s")

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if sig in (signal.SIGINT, signal.SIGTERM):
                if self.stop_signal is None:
                    self.stop_signal = sig
                if self.stopping and sig == signal.SIGINT:
                    for w in self.workers.values():
                        w.proc.kill()
                    continue
                self.stopping = True
                for w in self.workers.values():
                    w.proc.send_signal(signal.SIGTERM)
            elif sig == signal.SIGHUP:
                self._replace_all()
            elif sig == signal.SIGTTIN:
                try:
                    self._add_listener()
                except OSError as exc:
                    error_logger.error("TTIN: no worker added: %s", exc)
                    continue
                self.spawn(len(self.listeners) - 1)
                self._renew_spare()  # it holds no fd of the new listener
            elif sig == signal.SIGTTOU and len(self.listeners) > 1:
                slot = len(self.listeners) - 1
                for w in list(self.workers.values()):
                    if w.slot == slot:
                        w.retiring = True
                        w.proc.send_signal(signal.SIGTERM)
                self._close_when_free(self.listeners.pop())
                self._renew_spare()  # it holds the removed listener's fd
            elif sig == signal.SIGCHLD:
                pass

    def _close_when_free(self, sock: socket.socket) -> None:
        # The retiring worker holds its own copy of the fd; closing ours just stops new workers using it.
        sock.close()

    def _renew_spare(self) -> None:
        old = self.spare
        if old is not None:
            old.retiring = True
            old.proc.send_signal(signal.SIGTERM)
            self.spare = None
        self.spawn(-1)

    def _replace_all(self) -> None:
        error_logger.info("Replacing workers one slot at a time")
        self._renew_spare()  # the spare runs the old code too
        for slot in range(len(self.listeners)):
            new = self.spawn(slot)
            deadline = time.monotonic() + 60.0
            while not new.ready and time.monotonic() < deadline and new.proc.poll() is None:
                for key, _ in self.sel.select(timeout=0.1):
                    if key.data is None:
                        os.read(self.wake_r, 512)
                    else:
                        self._on_beat(key.data)

    # --- main loop ---------------------------------------------------------------------------------
    def run(self) -> int:
        self.exit_code = 0
        for sig in (
            signal.SIGINT,
            signal.SIGTERM,
            signal.SIGHUP,
            signal.SIGTTIN,
            signal.SIGTTOU,
            signal.SIGCHLD,
        ):
            signal.signal(sig, self._signal)
        error_logger.info("Started parent process [%d]", os.getpid())
        for slot in range(len(self.listeners)):
            self.spawn(slot)
        self.spawn(-1)
        watcher = self._start_reloader() if self.reload is not None else None
        try:
            while self.workers or not self.stopping:
                for key, _ in self.sel.select(timeout=BEAT_SECONDS):
                    if key.data is None:
                        os.read(self.wake_r, 512)
                    else:
                        self._on_beat(key.data)
                self._handle_signals()
                if self.restart_all:
                    self.restart_all = False
                    self._replace_all()
                self._reap()
                if not self.stopping:
                    self._check_health()
        finally:
            if watcher is not None:
                self.stopping = True
            for s in self.listeners:
                s.close()
        error_logger.info("Stopping parent process [%d]", os.getpid())
        return self.exit_code

    def _start_reloader(self) -> threading.Thread:
        import watchfiles

        opts = self.reload or {}
        dirs = [os.path.abspath(d) for d in opts.get("reload_dirs") or [os.getcwd()]]
        # As uvicorn: --reload-include adds to *.py, which only an explicit --reload-exclude takes away.
        user_excludes = list(opts.get("reload_excludes") or [])
        includes = [p for p in ["*.py", *(opts.get("reload_includes") or [])] if p not in user_excludes]
        excludes = [*user_excludes, ".*", "*.pyc", "__pycache__"]
        error_logger.info("Will watch for changes in these directories: %s", dirs)

        def matches(path: str) -> bool:
            import fnmatch

            name = os.path.basename(path)
            if any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in excludes):
                return False
            return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in includes)

        def watch() -> None:
            for changes in watchfiles.watch(
                *dirs,
                step=int(opts.get("reload_delay", 0.25) * 1000),
                yield_on_timeout=True,
                rust_timeout=500,
            ):
                if self.stopping:
                    return
                changed = [p for _, p in changes if matches(p)]
                if changed:
                    error_logger.warning(
                        "Changes detected in %s. Reloading...", ", ".join(sorted(set(changed)))
                    )
                    self.restart_all = True
                    os.write(self.wake_w, b"r")

        t = threading.Thread(target=watch, name="uringasgi-reload", daemon=True)
        t.start()
        return t


def worker_main() -> int:
    """Entry of a worker process started by the supervisor."""
    spec = json.loads(os.environ.pop("URINGASGI_WORKER"))
    if spec["cpu"] is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    raw = spec["config"]
    raw["headers"] = [tuple(h) for h in raw["headers"]]
    config = Config(**raw)
    fast_log = configure_logging(config.log_config, config.log_level, config.access_log, config.use_colors)
    from uringasgi.server import Server

    standby_fd = spec.get("standby_fd")
    if standby_fd is not None:  # the spare: it learns its listener later (Server._standby)
        server = Server(
            config,
            None,
            beat_fd=spec["beat_fd"],
            fast_log=fast_log,
            standby_fd=standby_fd,
            shared=spec["shared"],
        )
        server.inherited = spec["listeners"]
        return server.run()
    sock = socket.socket(fileno=config.fd)
    config.fd = None
    return Server(config, [sock], beat_fd=spec["beat_fd"], fast_log=fast_log, shared=spec["shared"]).run()


if __name__ == "__main__":
    sys.exit(worker_main())
