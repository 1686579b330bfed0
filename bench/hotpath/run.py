"""Instructions per request on the hello-world path, for profiling changes to the server's hot path.

Wall-clock here swings by 20% between runs; an instruction count does not. This runs one worker in this
process (run it under `valgrind --tool=callgrind`) and a client in a child process that keeps CONNS
keep-alive connections busy until the worker stops itself after N requests (--limit-max-requests).
Two runs with different N give the per-request count as a difference, which cancels start-up:

    valgrind --tool=callgrind --callgrind-out-file=a.out .venv/bin/python bench/hotpath/run.py 2000
    valgrind --tool=callgrind --callgrind-out-file=b.out .venv/bin/python bench/hotpath/run.py 6000
    (total of b - total of a) / 4000

Under valgrind the worker is the slow side, so every batch holds a request from each connection.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONNS = 16
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"


def client(port: int) -> None:
    socks = []
    for _ in range(60):
        try:
            socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNS)]
            break
        except OSError:
            time.sleep(0.5)
    try:
        while True:
            for s in socks:
                s.sendall(REQUEST)
            for s in socks:
                got = b""
                while b"Hello, world!" not in got:
                    chunk = s.recv(4096)
                    if not chunk:
                        return
                    got += chunk
    except OSError:
        return


def main() -> int:
    if sys.argv[1] == "--client":
        client(int(sys.argv[2]))
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
    proc = subprocess.Popen([sys.executable, __file__, "--client", str(port)])
    config = Config(
        app="hello:app",
        port=port,
        access_log=False,
        limit_max_requests=n,
        lifespan="off",
        timeout_graceful_shutdown=1.0,
    )
    code = Server(config).run()
    proc.kill()
    proc.wait()
    return code


if __name__ == "__main__":
    sys.exit(main())
