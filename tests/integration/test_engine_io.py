"""The engine under the conditions a server meets: slow readers, resets, an empty buffer ring, stale
completions, timers, file descriptor exhaustion, 10,000 connections. Real process, real sockets."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from engine_client import Engine, assert_clean, connect, read_response


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = Engine()
    yield e
    e.stop()


def get(s: socket.socket, path: str) -> bytes:
    s.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    return read_response(s, bytearray())[2]


def until_closed(s: socket.socket, timeout: float = 10) -> bytes:
    """Read until the server closes; a reset counts as closed."""
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_partial_sends_to_a_slow_reader() -> None:
    """A response much larger than the socket buffers goes out in many partial sends, in order."""
    e = Engine()
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", e.port))
        n = 3_000_000
        s.sendall(b"GET /big?n=%d HTTP/1.1\r\nhost: x\r\n\r\n" % n)
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, _, body = bytes(buf).partition(b"\r\n\r\n")
        assert b"content-length: %d" % n in head
        got = len(body)
        reads = 0
        while got < n:
            chunk = s.recv(4096)
            assert chunk and set(chunk) == {ord("x")}
            got += len(chunk)
            reads += 1
            if reads % 64 == 0:
                time.sleep(0.01)  # slower than the server can write
        assert got == n
        s.close()
        assert_clean(e)
    finally:
        e.stop()


def test_streaming_waits_for_writable_at_high_water() -> None:
    e = Engine(out_high_water=65536, out_low_water=16384)
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", e.port))
        s.settimeout(10)
        s.sendall(b"GET /stream?n=200&size=10000 HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.3)  # let the server fill up against a reader that is not reading
        _, headers, body = read_response(s, bytearray())
        assert headers[b"transfer-encoding"] == b"chunked"
        assert body == b"y" * 2_000_000
        s.close()
        st = e.stats()
        assert st["writable"] >= 1, st  # the app was told to wait, and was woken
        assert_clean(e)
    finally:
        e.stop()


def test_client_reset_mid_response(engine: Engine) -> None:
    for path in ["/big?n=5000000", "/stream?n=500&size=10000"]:
        s = connect(engine.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        assert s.recv(1000).startswith(b"HTTP/1.1 200 OK")
        s.close()  # RST with most of the response unsent
    # The server is fine, the connections are gone, and the streaming app heard of it.
    with httpx.Client(base_url=engine.url) as c:
        assert c.get("/").text == "hello"
    st = engine.settled()
    assert st["disconnects"] + st["epipe"] >= 1, st
    assert_clean(engine)


def test_enobufs_is_back_pressure_not_an_error() -> None:
    """Two 128-byte buffers for 20 clients sending 20 KB each at once: recvs run dry and are re-armed."""
    e = Engine(buf_count=2, buf_size=128)
    try:
        bodies = [os.urandom(20_000) for _ in range(20)]
        results: list[bytes] = [b""] * 20

        def client(i: int) -> None:
            with socket.create_connection(("127.0.0.1", e.port), timeout=30) as s:
                s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 20000\r\n\r\n" + bodies[i])
                results[i] = read_response(s, bytearray())[2]

        threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == bodies
        st = e.settled()
        assert st["enobufs"] > 0, st
        assert_clean(e)
    finally:
        e.stop()


def test_a_connection_waiting_for_a_buffer_is_not_taken_for_idle() -> None:
    """Many uploads at once on fresh connections, two buffers, a 300 ms keep-alive: a connection whose
    request waits unread for a buffer is served when its turn comes, not closed as an idle one."""
    e = Engine(buf_count=2, buf_size=128, keepalive_ms=300)
    try:
        n = 200
        bodies = [os.urandom(20_000) for _ in range(n)]
        results: list[object] = [b""] * n

        def client(i: int) -> None:
            try:
                with socket.create_connection(("127.0.0.1", e.port), timeout=30) as s:
                    s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 20000\r\n\r\n" + bodies[i])
                    results[i] = read_response(s, bytearray())[2]
            except OSError as exc:
                results[i] = exc

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        failed = [r for r, b in zip(results, bodies, strict=True) if r != b]
        assert not failed, f"{len(failed)} of {n} uploads failed, e.g. {failed[0]!r}"[:300]
        assert e.settled()["timeouts"] == 0
        assert_clean(e)
    finally:
        e.stop()


def test_completion_for_a_closed_and_reused_slot_is_dropped() -> None:
    """Slot 0 serves A, then C (same slot, next generation). A late end-of-stream for A must not close C."""
    e = Engine(max_conns=2)
    try:
        a = connect(e.port)
        a_id = int(get(a, "/id"))
        a.close()
        time.sleep(0.2)  # A's slot is freed
        b = connect(e.port)
        b_id = int(get(b, "/id"))
        c = connect(e.port)
        c_id = int(get(c, "/id"))
        assert c_id & 1 == a_id & 1 and c_id != a_id and b_id & 1 != a_id & 1  # one slot bit: 2 slots
        assert get(c, f"/stale?conn={a_id}") == b"ok"
        assert get(c, "/") == b"hello"  # C was not closed by A's late completion
        st = json.loads(get(c, "/stats"))  # on C: the table (2 slots) is full
        assert st["dropped_stale"] == 1, st
        b.close()
        c.close()
    finally:
        e.stop()


def test_keepalive_timeout_closes_an_idle_connection() -> None:
    e = Engine(keepalive_ms=300)
    try:
        s = connect(e.port)
        assert get(s, "/") == b"hello"
        t0 = time.monotonic()
        assert until_closed(s) == b""
        assert time.monotonic() - t0 >= 0.25
        st = e.settled()
        assert st["timeouts"] >= 1
        assert_clean(e)
    finally:
        e.stop()


def test_header_timeout_closes_a_slowloris() -> None:
    """Bytes keep coming, one at a time, but the head never ends: the deadline runs from the first byte."""
    e = Engine(header_timeout_ms=500, keepalive_ms=5000)
    try:
        s = connect(e.port)
        s.sendall(b"GET / HTTP/1.1\r\n")
        closed = False
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5:
            try:
                s.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.1)
            try:
                if s.recv(100) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed
        st = e.settled()
        assert st["timeouts"] == 1 and st["requests"] == 1, st  # the stats request only
        assert_clean(e)
    finally:
        e.stop()


def test_write_timeout_aborts_a_reader_that_never_reads() -> None:
    e = Engine(write_timeout_ms=400)
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", e.port))
        s.sendall(b"GET /big?n=20000000 HTTP/1.1\r\nhost: x\r\n\r\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = e.stats()
            if st["timeouts"]:
                break
            time.sleep(0.1)
        assert st["timeouts"] == 1, st
        s.close()
        assert_clean(e)
    finally:
        e.stop()


def test_ten_thousand_connections_leave_nothing_behind(engine: Engine) -> None:
    base = engine.settled()
    for i in range(10_000):
        s = socket.create_connection(("127.0.0.1", engine.port), timeout=10)
        if i % 3 == 0:
            s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert read_response(s, bytearray())[2] == b"hello"
        elif i % 3 == 1:
            s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            assert until_closed(s).endswith(b"hello")
        s.close()  # the third kind never says anything
    st = engine.settled(timeout=30)
    assert st["accepted"] >= 10_000
    assert st["fds"] == base["fds"], (base, st)
    assert_clean(engine)


def test_emfile_does_not_spin_and_recovers() -> None:
    e = Engine(nofile=64)
    try:
        clients = [socket.create_connection(("127.0.0.1", e.port), timeout=10) for _ in range(100)]
        time.sleep(0.3)
        stat = Path(f"/proc/{e.proc.pid}/stat")

        def cpu() -> float:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        c0 = cpu()
        time.sleep(1.0)
        assert cpu() - c0 < 0.5  # out of fds, it waits instead of retrying accept in a loop
        for c in clients:
            c.close()
        with httpx.Client(base_url=e.url) as c:
            deadline = time.monotonic() + 10
            while True:
                try:
                    assert c.get("/").text == "hello"
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
        st = e.settled()
        assert st["accept_errors"] > 0, st
        assert_clean(e)
    finally:
        e.stop()


def test_sendfile_range(engine: Engine, tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    f = tmp_path / "blob"
    f.write_bytes(data)
    with httpx.Client(base_url=engine.url) as c:
        r = c.get("/file", params={"path": str(f), "off": 12345, "len": 2_500_000})
        assert r.status_code == 200
        assert r.content == data[12345 : 12345 + 2_500_000]
        r = c.get("/file", params={"path": str(f), "off": 0, "len": 10})
        assert r.content == data[:10]
    st = engine.settled()
    assert st["fds"] == engine.stats()["fds"]
    assert_clean(engine)


def test_large_bodies_go_zero_copy_when_asked() -> None:
    """An explicit threshold applies to a loopback peer too; the body arrives whole and in order."""
    e = Engine(zc_threshold=100_000)
    try:
        with httpx.Client(base_url=e.url) as c:
            r = c.get("/big", params={"n": 3_000_000})
            assert r.content == b"x" * 3_000_000
            assert c.get("/big", params={"n": 99_999}).content == b"x" * 99_999
        st = e.settled()
        assert st["zc_sends"] >= 1, st
        assert_clean(e)
    finally:
        e.stop()


def test_no_zero_copy_to_loopback_by_default(engine: Engine) -> None:
    """Measured (send.c): toward a loopback peer SEND_ZC costs more at every size, so it is not used."""
    with httpx.Client(base_url=engine.url) as c:
        assert c.get("/big", params={"n": 3_000_000}).content == b"x" * 3_000_000
    assert engine.settled()["zc_sends"] == 0
