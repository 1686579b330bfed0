"""The scenarios: what is requested, what a right answer is, and which servers take part."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from .servers import HOST, Ctx, Launch, bare, granian, hypercorn, nginx, uringasgi, uringasgi_tls, uvicorn

CEIL = (
    "bare: bench/ceiling/bare.c answers each request with the file by sendfile() and does nothing else "
    "(no lookup, no header but Content-Length). It shows where one wrk thread stops at this size: where "
    "the client CPU is near 100% against every server, the client sets the pace. A reference, not a peer."
)


@dataclass
class Scenario:
    key: str
    title: str
    path: str
    expect: Callable[[Ctx, bytes], str | None]
    launches: Callable[[Ctx, int], list[Launch]]
    tls: bool = False
    lua: str | None = None
    post: bytes | None = None
    websocket: bool = False
    workers: int = 1
    pinned: bool = True
    # Servers shown for reference that are not counted as peers (nginx's fixed 200 next to ASGI apps).
    references: tuple[str, ...] = ()
    note: str = ""


def same_body(want: bytes) -> Callable[[Ctx, bytes], str | None]:
    def check(_ctx: Ctx, body: bytes) -> str | None:
        return None if body == want else f"expected {len(want)} bytes, got {len(body)}: {body[:60]!r}"

    return check


def same_file(name: str) -> Callable[[Ctx, bytes], str | None]:
    def check(ctx: Ctx, body: bytes) -> str | None:
        want = ctx.files[name]
        return None if body == want else f"expected {name} ({len(want)} bytes), got {len(body)} bytes"

    return check


def fastapi_item(_ctx: Ctx, body: bytes) -> str | None:
    try:
        item = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:60]!r}"
    return None if item.get("id") == 42 and item.get("name") == "widget" else f"unexpected item {item}"


def ws_ok(_ctx: Ctx, _body: bytes) -> str | None:
    return None


def asgi_peers(app: str, *, tls: bool = False, ws: bool = False) -> Callable[[Ctx, int], list[Launch]]:
    """The ASGI servers on one app: uringasgi, uvicorn (httptools+uvloop), uvicorn-h11, granian, hypercorn."""

    def launches(ctx: Ctx, port: int) -> list[Launch]:
        extra = uringasgi_tls(ctx) if tls else []
        out = [
            uringasgi(ctx, app, port, workers=1, extra=extra),
            uvicorn(ctx, app, port + 1, h11=False, workers=1, tls=tls, ws="websockets" if ws else ""),
        ]
        if not tls:
            out.append(
                uvicorn(ctx, app, port + 2, h11=True, workers=1, tls=False, ws="wsproto" if ws else "")
            )
        out += [
            granian(ctx, app, port + 3, workers=1, tls=tls),
            hypercorn(ctx, app, port + 4, workers=1, tls=tls),
        ]
        return out

    return launches


def hello_launches(*, tls: bool, workers: int) -> Callable[[Ctx, int], list[Launch]]:
    def launches(ctx: Ctx, port: int) -> list[Launch]:
        app = "hello:app"
        extra = uringasgi_tls(ctx) if tls else []
        out = [
            uringasgi(ctx, app, port, workers=workers, extra=extra),
            uvicorn(ctx, app, port + 1, h11=False, workers=workers, tls=tls),
        ]
        if not tls and workers == 1:
            out.append(uvicorn(ctx, app, port + 2, h11=True, workers=1, tls=False))
        out += [
            granian(ctx, app, port + 3, workers=workers, tls=tls),
            hypercorn(ctx, app, port + 4, workers=workers, tls=tls),
            nginx(ctx, "fixed", port + 5, workers=workers, tls=tls),
        ]
        return out

    return launches


def access_log_launches(ctx: Ctx, port: int) -> list[Launch]:
    """Hello world with every server writing its access log (to its log file), at its default format."""
    app = "hello:app"
    return [
        uringasgi(ctx, app, port, workers=1, access_log=True),
        uvicorn(ctx, app, port + 1, h11=False, workers=1, tls=False, access_log=True),
        granian(ctx, app, port + 3, workers=1, tls=False, access_log=True),
    ]


def static_launches(*, tls: bool, file: str = "") -> Callable[[Ctx, int], list[Launch]]:
    """uringasgi's static mount, nginx, granian, Starlette; with `file`, the bare server on that file too."""

    def launches(ctx: Ctx, port: int) -> list[Launch]:
        extra = ["--static", f"/static={ctx.www}", *(uringasgi_tls(ctx) if tls else [])]
        out = [
            uringasgi(ctx, "hello:app", port, workers=1, extra=extra),
            nginx(ctx, "static", port + 1, tls=tls),
            granian(ctx, "hello:app", port + 2, workers=1, tls=tls, static=True),
        ]
        if not tls:
            starlette = uvicorn(ctx, "static_files:app", port + 3, h11=False, workers=1, tls=False)
            starlette.note = "Starlette StaticFiles"
            out.append(starlette)
        if file:
            out.append(bare(ctx, file, port + 4))
        return out

    return launches


