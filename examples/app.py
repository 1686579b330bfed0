"""The demo app `make serve` runs: a few FastAPI routes, next to a static folder served by C."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, int]]:
    yield {"started": 1}


app = FastAPI(title="uringasgi example", lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float


@app.get("/")
async def index() -> dict[str, str]:
    return {"hello": "world", "static": "/static/index.html"}


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item) -> Item:
    return item


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def numbers() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"{i}\n".encode()
            await asyncio.sleep(0.1)

    return StreamingResponse(numbers(), media_type="text/plain")
