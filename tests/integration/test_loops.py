"""--loop: the ring as the loop's own wait (uring), or driven from a stock asyncio or uvloop loop."""

from __future__ import annotations

import signal

import httpx
import pytest
from rawhttp import connect, read_response
from serverproc import serve


@pytest.mark.parametrize("loop", ["auto", "uring", "asyncio", "uvloop"])
def test_each_loop_serves_keep_alive_pipelining_and_streaming(loop: str) -> None:
    with serve("raw:echo", "--loop", loop) as sp:
        with httpx.Client() as c:
            for i in range(20):
                assert c.post(sp.url, content=b"x%d" % i).content == b"x%d" % i
        s = connect(sp.port)
        one = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n"
        s.sendall(one + b"A" + one + b"B")
        _, _, first, buf = read_response(s)
        _, _, second, _ = read_response(s, buf)
        assert (first, second) == (b"A", b"B")
        s.close()
        # a graceful stop ends (nothing waits on the ring), by the signal that asked for it
        assert sp.stop(signal.SIGTERM, timeout=10) == -signal.SIGTERM
    with serve("fastapi_app:app", "--loop", loop) as sp:
        assert httpx.get(sp.url + "/stream").text == "".join(f"line {i}\n" for i in range(50))
        assert httpx.get(sp.url + "/sync").json() == {"ran": "in a thread"}
        assert sp.stop(signal.SIGTERM, timeout=10) == -signal.SIGTERM
