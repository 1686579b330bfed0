"""An app whose paths each send one kind of message sequence: the boundaries of send()'s C path (asgi.c)."""

from __future__ import annotations

import asyncio
from collections import UserDict
from typing import Any

START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}


class Key(str):
    """A str subclass as a message key: dict.get finds it by value, so send() must too."""


def made(text: str) -> str:
    """The text as a new str object, not the interned literal: keys a program builds at run time."""
    return "".join(list(text))


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/bytearray":
        await send(START)
        await send({"type": "http.response.body", "body": bytearray(b"from a bytearray")})
    elif path == "/memoryview":
        await send(START)
        await send({"type": "http.response.body", "body": memoryview(b"xxfrom a memoryview")[2:]})
    elif path == "/mixed":
        # bytes, then bytearray, then bytes again: the C path and the Python path take turns on one response
        await send(START)
        await send({"type": "http.response.body", "body": b"one ", "more_body": True})
        await send({"type": "http.response.body", "body": bytearray(b"two "), "more_body": True})
        await send({"type": "http.response.body", "body": b"three"})
    elif path == "/no-headers":
        await send({"type": "http.response.start", "status": 204 if scope["method"] == "DELETE" else 200})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "DELETE" else b"bare"})
    elif path == "/mapping":
        # ASGI messages are mappings; not every mapping is a dict
        await send(
            UserDict({"type": "http.response.start", "status": 201, "headers": [(b"x-kind", b"mapping")]})
        )
        await send(UserDict({"type": "http.response.body", "body": b"made of mappings"}))
    elif path == "/after-end":
        await send(START)
        await send({"type": "http.response.body", "body": b"done"})
        await send({"type": "http.response.body", "body": b"one too many"})
    elif path == "/start-twice":
        await send(START)
        await send(START)
    elif path == "/no-status":
        await send({"type": "http.response.start", "headers": []})
    elif path == "/built-keys":
        await send({made("type"): "http.response.start", made("status"): 202, made("headers"): []})
        await send({made("type"): "http.response.body", made("body"): b"built ", made("more_body"): True})
        await send({Key("type"): "http.response.body", Key("body"): b"subclassed", "extra": 1})
    elif path == "/as-tasks":
        # what takes only coroutines takes send()'s result, as it takes uvicorn's
        await asyncio.create_task(send(START))
        await asyncio.create_task(send({"type": "http.response.body", "body": b"task ", "more_body": True}))
        waited = {"type": "http.response.body", "body": b"wait_for ", "more_body": True}
        await asyncio.wait_for(send(waited), 5)
        await asyncio.gather(send({"type": "http.response.body", "body": b"gather"}))
    elif path == "/awaitable":
        # send() returns an awaitable; it does its work when awaited as the app sees it, and gives None
        got = await send(START)
        again = await send({"type": "http.response.body", "body": repr(got).encode()})
        assert again is None
