"""What the one-server bench scripts (soak.py, burst_rss.py) need of a local server process."""

from __future__ import annotations

import socket
import time
from pathlib import Path


def rss_kib(pid: int) -> int:
    """The process's resident memory, KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, seconds: float = 10.0) -> None:
    """Until 127.0.0.1:port accepts a connection, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
