"""A fault planted in the server's own request handling, for tests/integration/test_app_faults.py.

No request can make the server's code raise on purpose, so this module, imported by the worker as its app,
wraps `Dispatcher.on_request` to raise for a request that carries `x-plant-fault: 1`: what the test then sees
is what a user would see of a bug of ours in that place.
"""

from __future__ import annotations

import time
from typing import Any

from uringasgi.protocol import asgi

_on_request = asgi.Dispatcher.on_request


def _planted(self: Any, cycle: Any, flags: int) -> bool:
    if (b"x-plant-fault", b"1") in cycle.scope["headers"]:
        raise RuntimeError("planted fault")
    return _on_request(self, cycle, flags)


asgi.Dispatcher.on_request = _planted  # type: ignore[method-assign]


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/block":
        time.sleep(0.6)  # holds the worker's loop, so the requests sent meanwhile are handled in one batch
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"got " + body})
