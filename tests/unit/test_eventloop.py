"""UringEventLoop doing what applications ask of asyncio: real sockets, threads, signals and processes.

Every test runs on a UringEventLoop whose wait is the engine's ua_ring_run, and first checks that it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from uringasgi._core import lib

from uringasgi.loop import (
    RingSelector,
    UringEventLoop,
    UringEventLoopPolicy,
    install,
    loop_factory,
    new_event_loop,
)

T = TypeVar("T")
LIMIT = 30.0  # seconds; generous for a loaded 2-core machine, never reached when things work


def run(main: Callable[[], Awaitable[T]]) -> T:
    async def checked() -> T:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, UringEventLoop)
        assert isinstance(loop._selector, RingSelector)
        return await asyncio.wait_for(main(), LIMIT)

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(checked())


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(LIMIT)


def test_httpx_async_client_fetches_from_a_local_server() -> None:
    async def main() -> list[tuple[int, str]]:
        async with httpx.AsyncClient(timeout=LIMIT) as client:
            out = []
            for path in ("/a", "/b", "/c"):  # keep-alive: the same connection is polled again
                r = await client.get(url + path)
                out.append((r.status_code, r.text))
            return out

    with http_server() as url:
        assert run(main) == [(200, "hello /a"), (200, "hello /b"), (200, "hello /c")]


def test_open_connection_echo_against_start_server() -> None:
    async def main() -> list[bytes]:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while line := await reader.readline():
                writer.write(line.upper())
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, limit=8 << 20)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=8 << 20)
            got = []
            for i in range(50):
                writer.write(b"line %d\n" % i)
                got.append(await reader.readline())
            big = b"x" * (4 << 20) + b"\n"  # larger than the socket buffers: writes wait for POLLOUT
            writer.write(big)
            got.append(await reader.readline())
            writer.write_eof()
            got.append(await reader.read())
            writer.close()
            await writer.wait_closed()
            return got

    got = run(main)
    assert got[:50] == [b"LINE %d\n" % i for i in range(50)]
    assert got[50] == b"X" * (4 << 20) + b"\n"
    assert got[51] == b""


def test_timers_fire_in_order_and_not_early() -> None:
    async def main() -> tuple[list[str], float]:
        loop = asyncio.get_running_loop()
        fired: list[str] = []
        done = loop.create_future()
        t0 = loop.time()
        loop.call_later(0.15, fired.append, "c")
        loop.call_later(0.05, fired.append, "a")
        loop.call_at(t0 + 0.10, fired.append, "b")
        loop.call_later(0.12, fired.append, "cancelled")
        loop.call_later(0.20, done.set_result, loop.time)
        handle = loop.call_later(0.12, fired.append, "never")
        handle.cancel()
        clock = await done
        return fired, clock() - t0

    fired, elapsed = run(main)
    assert fired == ["a", "b", "cancelled", "c"]
    assert elapsed >= 0.20  # the wait on the ring never ends before the nearest timer is due


def test_sleep_with_nothing_else_to_do_wakes_from_the_ring_wait() -> None:
    async def main() -> float:
        t0 = time.monotonic()
        await asyncio.sleep(0.1)
        return time.monotonic() - t0

    assert run(main) >= 0.1


def test_timers_shorter_than_a_microsecond_still_fire() -> None:
    """Waits of a few hundred nanoseconds, shorter than the engine's own setup, still end on time."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        fired = 0
        for i in range(2000):
            fut = loop.create_future()
            loop.call_at(loop.time() + (i % 10) * 1e-7, fut.set_result, None)
            await fut
            fired += 1
        return fired

    assert run(main) == 2000


def test_signal_handler_runs_on_the_loop_and_is_removed() -> None:
    async def main() -> tuple[list[int], bool, Any]:
        loop = asyncio.get_running_loop()
        got: list[int] = []
        fut = loop.create_future()

        def on_usr1(n: int) -> None:
            got.append(n)
            if len(got) == 2:
                fut.set_result(None)

        loop.add_signal_handler(signal.SIGUSR1, on_usr1, signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)
        await fut
        removed = loop.remove_signal_handler(signal.SIGUSR1)
        return got, removed, signal.getsignal(signal.SIGUSR1)

    got, removed, handler = run(main)
    assert got == [signal.SIGUSR1, signal.SIGUSR1]
    assert removed
    assert handler == signal.SIG_DFL


def test_signal_interrupts_an_idle_wait() -> None:
    """A signal sent by another thread while the loop sleeps on the ring with no timer at all."""

    async def main() -> str:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR2, fut.set_result, "usr2")
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR2))
        timer.start()
        try:
            return await fut
        finally:
            timer.join()
            loop.remove_signal_handler(signal.SIGUSR2)

    assert run(main) == "usr2"


