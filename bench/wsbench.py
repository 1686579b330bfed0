"""WebSocket echo load client: wrk cannot speak WebSocket, so this small client does it.

N connections (64 by default) each send one 32-byte text frame, wait for the echo, and send the next, for a
fixed time: the same closed loop as `wrk -c64`. It counts echoes completed inside the measured window and
records each one's round-trip time for p50/p99. It runs under uvloop on raw asyncio protocols, and frames are
built once (a fixed masking key; RFC 6455 section 5.3 wants a fresh one per frame, but no server can tell),
so the client spends as little CPU per message as Python allows. The runner pins it to CPU 1, as wrk is.

Prints one JSON object: requests, seconds, rps, p50_us, p99_us, errors.
`--check` opens one connection, sends one message and verifies the echo (the runner's probe).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import cast

KEY = base64.b64encode(os.urandom(16))
ACCEPT = base64.b64encode(hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
MASK = b"\x37\xfa\x21\x3d"
PAYLOAD = b"0123456789abcdef0123456789abcdef"
# FIN + text opcode; mask bit + 7-bit length; masking key; masked payload (RFC 6455 section 5.2).
FRAME = bytes([0x81, 0x80 | len(PAYLOAD)]) + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(PAYLOAD))


class Stats:
    def __init__(self) -> None:
        self.start_ns = 0
        self.stop_ns = 0
        self.running = True
        self.latencies_ns: list[int] = []
        self.errors: list[str] = []


class EchoClient(asyncio.Protocol):
    def __init__(self, host: str, port: int, stats: Stats, opened: asyncio.Future[None]) -> None:
        self.host = host
        self.port = port
        self.stats = stats
        self.opened = opened
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.sent_at = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (self.host.encode(), self.port, KEY)
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))
        elif self.stats.running:
            self.stats.errors.append(f"connection lost: {exc}")

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter_ns()
        self.transport.write(FRAME)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(
                    ConnectionError(f"upgrade answered {status.decode(errors='replace')}")
                )
                return
            if ACCEPT not in head:
                self.opened.set_exception(ConnectionError("wrong Sec-WebSocket-Accept"))
                return
            self.upgraded = True
            self.opened.set_result(None)
        self.parse_frames()

    def parse_frames(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            opcode = buf[0] & 0x0F
            length = buf[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    break
                length = int.from_bytes(buf[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    break
                length = int.from_bytes(buf[2:10], "big")
                offset = 10
            if len(buf) < offset + length:
                break
            payload = buf[offset : offset + length]
            buf = buf[offset + length :]
            if opcode in (0x1, 0x2):
                self.on_echo(payload)
            elif opcode == 0x8:
                self.stats.errors.append("server sent close")
        self.buf = buf

    def on_echo(self, payload: bytes) -> None:
        now = time.perf_counter_ns()
        stats = self.stats
        if payload != PAYLOAD:
            stats.errors.append(f"echo mismatch: {payload[:40]!r}")
        elif stats.start_ns <= now <= stats.stop_ns:
            stats.latencies_ns.append(now - self.sent_at)
        if stats.running:
            self.send()


def percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return float(sorted_values[index])


async def run(host: str, port: int, connections: int, seconds: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    clients: list[EchoClient] = []
    waits: list[asyncio.Future[None]] = []
    for _ in range(connections):
        opened: asyncio.Future[None] = loop.create_future()
        _transport, client = await loop.create_connection(
            functools.partial(EchoClient, host, port, stats, opened), host, port
        )
        clients.append(client)
        waits.append(opened)
    await asyncio.wait_for(asyncio.gather(*waits), 30)
    stats.start_ns = time.perf_counter_ns()
    stats.stop_ns = stats.start_ns + int(seconds * 1e9)
    for client in clients:
        client.send()
    await asyncio.sleep(seconds)
    stats.running = False
    elapsed = (time.perf_counter_ns() - stats.start_ns) / 1e9
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    await asyncio.sleep(0.05)
    latencies = sorted(stats.latencies_ns)
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "rps": len(latencies) / seconds,
        "p50_us": percentile(latencies, 0.50) / 1000,
        "p99_us": percentile(latencies, 0.99) / 1000,
        "errors": stats.errors[:5],
        "error_count": len(stats.errors),
    }


async def check(host: str, port: int) -> dict[str, object]:
    result = await run(host, port, 1, 0.2)
    if not result["requests"]:
        raise ConnectionError("no echo came back")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("-d", "--seconds", type=float, default=5.0)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            if args.check:
                result = runner.run(asyncio.wait_for(check(args.host, args.port), 30))
            else:
                result = runner.run(run(args.host, args.port, args.connections, args.seconds))
    except (OSError, TimeoutError) as exc:
        print(json.dumps({"error": str(exc) or type(exc).__name__}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
