"""A FastAPI app that streams server-sent events with sse-starlette until the client or the server stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sse_starlette.sse import EventSourceResponse

app = FastAPI()


@app.get("/events")
async def events() -> EventSourceResponse:
    async def ticks() -> AsyncIterator[dict[str, str]]:
        n = 0
        while True:  # ends only when sse-starlette ends it
            yield {"data": f"tick {n}"}
            n += 1
            await asyncio.sleep(0.05)

    return EventSourceResponse(ticks())