def test_subprocess_pipes_and_exit_status() -> None:
    async def main() -> tuple[bytes, bytes, int | None, int | None]:
        code = (
            "import sys; d = sys.stdin.read(); sys.stdout.write(d[::-1]); sys.stderr.write('e'); sys.exit(3)"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(b"abc" * 100000)
        shell = await asyncio.create_subprocess_shell("exit 7")
        return out, err, proc.returncode, await shell.wait()

    out, err, rc, shell_rc = run(main)
    assert out == b"cba" * 100000
    assert err == b"e"
    assert rc == 3
    assert shell_rc == 7


def test_run_in_executor_and_getaddrinfo() -> None:
    async def main() -> tuple[int, str, list[Any]]:
        loop = asyncio.get_running_loop()
        squared = await loop.run_in_executor(None, pow, 12, 2)
        name = await asyncio.to_thread(lambda: threading.current_thread().name)
        infos = await loop.getaddrinfo("localhost", 8080, type=socket.SOCK_STREAM)
        return squared, name, infos

    squared, name, infos = run(main)
    assert squared == 144
    assert name != threading.main_thread().name
    assert ("127.0.0.1", 8080) in [info[4][:2] for info in infos]


def test_call_soon_threadsafe_wakes_a_loop_with_nothing_scheduled() -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        got: list[int] = []
        done = loop.create_future()

        def producer() -> None:
            for i in range(200):
                loop.call_soon_threadsafe(got.append, i)
                if i % 50 == 0:
                    time.sleep(0.01)  # let the loop go back to its (untimed) wait in between
            loop.call_soon_threadsafe(done.set_result, None)

        thread = threading.Thread(target=producer)
        thread.start()
        await done
        thread.join()
        return got

    assert run(main) == list(range(200))


def test_add_reader_on_a_socketpair_is_level_triggered() -> None:
    """One byte read per callback: the fd must be reported again while bytes remain, as epoll would."""

    async def main() -> tuple[bytes, bool, int]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        got = bytearray()
        done = loop.create_future()

        def on_readable() -> None:
            got.extend(a.recv(1))
            if len(got) == 10:
                loop.remove_reader(a)
                done.set_result(None)

        loop.add_reader(a, on_readable)
        assert a.fileno() in loop._selector.get_map()
        b.send(b"0123456789")
        await done
        b.send(b"more")
        await asyncio.sleep(0.05)  # no callback may come after remove_reader
        left = a.recv(100)

        writable = loop.create_future()
        loop.add_writer(b, lambda: writable.done() or writable.set_result(True))
        ok = await writable
        loop.remove_writer(b)
        registered = len(loop._selector.get_map())
        a.close()
        b.close()
        return bytes(got) + b"|" + left, ok, registered

    data, ok, registered = run(main)
    assert data == b"0123456789|more"
    assert ok
    assert registered == 0


def test_add_reader_sees_the_peer_hang_up() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        fut: asyncio.Future[bytes] = loop.create_future()
        loop.add_reader(a, lambda: fut.done() or fut.set_result(a.recv(10)))
        b.close()
        try:
            return await fut
        finally:
            loop.remove_reader(a)
            a.close()

    assert run(main) == b""


def test_ring_handler_gets_each_batch_once_before_callbacks() -> None:
    async def main() -> tuple[list[list[int]], list[str]]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, UringEventLoop)
        batches: list[list[int]] = []
        order: list[str] = []

        def on_events(events: Any, n: int) -> None:
            kinds = [events[i].type for i in range(n)]
            batches.append(kinds)
            if lib.UA_EV_POLL in kinds:
                order.append("batch with the poll")

        driver = loop.set_ring_handler(on_events)
        woke = loop.create_future()
        threading.Thread(target=loop.call_soon_threadsafe, args=(woke.set_result, None)).start()
        await woke
        await asyncio.sleep(0.05)
        a, b = socket.socketpair()
        readable = loop.create_future()

        def on_readable() -> None:
            order.append("reader callback")
            loop.remove_reader(a)
            readable.set_result(None)

        b.send(b"x")
        loop.add_reader(a, on_readable)
        await readable
        driver.close()
        a.close()
        b.close()
        return batches, order

    batches, order = run(main)
    assert [lib.UA_EV_WAKE] in batches
    # The batch that held the poll reached the handler before the callback that poll made ready ran.
    assert order == ["batch with the poll", "reader callback"]


def test_ring_handler_error_goes_to_the_exception_handler() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, UringEventLoop)
        seen: list[str] = []
        loop.set_exception_handler(lambda _loop, ctx: seen.append(repr(ctx.get("exception"))))

        def on_events(events: Any, n: int) -> None:
            raise ValueError("boom")

        loop.set_ring_handler(on_events)
        loop.call_soon_threadsafe(lambda: None)
        await asyncio.sleep(0.1)
        loop.set_ring_handler(None)
        return seen

    assert run(main)[:1] == ["ValueError('boom')"]


def test_closed_loop_refuses_threadsafe_calls() -> None:
    loop = new_event_loop()
    assert loop.ring is not None
    loop.close()
    with pytest.raises(RuntimeError):
        loop.call_soon_threadsafe(print)
    loop._write_to_self()  # a late executor thread must not touch the freed ring


def test_policy_install_and_loop_factory() -> None:
    old = asyncio.get_event_loop_policy()
    try:
        install()
        assert isinstance(asyncio.get_event_loop_policy(), UringEventLoopPolicy)

        async def kind() -> str:
            return type(asyncio.get_running_loop()).__name__

        assert asyncio.run(kind()) == "UringEventLoop"
    finally:
        asyncio.set_event_loop_policy(old)
    assert loop_factory("uring") is new_event_loop
    assert loop_factory("auto") is new_event_loop  # this machine has io_uring
    stock = loop_factory("asyncio")()
    try:
        assert not isinstance(stock, UringEventLoop)
    finally:
        stock.close()
    with pytest.raises(ValueError):
        loop_factory("tokio")
