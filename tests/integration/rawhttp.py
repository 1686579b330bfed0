"""A raw-socket HTTP/1.1 client for tests that need exact bytes: pipelining, malformed input, 1.0."""

from __future__ import annotations

import socket
import time


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(
    s: socket.socket, buf: bytearray | None = None, head_only: bool = False
) -> tuple[int, dict[str, str], bytes, bytearray]:
    """One response off the socket: (status, headers, body, leftover bytes for the next response)."""
    buf = buf if buf is not None else bytearray()
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head: {bytes(buf)!r}")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    buf = bytearray(rest)
    if head_only or status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", buf
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-body")
            buf += chunk
        return status, headers, bytes(buf[:n]), bytearray(buf[n:])
    if headers.get("transfer-encoding", "").split(",")[-1].strip().lower() == "chunked":
        body = bytearray()
        while True:
            while b"\r\n" not in buf:
                buf += s.recv(65536)
            line, _, rest2 = bytes(buf).partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            buf = bytearray(rest2)
            while len(buf) < size + 2:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed mid-chunk")
                buf += chunk
            if size == 0:
                # trailers: until an empty line
                while not buf.startswith(b"\r\n") and b"\r\n\r\n" not in buf:
                    buf += s.recv(65536)
                end = 2 if buf.startswith(b"\r\n") else buf.index(b"\r\n\r\n") + 4
                return status, headers, bytes(body), bytearray(buf[end:])
            body += buf[:size]
            buf = bytearray(buf[size + 2 :])
    # close-delimited
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return status, headers, bytes(buf), bytearray()


def closed_by_peer(s: socket.socket, timeout: float = 10.0) -> bool:
    """True once the server has closed the connection (EOF or reset) within timeout."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def exchange(
    port: int, raw: bytes, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes, socket.socket]:
    s = connect(port, timeout)
    s.sendall(raw)
    status, headers, body, _ = read_response(s)
    return status, headers, body, s
