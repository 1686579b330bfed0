"""A request's task: the context it runs in, who holds it while it waits, and what an app may do to the loop
that starts it (tests/integration/apps/task_app.py). Each under the three loops, as uvicorn behaves."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import httpx
import pytest
from rawhttp import connect, read_response
from serverproc import serve

LOOPS = ["uring", "asyncio", "uvloop"]


@pytest.mark.parametrize("loop", LOOPS)
def test_each_request_runs_in_its_own_copy_of_the_servers_context(loop: str) -> None:
    """Concurrent requests never see another's context variables, and all see what the app's import set
    (decimal's precision included), as in uvicorn."""

    async def rounds(url: str) -> list[dict[str, str]]:
        async with httpx.AsyncClient() as client:
            out = []
            for r in range(10):
                replies = await asyncio.gather(*(client.get(f"{url}/?r{r}c{i}") for i in range(20)))
                out += [json.loads(reply.text) for reply in replies]
            return out

    with serve("task_app:contexts", "--loop", loop) as sp:
        seen = asyncio.run(rounds(sp.url))
    assert len(seen) == 200
    assert [s for s in seen if s["seen"] is not None] == []
    assert {s["imported"] for s in seen} == {"at import"}
    assert {s["seventh"] for s in seen} == {"0.142857"}


@pytest.mark.parametrize("loop", LOOPS)
def test_a_waiting_request_is_not_collected_when_only_a_weak_reference_holds_its_future(loop: str) -> None:
    with serve("task_app:contexts", "--loop", loop) as sp:
        got: list[str] = []
        url = sp.url + "/subscribe"
        waiter = threading.Thread(target=lambda: got.append(httpx.get(url, timeout=10).text))
        waiter.start()
        published = "0"
        for _ in range(100):  # until the subscriber waits
            published = httpx.get(sp.url + "/publish").text
            if published == "1":
                break
            threading.Event().wait(0.02)
        waiter.join(10)
        assert (published, got) == ("1", ["news"])
        assert "destroyed but it is pending" not in sp.output


@pytest.mark.parametrize("loop", LOOPS)
def test_an_app_error_met_after_its_first_step_ends_only_its_request(loop: str) -> None:
    """A start whose header is no bytes, then a wait: that request gets its 500, and the requests that came
    in the same burst from other clients are all answered."""
    with serve("task_app:contexts", "--loop", loop) as sp:
        socks = [connect(sp.port) for _ in range(30)]
        for i, s in enumerate(socks):
            path = b"/bad-header" if i == 15 else b"/?burst%d" % i
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
        statuses = [read_response(s)[0] for s in socks]
        for s in socks:
            s.close()
        assert statuses == [500 if i == 15 else 200 for i in range(30)]
        assert httpx.get(sp.url + "/?after").status_code == 200


@pytest.mark.parametrize("loop", LOOPS)
def test_an_app_may_wrap_the_loops_call_soon(loop: str) -> None:
    """A wrapper that keeps what call_soon returns (as tracing tools do) gets a handle every time."""
    with serve("task_app:contexts", "--loop", loop) as sp:
        assert httpx.get(sp.url + "/wrap-call-soon").text == "wrapped"
        for i in range(5):
            assert httpx.get(f"{sp.url}/?w{i}", timeout=5).status_code == 200


@pytest.mark.parametrize("loop", LOOPS)
def test_the_loops_task_factory_makes_the_requests_tasks(loop: str) -> None:
    with serve("task_app:contexts", "--loop", loop, env={"UA_TEST_FACTORY": "1"}) as sp:
        httpx.get(sp.url + "/?one")
        calls, kind = httpx.get(sp.url + "/factory").text.split()
        assert int(calls) >= 2 and kind == "Task"


@pytest.mark.parametrize("loop", LOOPS)
def test_a_plain_call_that_returns_the_coroutine_runs_in_the_task(loop: str) -> None:
    with serve("task_app:plain_call", "--loop", loop, "--interface", "asgi3") as sp:
        for _ in range(3):  # what one request's __call__ set is not the next one's
            with socket.create_connection((sp.host, sp.port)) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_response(s)[2] == b"seen=None task=True"
