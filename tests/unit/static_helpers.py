"""Shared by the static unit tests: a mount over a temporary directory."""

from __future__ import annotations

import os
import pathlib
from email.utils import formatdate

from uringasgi.static import StaticMount, StaticResponse, StaticSettings


def write(root: pathlib.Path, rel: str, data: bytes | str, mtime: float | None = None) -> pathlib.Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


def nginx_etag(p: pathlib.Path) -> str:
    st = p.stat()
    return f'"{int(st.st_mtime):x}-{st.st_size:x}"'


def http_date(t: float) -> str:
    return formatdate(t, usegmt=True)


def get(m: StaticMount, path: str, **headers: str) -> StaticResponse:
    r = m.serve(
        b"GET", path.encode(), [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    )
    assert r is not None
    return r


def mount(root: pathlib.Path, **settings: object) -> StaticMount:
    return StaticMount(str(root), StaticSettings(**settings))  # type: ignore[arg-type]
