"""Raw ASGI apps used by the integration tests; each one shows one behaviour."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from typing import Any
from urllib.parse import parse_qs


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Hello, world!"})


async def logs_to_uvicorn(scope: Any, receive: Any, send: Any) -> None:
    """Logs through uvicorn's error logger, as many apps written for uvicorn do, then answers 200."""
    if scope["type"] != "http":
        return
    logging.getLogger("uvicorn.error").info("app says %s", scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"logged"})


async def background_work(scope: Any, receive: Any, send: Any) -> None:
    """Starts a task at startup that nothing stops; its finally writes to $LEFTOVER_FILE."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _background.append(asyncio.create_task(_forever()))
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


_background: list[asyncio.Task[None]] = []


async def _forever() -> None:
    try:
        while True:
            await asyncio.sleep(0.1)
    finally:
        with open(os.environ["LEFTOVER_FILE"], "a") as f:
            f.write("finally ran\n")


async def head_then_wait(scope: Any, receive: Any, send: Any) -> None:
    """Starts its response, then waits 2 s for its first event, as a stream does; /later: after a wait."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/later":
        await asyncio.sleep(0.05)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
    )
    await asyncio.sleep(2)
    await send({"type": "http.response.body", "body": b"data: event\n\n"})


async def status(scope: Any, receive: Any, send: Any) -> None:
    """Answers with the status given as ?s= (200 without one) and an empty body."""
    if scope["type"] != "http":
        return
    code = int(scope["query_string"].decode().partition("s=")[2] or 200)
    await send({"type": "http.response.start", "status": code, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def set_path(scope: Any, receive: Any, send: Any) -> None:
    """Puts a path with a lone surrogate in the scope (no request can carry one), then answers 200."""
    if scope["type"] != "http":
        return
    scope["path"] = "/set\udcffpath"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """Echoes the request body; the headers say how it arrived."""
    if scope["type"] != "http":
        return
    chunks = []
    messages = 0
    while True:
        msg = await receive()
        assert msg["type"] == "http.request", msg
        messages += 1
        chunks.append(msg["body"])
        if not msg.get("more_body"):
            break
    body = b"".join(chunks)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"x-messages", str(messages).encode()),
                (b"x-sha256", hashlib.sha256(body).hexdigest().encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def scope_echo(scope: Any, receive: Any, send: Any) -> None:
    """Returns the scope as JSON-able text."""
    import json

    if scope["type"] != "http":
        return
    out = {
        k: v
        for k, v in scope.items()
        if k not in ("headers", "state", "extensions", "raw_path", "query_string")
    }
    out["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
    out["raw_path"] = scope["raw_path"].decode("latin-1")
    out["query_string"] = scope["query_string"].decode("latin-1")
    out["extensions"] = sorted(scope.get("extensions", {}))
    body = json.dumps(out).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


async def stream(scope: Any, receive: Any, send: Any) -> None:
    """100 chunks, then the end: chunked framing on the wire. ?te=X sends transfer-encoding: X itself."""
    if scope["type"] != "http":
        return
    te = parse_qs(scope["query_string"].decode()).get("te")
    headers = [(b"transfer-encoding", te[0].encode())] if te else []
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for i in range(100):
        await send({"type": "http.response.body", "body": b"chunk %d\n" % i, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def big(scope: Any, receive: Any, send: Any) -> None:
    """A download of ?n= MiB of a known pattern, in 64 KiB pieces (back-pressure on a slow reader)."""
    if scope["type"] != "http":
        return
    n = int(scope["query_string"].decode().partition("=")[2] or 10)
    block = bytes(range(256)) * 256
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(n << 20).encode())],
        }
    )
    for _ in range(n * 16):
        await send({"type": "http.response.body", "body": block, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def boom_before(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    raise RuntimeError("boom before the response")


async def boom_after(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("boom after the response started")


async def no_response(scope: Any, receive: Any, send: Any) -> None:
    return None


async def wrong_order(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.body", "body": b"too early"})


disconnects: list[str] = []


async def wait_disconnect(scope: Any, receive: Any, send: Any) -> None:
    """Reads the body until the client goes; records what receive() gave, served at /seen."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/seen":
        body = ",".join(disconnects).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            disconnects.append("disconnect")
            return
        if not msg.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


async def slow(scope: Any, receive: Any, send: Any) -> None:
    """Answers after ?s= seconds (graceful shutdown tests)."""
    if scope["type"] != "http":
        return
    secs = float(scope["query_string"].decode().partition("=")[2] or 1)
    await asyncio.sleep(secs)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"slept"})


class RenamedSlow:
    """A request that renames its task and sleeps; lifespan shutdown says how many such are still running
    (graceful shutdown's cancel must have ended them by then, whatever their tasks are called)."""

    def __init__(self) -> None:
        self.running = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            logging.getLogger("uvicorn.error").info("lifespan shutdown: %d request(s) running", self.running)
            await send({"type": "lifespan.shutdown.complete"})
            return
        task = asyncio.current_task()
        assert task is not None
        task.set_name("renamed by the app")
        self.running += 1
        try:
            await asyncio.sleep(30)
        finally:
            self.running -= 1


renamed_slow = RenamedSlow()


class Lifespan:
    """Counts its own startup; a failing variant for the exit-status test."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    if self.fail:
                        await send({"type": "lifespan.startup.failed", "message": "database is down"})
                        return
                    scope["state"]["greeting"] = "hi from lifespan"
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    print("lifespan shutdown ran", flush=True)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/slow":
            await asyncio.sleep(10)  # still running when a graceful stop runs out of time
        body = scope["state"].get("greeting", "none").encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


lifespan_ok = Lifespan(fail=False)
lifespan_fail = Lifespan(fail=True)


async def whoami(scope: Any, receive: Any, send: Any) -> None:
    """The worker's pid: tells the tests which worker answered."""
    import os

    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(2)
    if scope["path"] == "/block":
        import time

        time.sleep(60)  # a hung worker: its loop stops, and so do its heartbeats
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})


async def startups(scope: Any, receive: Any, send: Any) -> None:
    """whoami, whose lifespan startup appends the worker's pid to the file $STARTUP_LOG."""
    import os

    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                with open(os.environ["STARTUP_LOG"], "a") as f:
                    f.write(f"{os.getpid()}\n")
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await whoami(scope, receive, send)


NOT_AN_APP = 42  # what a typo in APP can name


def make_app() -> Any:
    """For --factory: returns the app."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        import os

        if scope["type"] != "http":
            return
        body = ("factory " + os.environ.get("FROM_ENV_FILE", "unset")).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


class ASGI2App:
    """An ASGI 2 app (a class called with the scope): --interface asgi2."""

    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        body = f"asgi2 {self.scope['path']} {self.scope['asgi']['version']}".encode()
        await send({"type": "http.response.body", "body": body})


class _NotAnException(BaseException):
    """A BaseException of the app's own, neither SystemExit nor KeyboardInterrupt."""


async def misbehave(scope: Any, receive: Any, send: Any) -> None:
    """One app fault per path (tests/integration/test_app_faults.py); anything else answers "ok"."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path.endswith("-later"):
        await asyncio.sleep(0.01)  # the same fault, once the app has suspended into a task
        path = path[: -len("-later")]
    if path == "/cancelled":
        raise asyncio.CancelledError()
    if path == "/exit":
        raise SystemExit(3)
    if path == "/interrupt":
        raise KeyboardInterrupt()
    if path == "/base":
        raise _NotAnException()
    if path.startswith("/status-"):
        status = int(path.rpartition("-")[2])
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})
        return
    if path == "/too-long":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"abcdef"})
        return
    if path.startswith("/too-short"):
        # content-length 10, and 5 bytes: as one body, as two (the last through Python's send), or as a file
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        if path == "/too-short-file":
            with tempfile.TemporaryFile() as f:
                f.write(b"short")
                f.seek(0)
                await send({"type": "http.response.zerocopysend", "file": f.fileno()})
        elif path == "/too-short-two":
            await send({"type": "http.response.body", "body": b"sh", "more_body": True})
            await send({"type": "http.response.body", "body": bytearray(b"ort")})
        else:
            await send({"type": "http.response.body", "body": b"short"})
        return
    if path == "/extensions":
        ext = scope["extensions"]
        body = ",".join(sorted(ext)).encode()
        ext.pop("http.response.pathsend", None)  # what one request does to its scope stays its own
        ext["x-mine"] = {}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def sync_raises(scope: Any, receive: Any, send: Any) -> Any:
    """Not a coroutine function: it raises when called (run with --interface asgi3)."""
    if scope["type"] != "http":
        return None
    raise ValueError("raised by the call itself")


heard: list[str] = []


async def listeners(scope: Any, receive: Any, send: Any) -> None:
    """receive() calls waiting together, and receive() after the response; what they got is at /heard.

    /together: three calls wait at once (disconnect listeners beside the handler), one is cancelled, then
    the response ends: the other two must both return http.disconnect.
    /after: the response first (the body unread), then receive(): http.disconnect at once.
    """
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/heard":
        body = ",".join(sorted(heard)).encode()
        heard.clear()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    if path == "/together":
        await receive()  # the (empty) body of the GET

        async def listen(tag: str) -> None:
            heard.append(tag + ":" + (await receive())["type"])

        tasks = [asyncio.create_task(listen(tag)) for tag in ("a", "b", "c")]
        await asyncio.sleep(0.05)
        tasks[2].cancel()
        await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"sent"})
        await asyncio.wait_for(asyncio.gather(*tasks[:2]), 5)
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"sent"})
    if path == "/after":
        heard.append("after:" + (await asyncio.wait_for(receive(), 5))["type"])
