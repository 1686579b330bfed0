"""Instructions per request on the hello-world path, for profiling changes to the server's hot path.

Wall-clock here swings by 20% between runs; an instruction count does not. This runs one worker in this
process (run it under `valgrind --tool=callgrind`) and a client in a child process that keeps CONNS
keep-alive connections busy until N responses have come and then exits; its exit stops the worker (not
--limit-max-requests, which would put a Python call on every request). Two runs with different N give the
per-request count as a difference, which cancels start-up:

    valgrind --tool=callgrind --callgrind-out-file=a.out .venv/bin/python bench/hotpath/run.py 2000
    valgrind --tool=callgrind --callgrind-out-file=b.out .venv/bin/python bench/hotpath/run.py 6000
    (total of b - total of a) / 4000

Under valgrind the worker is the slow side, so every batch holds a request from each connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
CONNS = 16
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"


def client(port: int, n: int) -> None:
    socks = []
    for _ in range(60):
        try:
            socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNS)]
            break
        except OSError:
            time.sleep(0.5)
    done = 0
    try:
        while done < n:
            for s in socks:
                s.sendall(REQUEST)
            for s in socks:
                got = b""
                while b"Hello, world!" not in got:
                    chunk = s.recv(4096)
                    if not chunk:
                        return
                    got += chunk
            done += len(socks)
    except OSError:
        return


def main() -> int:
    if sys.argv[1] == "--client":
        client(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    n = int(sys.argv[1])
    sys.path.insert(0, os.path.join(HERE, "..", "apps"))
    from uringasgi.config import Config
    from uringasgi.server import Server

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    # exec'd, so that under valgrind (without --trace-children) the client runs at full speed
    proc = subprocess.Popen([sys.executable, __file__, "--client", str(port), str(n)])
    config = Config(
        app="hello:app",
        port=port,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1.0,
    )

    class StopWithClient(Server):
        # Polled from the loop: under valgrind neither a signal nor another thread runs while the worker
        # blocks in io_uring_enter (valgrind holds its lock across that syscall), but timers do.
        async def serve(self, ring: Any, routes: Any = None) -> int:
            loop = asyncio.get_running_loop()

            def check() -> None:
                if proc.poll() is None:
                    loop.call_later(0.2, check)
                else:
                    self.should_exit.set()

            check()
            return await super().serve(ring, routes)

    return StopWithClient(config).run()


if __name__ == "__main__":
    sys.exit(main())