def proxy_launches(ctx: Ctx, port: int) -> list[Launch]:
    # uringasgi's proxy option is not specified yet; `--proxy PREFIX=URL` is the form this runner will
    # use, and its absence from --help is what marks the row "not built yet".
    upstream = f"http://{HOST}:{ctx.upstream_port}"
    return [
        uringasgi(ctx, "hello:app", port, workers=1, extra=["--proxy", f"/={upstream}"]),
        nginx(ctx, "proxy", port + 1),
    ]


SCENARIOS = [
    Scenario(
        "hello",
        "Raw ASGI hello world",
        "/",
        same_body(b"Hello, world!"),
        hello_launches(tls=False, workers=1),
        references=("nginx",),
        note="nginx returning a fixed 200 is the ceiling one wrk thread can drive; it is not an ASGI peer.",
    ),
    Scenario(
        "hello-log",
        "Raw ASGI hello world, access log on",
        "/",
        same_body(b"Hello, world!"),
        access_log_launches,
        note="Each server writes one access line per request to its log file. Compare with the hello world "
        "rows above (access log off) for what logging costs.",
    ),
    Scenario(
        "fastapi",
        "FastAPI JSON endpoint",
        "/items/42",
        fastapi_item,
        asgi_peers("fastapi_json:app"),
        note="GET /items/42: path parameter, pydantic response model.",
    ),
    Scenario(
        "echo",
        "POST echo 4 KiB",
        "/",
        same_body(b"x" * 4096),
        asgi_peers("echo:app"),
        lua="post4k.lua",
        post=b"x" * 4096,
    ),
    Scenario(
        "stream",
        "Streaming response, 100 chunks",
        "/",
        same_body((b"x" * 63 + b"\n") * 100),
        asgi_peers("stream:app"),
        note="100 `more_body` sends of 64 bytes each, chunked transfer encoding.",
    ),
    Scenario(
        "static-1k",
        "Static file 1 KiB",
        "/static/1k.bin",
        same_file("1k.bin"),
        static_launches(tls=False),
        note="uvicorn serves through Starlette StaticFiles; granian through its static mount.",
    ),
    Scenario(
        "static-100k",
        "Static file 100 KiB",
        "/static/100k.bin",
        same_file("100k.bin"),
        static_launches(tls=False, file="100k.bin"),
        references=("bare",),
        note=CEIL,
    ),
    Scenario(
        "static-1m",
        "Static file 1 MiB",
        "/static/1m.bin",
        same_file("1m.bin"),
        static_launches(tls=False, file="1m.bin"),
        references=("bare",),
        note=CEIL,
    ),
    Scenario(
        "pathsend",
        "Starlette FileResponse 50 KiB (pathsend)",
        "/file",
        same_file("50k.bin"),
        asgi_peers("pathsend:app"),
        note="Servers advertising `http.response.pathsend` get the path; the others get Starlette's chunks.",
    ),
    Scenario(
        "proxy",
        "Reverse proxy, 1 KiB",
        "/1k.bin",
        same_file("1k.bin"),
        proxy_launches,
        note="Upstream: a separate nginx serving a static 1 KiB file (sendfile, open_file_cache), pinned to "
        "CPU 1 with wrk, shared by every proxy under test; proxies keep connections to it alive.",
    ),
    Scenario(
        "https-hello",
        "HTTPS hello world",
        "/",
        same_body(b"Hello, world!"),
        hello_launches(tls=True, workers=1),
        tls=True,
        references=("nginx",),
        note="Self-signed P-256 certificate made at bench time; TLS 1.3 over keep-alive connections.",
    ),
    Scenario(
        "https-static-100k",
        "HTTPS static file 100 KiB",
        "/static/100k.bin",
        same_file("100k.bin"),
        static_launches(tls=True),
        tls=True,
    ),
    Scenario(
        "websocket",
        "WebSocket echo",
        "/",
        ws_ok,
        asgi_peers("ws_echo:app", ws=True),
        websocket=True,
        note="Load client: bench/wsbench.py (wrk cannot speak WebSocket), 64 connections, 32-byte text "
        "messages, one in flight per connection, pinned to CPU 1. uvicorn uses `--ws websockets`, "
        "uvicorn-h11 `--ws wsproto`. The client is Python, so it can be the bottleneck: see the client CPU "
        "column.",
    ),
    Scenario(
        "hello-2w",
        "Hello world, two workers, unpinned",
        "/",
        same_body(b"Hello, world!"),
        hello_launches(tls=False, workers=2),
        workers=2,
        pinned=False,
        references=("nginx",),
        note="Two workers per server and `wrk -t2 -c64`, nothing pinned: servers and wrk share both cores.",
    ),
]
