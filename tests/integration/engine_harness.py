"""A real server process on the bare engine, for tests/integration/test_engine*.py.

It is the smallest loop a server can be: one ``ua_ring_run`` per iteration, requests answered with
``ua_conn_respond``/``ua_conn_body``/``ua_conn_sendfile``. No asyncio, no ASGI. The route decides what the
handler does, so each test picks the behaviour it needs:

    /             "hello"
    /echo         the request body (read whole, then answered)
    /big?n=N      N bytes
    /stream?n=K&size=S   K body pieces of S bytes, each with more_body; waits for WRITABLE when "full"
    /slow?ms=M    answered after M ms (the client may be gone by then)
    /file?path=P&off=O&len=L   a file range by sendfile
    /close        aborted by the app (ua_conn_close)
    /id           this connection's id
    /stale?conn=I a late completion for connection id I (ua_ring_debug_stale), then "ok"
    /stats        engine counters and the harness's own, as JSON

Usage: python engine_harness.py '<json Ring config>'  -> prints the port, serves until SIGTERM.
The config may also hold "nofile": the process's RLIMIT_NOFILE, for EMFILE tests.
"""

from __future__ import annotations

import heapq
import json
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from uringasgi.loop import ring as R


class Server:
    def __init__(self, config: dict[str, int]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.ring = R.Ring(cap=256, **config)
        self.ring.listen(self.sock.fileno())
        self.bodies: dict[int, list[bytes]] = {}
        self.reqs: dict[int, R.Request] = {}
        self.streams: dict[int, tuple[int, int]] = {}  # conn -> (pieces left, size)
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.count = {"disconnects": 0, "writable": 0, "epipe": 0, "requests": 0}
        self.running = True
        self.wakeup_fd = -1

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self.seq, fn))

    def serve(self) -> None:
        while self.running:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            n = self.ring.run(timeout)
            for i in range(n):
                self.event(self.ring.events[i])
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                heapq.heappop(self.timers)[2]()
        self.ring.close()
        self.sock.close()

    def event(self, ev: object) -> None:
        kind = ev.type  # type: ignore[attr-defined]
        conn = ev.conn  # type: ignore[attr-defined]
        if kind == R.EV_REQUEST:
            req = R.decode_request(ev)
            self.count["requests"] += 1
            self.reqs[conn] = req
            if req.flags & R.REQ_EXPECT_CONTINUE:
                self.ring.want_body(conn)
            if req.flags & R.REQ_HAS_BODY:
                self.bodies[conn] = []
            else:
                self.answer(conn, b"")
        elif kind == R.EV_BODY:
            data = R.ffi.buffer(ev.data, ev.len)[:]  # type: ignore[attr-defined]
            self.bodies[conn].append(data)
        elif kind == R.EV_BODY_END:
            self.answer(conn, b"".join(self.bodies.pop(conn)))
        elif kind == R.EV_DISCONNECT:
            self.count["disconnects"] += 1
            self.streams.pop(conn, None)
            self.bodies.pop(conn, None)
        elif kind == R.EV_POLL and conn == self.wakeup_fd:
            os.read(conn, 512)
        elif kind == R.EV_WRITABLE:
            self.count["writable"] += 1
            self.pump(conn)

    def send(self, fn: Callable[[], int]) -> int:
        try:
            return fn()
        except OSError as e:
            if e.errno != 32:  # EPIPE: the client went away, which some tests do on purpose
                raise
            self.count["epipe"] += 1
            return -1

    def answer(self, conn: int, body: bytes) -> None:
        req = self.reqs.pop(conn)
        path = req.path.decode()
        q = {k: v[0] for k, v in parse_qs(req.query.decode()).items()}
        ring = self.ring
        if path == "/":
            self.send(lambda: ring.respond(conn, 200, [(b"content-type", b"text/plain")], b"hello"))
        elif path == "/echo":
            self.send(lambda: ring.respond(conn, 200, [], body))
        elif path == "/big":
            self.send(lambda: ring.respond(conn, 200, [], b"x" * int(q["n"])))
        elif path == "/stream":
            if self.send(lambda: ring.respond(conn, 200, [], more=True)) >= 0:
                self.streams[conn] = (int(q["n"]), int(q["size"]))
                self.pump(conn)
        elif path == "/slow":
            self.later(int(q["ms"]) / 1000, lambda: self.send(lambda: ring.respond(conn, 200, [], b"late")))
        elif path == "/file":
            fd = os.open(q["path"], os.O_RDONLY)
            length = int(q["len"])
            hdrs = [(b"content-length", str(length).encode())]
            if self.send(lambda: ring.respond(conn, 200, hdrs, more=True)) >= 0:
                self.send(
                    lambda: R.check(R.lib.ua_conn_sendfile(ring.ptr, conn, fd, int(q["off"]), length, 0))
                )
            else:
                os.close(fd)
        elif path == "/close":
            ring.close_conn(conn)
        elif path == "/id":
            self.send(lambda: ring.respond(conn, 200, [], str(conn).encode()))
        elif path == "/stale":
            R.check(R.lib.ua_ring_debug_stale(ring.ptr, int(q["conn"])))
            self.send(lambda: ring.respond(conn, 200, [], b"ok"))
        elif path == "/stats":
            stats = ring.stats()
            stats.update(self.count)
            stats["fds"] = len(os.listdir("/proc/self/fd"))
            self.send(lambda: ring.respond(conn, 200, [], json.dumps(stats).encode()))
        else:
            self.send(lambda: ring.respond(conn, 404, [], b"not found"))

    def pump(self, conn: int) -> None:
        """Write stream pieces until the engine says the connection is full; WRITABLE resumes it."""
        if conn not in self.streams:
            return
        left, size = self.streams[conn]
        piece = b"y" * size
        while left:
            left -= 1
            queued = self.send(lambda: self.ring.body(conn, piece, more=True))
            if queued < 0:
                self.streams.pop(conn)
                return
            if queued >= self.ring_high_water:
                self.streams[conn] = (left, size)
                return
        self.streams.pop(conn)
        self.send(lambda: self.ring.body(conn, b""))

    ring_high_water = 256 * 1024


def main() -> None:
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    nofile = config.pop("nofile", 0)
    server = Server(config)
    if nofile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    if "out_high_water" in config:
        server.ring_high_water = config["out_high_water"]

    def stop(*_: object) -> None:
        server.running = False

    # A signal that lands while the loop is in C, before it blocks, would not interrupt the wait: the
    # wakeup fd, polled by the ring like any fd, makes it an event (as asyncio's add_signal_handler does).
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGTERM, stop)
    server.ring.poll(rfd, R.POLLIN)
    server.wakeup_fd = rfd
    print(server.sock.getsockname()[1], flush=True)
    server.serve()


if __name__ == "__main__":
    main()
