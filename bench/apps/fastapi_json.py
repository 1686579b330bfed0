"""A FastAPI JSON endpoint: routing, a path parameter and validation, a response model."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    id: int
    name: str
    tags: list[str]
    price: float


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> Item:
    return Item(id=item_id, name=q or "widget", tags=["a", "b", "c"], price=9.99)
