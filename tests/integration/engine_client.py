"""Client side of the engine tests: start tests/integration/engine_harness.py, talk raw HTTP/1.1 to it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

HARNESS = Path(__file__).with_name("engine_harness.py")


class Engine:
    def __init__(self, **config: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HARNESS), json.dumps(config)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, int]:
        """The counters, over a connection of its own (which is open while they are taken)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /stats HTTP/1.1\r\nhost: x\r\n\r\n")
            _, _, body = read_response(s, bytearray())
        return dict(json.loads(body))

    def settled(self, timeout: float = 10) -> dict[str, int]:
        """Stats once only the stats request's own connection is open (clients close asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if (st["conns_open"] <= 1 and st["ops_inflight"] <= 3) or time.monotonic() > deadline:
                return st
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def read_response(s: socket.socket, buf: bytearray) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One response off a socket (content-length or chunked), leaving the rest in buf."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, "connection closed before a response head"
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    buf[:] = rest
    body = b""
    if b"content-length" in headers:
        n = int(headers[b"content-length"])
        while len(buf) < n:
            chunk = s.recv(65536)
            assert chunk
            buf += chunk
        body = bytes(buf[:n])
        del buf[:n]
    elif headers.get(b"transfer-encoding") == b"chunked":
        while True:
            while b"\r\n" not in buf:
                buf += s.recv(65536)
            line, _, _ = bytes(buf).partition(b"\r\n")
            size = int(line, 16)
            need = len(line) + 2 + size + 2
            while len(buf) < need:
                chunk = s.recv(65536)
                assert chunk
                buf += chunk
            body += bytes(buf[len(line) + 2 : len(line) + 2 + size])
            del buf[:need]
            if size == 0:
                break
    return lines[0], headers, body


def assert_clean(engine: Engine) -> None:
    st = engine.settled()
    assert st["conns_open"] == 1, st  # the stats request itself
    # its recv, the listener's multishot accept, and the poll on the harness's signal wakeup fd
    assert st["ops_inflight"] == 3 and st["polls_armed"] == 1, st
    assert st["bufs_out"] == 0, st
    assert st["in_bytes"] == 0, st
