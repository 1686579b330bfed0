"""The servers under test and how each is started: uringasgi, the peers, nginx from bench/nginx/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
APPS = BENCH / "apps"
PEER_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
SERVER_CPU = "0"
CLIENT_CPU = "1"
UVICORN = "uvicorn"
URINGASGI = "uringasgi"


@dataclass
class Launch:
    """How one server is started for one scenario."""

    server: str
    port: int
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    # Options uringasgi must list in --help for this scenario; missing ones mean "not built yet".
    needs: tuple[str, ...] = ()


@dataclass
class Ctx:
    www: Path
    out: Path
    cert: Path
    key: Path
    uringasgi: list[str]
    uringasgi_help: str
    upstream_port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)


def taskset(pinned: bool, cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if pinned else []


def peer(name: str) -> str:
    return str(PEER_BIN / name)


def uvicorn(
    ctx: Ctx,
    app: str,
    port: int,
    *,
    h11: bool,
    workers: int,
    tls: bool,
    ws: str = "",
    access_log: bool = False,
) -> Launch:
    argv = [peer("uvicorn"), app, "--host", HOST, "--port", str(port), "--workers", str(workers)]
    # With the access log on, the log level stays at info: uvicorn writes access lines at info.
    argv += ["--access-log"] if access_log else ["--no-access-log", "--log-level", "warning"]
    argv += ["--http", "h11", "--loop", "asyncio"] if h11 else ["--http", "httptools", "--loop", "uvloop"]
    if ws:
        argv += ["--ws", ws]
    if tls:
        argv += ["--ssl-certfile", str(ctx.cert), "--ssl-keyfile", str(ctx.key)]
    return Launch("uvicorn-h11" if h11 else UVICORN, port, argv)


def granian(
    ctx: Ctx, app: str, port: int, *, workers: int, tls: bool, static: bool = False, access_log: bool = False
) -> Launch:
    argv = [peer("granian"), "--interface", "asgi", "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers), "--access-log" if access_log else "--no-access-log"]
    argv += ["--log-level", "warning"]
    if static:
        argv += ["--static-path-route", "/static", "--static-path-mount", str(ctx.www)]
    if tls:
        argv += ["--ssl-certificate", str(ctx.cert), "--ssl-keyfile", str(ctx.key)]
    return Launch("granian", port, [*argv, app], note="static mount" if static else "")


def hypercorn(ctx: Ctx, app: str, port: int, *, workers: int, tls: bool) -> Launch:
    argv = [peer("hypercorn"), app, "--bind", f"{HOST}:{port}", "--workers", str(workers), "-k", "uvloop"]
    argv += ["--log-level", "warning"]
    if tls:
        argv += ["--certfile", str(ctx.cert), "--keyfile", str(ctx.key)]
    return Launch("hypercorn", port, argv)


def has_option(help_text: str, option: str) -> bool:
    """Whether `--help` lists exactly this option (`--proxy` is not `--proxy-headers`)."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text) is not None


def uringasgi(
    ctx: Ctx, app: str, port: int, *, workers: int, extra: list[str] | None = None, access_log: bool = False
) -> Launch:
    argv = [*ctx.uringasgi, app, "--host", HOST, "--port", str(port)]
    # Options that only tune the run are passed when this build has them; serving does not depend on them.
    if has_option(ctx.uringasgi_help, "--workers"):
        argv += ["--workers", str(workers)]
    elif workers != 1:
        return Launch(URINGASGI, port, argv, needs=("--workers",))
    if workers != 1 and has_option(ctx.uringasgi_help, "--no-pin"):
        argv += ["--no-pin"]  # the multi-worker run pins nothing, for every server
    if not access_log and has_option(ctx.uringasgi_help, "--no-access-log"):
        argv += ["--no-access-log"]
    extra = extra or []
    needs = tuple(a for a in extra if a.startswith("--"))
    return Launch(URINGASGI, port, argv + extra, needs=needs)


def uringasgi_tls(ctx: Ctx) -> list[str]:
    return ["--ssl-certfile", str(ctx.cert), "--ssl-keyfile", str(ctx.key)]


def nginx(
    ctx: Ctx, kind: str, port: int, *, workers: int = 1, tls: bool = False, name: str = "nginx"
) -> Launch:
    """Renders bench/nginx/<kind>.conf into its own prefix directory and returns the nginx command."""
    prefix = ctx.out / "nginx" / f"{kind}-{port}"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    values = {
        "@PORT@": str(port),
        "@PREFIX@": str(prefix),
        "@WORKERS@": str(workers),
        "@WWW@": str(ctx.www),
        "@UPSTREAM_PORT@": str(ctx.upstream_port),
        "@LISTEN_TLS@": "ssl" if tls else "",
        "@TLS_SERVER@": f"ssl_certificate {ctx.cert};\n    ssl_certificate_key {ctx.key};" if tls else "",
        "@TLS_HTTP@": "ssl_protocols TLSv1.2 TLSv1.3;" if tls else "",
    }
    text = (BENCH / "nginx" / "common.conf").read_text()
    text = text.replace("@SERVER@", (BENCH / "nginx" / f"{kind}.conf").read_text())
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    argv = ["nginx", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)]
    if os.geteuid() == 0:
        argv += ["-g", "user root;"]
    return Launch(
        name, port, argv, note={"fixed": "fixed 200", "static": "sendfile, open_file_cache"}.get(kind, "")
    )


def bare(ctx: Ctx, name: str, port: int) -> Launch:
    """bench/ceiling/bare.c sending one file and nothing else: where the load client stops at that size."""
    binary = ctx.out / "bare"
    if not binary.exists():
        source = BENCH / "ceiling" / "bare.c"
        subprocess.run(
            [os.environ.get("CC", "cc"), "-O2", "-std=gnu11", "-o", str(binary), str(source)], check=True
        )
    return Launch("bare", port, [str(binary), str(port), str(ctx.www / name)], note="sendfile, nothing else")
