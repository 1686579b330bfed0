"""A real server process for the static tests: the io_uring engine with static routes attached, as a
worker runs it, and a tiny app behind it for everything the routes hand to Python.

    python static_server.py '{"mounts": [["/static", "/srv/public"]], "settings": {"index": "index.html"}}'

prints `running on http://127.0.0.1:PORT` once it accepts, serves until SIGTERM or SIGINT, then prints
`stats {...}` (engine, routes and cache counters) and exits 0. The app answers `app: METHOD PATH`; on
/block it first blocks the loop for 0.5 s, so completions wait in the ring meanwhile.
With "access_log": true in the spec, the C access log of static hits goes to stdout too; "ring" is more
ring configuration (out_high_water...).
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from typing import Any

from uringasgi.loop.ring import EV_REQUEST, Ring, decode_request
from uringasgi.routes import Attached, RouteKind, Router
from uringasgi.static import StaticMount, StaticSettings


def main(spec: dict[str, Any]) -> int:
    settings = StaticSettings(**spec.get("settings", {}))
    router = Router()
    mounts = []
    for i, (prefix, root) in enumerate(spec["mounts"]):
        mounts.append(StaticMount(root, settings))
        router.add(prefix, RouteKind.STATIC, i)
    sock = socket.create_server(("127.0.0.1", 0), backlog=4096)
    sock.setblocking(False)
    ring = Ring(cap=1024, server_header=1, date_header=1, max_conns=4096, **spec.get("ring", {}))
    attached = Attached(ring.ptr, router, [m.ptr for m in mounts])
    if spec.get("access_log"):
        attached.log_to(sys.stdout.fileno())
    ring.listen(sock.fileno())
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"running on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    while not stop:
        n = ring.run(0.1)
        for i in range(n):
            ev = ring.events[i]
            if ev.type == EV_REQUEST:
                req = decode_request(ev)
                if req.path == b"/block":
                    time.sleep(0.5)
                body = b"app: " + req.method + b" " + req.path + b"\n"
                ring.respond(ev.conn, 200, [(b"content-type", b"text/plain")], body)
        attached.flush_log()
    # Clients that closed just before the stop may not have had their close reaped yet: let the ring see
    # them (for at most 5 s) so the counters say what is really left open.
    deadline = time.monotonic() + 5
    while ring.stats()["conns_open"] and time.monotonic() < deadline:
        ring.run(0.05)
    stats = {"ring": ring.stats(), "routes": attached.stats(), "mounts": [m.stats() for m in mounts]}
    print("stats " + json.dumps(stats), flush=True)
    ring.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
