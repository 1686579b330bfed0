"""A realistic FastAPI app: parameters, validation, a dependency, background tasks, streaming, files."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI, File, Header, HTTPException, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel

app = FastAPI()
background_log: list[str] = []
DATA = os.path.join(tempfile.gettempdir(), f"uringasgi-test-file-{os.getpid()}.bin")


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


def token(x_token: Annotated[str | None, Header()] = None) -> str:
    if x_token != "secret":
        raise HTTPException(status_code=401, detail="bad token")
    return x_token


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item) -> dict[str, object]:
    return {"received": item.model_dump()}


@app.get("/private")
async def private(tok: Annotated[str, Depends(token)]) -> dict[str, str]:
    return {"token": tok}


@app.post("/background")
async def background(tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(background_log.append, "ran")
    return {"queued": "yes"}


@app.get("/background")
async def background_seen() -> dict[str, list[str]]:
    return {"log": background_log}


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(50):
            yield f"line {i}\n".encode()

    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/file")
async def file() -> FileResponse:
    if not os.path.exists(DATA):
        with open(DATA, "wb") as f:
            f.write(os.urandom(3 << 20))
    return FileResponse(DATA, media_type="application/octet-stream")


@app.post("/upload")
async def upload(f: Annotated[UploadFile, File()]) -> dict[str, object]:
    h = hashlib.sha256()
    size = 0
    while chunk := await f.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return {"size": size, "sha256": h.hexdigest(), "filename": f.filename}


@app.get("/sync")
def sync_route() -> dict[str, str]:
    return {"ran": "in a thread"}
