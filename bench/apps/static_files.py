"""Starlette StaticFiles at /static: how a uvicorn user serves files without a front server."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

app = Starlette(routes=[Mount("/static", StaticFiles(directory=os.environ["BENCH_WWW"]))])
