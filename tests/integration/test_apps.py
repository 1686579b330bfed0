"""Real FastAPI and Starlette apps, unchanged, through real clients."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time

import httpx
import pytest
from serverproc import serve


@pytest.fixture(scope="module")
def fastapi_server():
    with serve("fastapi_app:app") as sp:
        yield sp


def test_path_and_query_parameters(fastapi_server) -> None:
    r = httpx.get(fastapi_server.url + "/items/42", params={"q": "hi there"})
    assert r.status_code == 200
    assert r.json() == {"item_id": 42, "q": "hi there"}


def test_json_body_and_validation_error(fastapi_server) -> None:
    r = httpx.post(fastapi_server.url + "/items", json={"name": "x", "price": 1.5})
    assert r.json() == {"received": {"name": "x", "price": 1.5, "tags": []}}
    r = httpx.post(fastapi_server.url + "/items", json={"name": "x", "price": "free"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "price"]


def test_dependency(fastapi_server) -> None:
    assert httpx.get(fastapi_server.url + "/private").status_code == 401
    r = httpx.get(fastapi_server.url + "/private", headers={"X-Token": "secret"})
    assert r.json() == {"token": "secret"}


def test_background_task_runs_after_response(fastapi_server) -> None:
    assert httpx.post(fastapi_server.url + "/background").json() == {"queued": "yes"}
    for _ in range(50):
        if httpx.get(fastapi_server.url + "/background").json()["log"]:
            break
        time.sleep(0.05)
    assert "ran" in httpx.get(fastapi_server.url + "/background").json()["log"]


def test_streaming_response(fastapi_server) -> None:
    r = httpx.get(fastapi_server.url + "/stream")
    assert r.text == "".join(f"line {i}\n" for i in range(50))


def test_file_response(fastapi_server) -> None:
    r = httpx.get(fastapi_server.url + "/file")
    assert r.status_code == 200
    assert len(r.content) == 3 << 20
    assert r.headers["content-length"] == str(3 << 20)


def test_sync_route_runs_in_threadpool(fastapi_server) -> None:
    assert httpx.get(fastapi_server.url + "/sync").json() == {"ran": "in a thread"}


def test_upload_50_mib_multipart(fastapi_server, tmp_path) -> None:
    data = os.urandom(1 << 20) * 50
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with open(path, "rb") as f:
        r = httpx.post(fastapi_server.url + "/upload", files={"f": ("big.bin", f)}, timeout=120)
    assert r.status_code == 200
    assert r.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "filename": "big.bin"}


def test_starlette_static_files_and_lifespan_state() -> None:
    with serve("starlette_app:app") as sp:
        assert httpx.get(sp.url + "/state").json() == {"db": "connected", "count": 1}
        assert httpx.get(sp.url + "/state").json() == {"db": "connected", "count": 2}
        r = httpx.get(sp.url + "/static/hello.txt")
        assert r.status_code == 200 and r.text == "hello static\n"
        etag = r.headers["etag"]
        assert httpx.get(sp.url + "/static/hello.txt", headers={"If-None-Match": etag}).status_code == 304
        assert httpx.get(sp.url + "/static/missing.txt").status_code == 404


@pytest.mark.parametrize("loop", ["uring", "asyncio", "uvloop"])
def test_an_app_has_its_task_from_its_first_line(loop: str) -> None:
    with serve("task_app:probe", "--loop", loop) as sp:
        r = httpx.get(sp.url)
        assert (r.status_code, r.text) == (200, "task=True anyio=True same=True")


@pytest.mark.parametrize("loop", ["uring", "asyncio", "uvloop"])
def test_base_http_middleware_and_a_sync_endpoint(loop: str) -> None:
    with serve("task_app:app", "--loop", loop) as sp:
        r = httpx.get(sp.url + "/sync")
        assert (r.status_code, r.text, r.headers.get("x-through")) == (200, "from a thread", "middleware")


def test_sse_starlette_streams_end_when_the_server_drains() -> None:
    """sse-starlette ends its event streams when uvicorn stops, so that a deploy does not wait out the
    graceful timeout for streams that never end; it learns of the stop from uvicorn itself, and uringasgi
    tells it the same (uringasgi.compat). The stream ends and the server exits in seconds, not 20. The
    stream ends as under uvicorn: sse-starlette returns without the body's last message, so the connection
    closes before the chunked body's end (uvicorn logs "ASGI callable returned without completing
    response" for it)."""
    after = 0
    with serve("sse_app:app", "--timeout-graceful-shutdown", "20") as sp:
        with httpx.stream("GET", sp.url + "/events", timeout=30) as r:
            data = (line for line in r.iter_lines() if line.startswith("data:"))
            assert next(data) == "data: tick 0"
            stopped = time.monotonic()
            sp.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(httpx.RemoteProtocolError):
                for _ in data:  # until the server ends the stream
                    after += 1
        assert sp.proc.wait(25) == -signal.SIGTERM
        took = time.monotonic() - stopped
    assert took < 8, f"the stream ran {took:.1f} s into the drain ({after} more events)"
    assert "Finished server process" in sp.output
