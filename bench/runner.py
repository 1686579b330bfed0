"""Benchmark runner: every scenario against every peer, interleaved rounds, one report.

Method (bench/README section of RESULTS.md repeats it):
- each server runs one worker pinned to CPU 0 (`taskset -c 0`), the load client is pinned to CPU 1;
- `wrk -t1 -c64 --latency` over keep-alive connections (WebSocket: bench/wsbench.py, same shape);
- per server a warm-up, then ROUNDS rounds interleaved across the servers of a scenario (A B C A B C);
- per server: median requests/s with min and max, p50 and p99 latency (medians over rounds), the server's
  CPU time per request, and its RSS after the last round summed over all its processes;
- ratios to uvicorn (httptools + uvloop) and to the best peer of the scenario;
- then the same hello world with two workers each, nothing pinned, for the multi-core picture.

uringasgi is one more server with a command line. Before anything else the runner starts it and probes it
with curl; a uringasgi that cannot serve yet, or lacks the option a scenario needs, gets a row that says
"not built yet" and why. Every peer must produce a number, or the run exits non-zero.

Run it through bench/run.sh (`make bench`, `make bench QUICK=1`); it needs the peers' venv, bench/.env.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
APPS = BENCH / "apps"
PEER_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
SERVER_CPU = "0"
CLIENT_CPU = "1"
CONNECTIONS = 64
UVICORN = "uvicorn"
URINGASGI = "uringasgi"
NOT_BUILT = "not built yet"
FAILED = "failed"
OK = "ok"

# One colour per server, the same in every scenario of the plot.
COLOURS = {
    URINGASGI: "#d62728",
    UVICORN: "#1f77b4",
    "uvicorn-h11": "#aec7e8",
    "granian": "#2ca02c",
    "hypercorn": "#9467bd",
    "nginx": "#7f7f7f",
}


# ---------------------------------------------------------------------------------------------------------
# What is measured


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


def uvicorn(ctx: Ctx, app: str, port: int, *, h11: bool, workers: int, tls: bool, ws: str = "") -> Launch:
    argv = [peer("uvicorn"), app, "--host", HOST, "--port", str(port), "--workers", str(workers)]
    argv += ["--no-access-log", "--log-level", "warning"]
    argv += ["--http", "h11", "--loop", "asyncio"] if h11 else ["--http", "httptools", "--loop", "uvloop"]
    if ws:
        argv += ["--ws", ws]
    if tls:
        argv += ["--ssl-certfile", str(ctx.cert), "--ssl-keyfile", str(ctx.key)]
    return Launch("uvicorn-h11" if h11 else UVICORN, port, argv)


def granian(ctx: Ctx, app: str, port: int, *, workers: int, tls: bool, static: bool = False) -> Launch:
    argv = [peer("granian"), "--interface", "asgi", "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
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


def uringasgi(ctx: Ctx, app: str, port: int, *, workers: int, extra: list[str] | None = None) -> Launch:
    argv = [*ctx.uringasgi, app, "--host", HOST, "--port", str(port)]
    # Options that only tune the run are passed when this build has them; serving does not depend on them.
    if has_option(ctx.uringasgi_help, "--workers"):
        argv += ["--workers", str(workers)]
    elif workers != 1:
        return Launch(URINGASGI, port, argv, needs=("--workers",))
    if has_option(ctx.uringasgi_help, "--no-access-log"):
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


def static_launches(*, tls: bool) -> Callable[[Ctx, int], list[Launch]]:
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
        static_launches(tls=False),
    ),
    Scenario(
        "static-1m",
        "Static file 1 MiB",
        "/static/1m.bin",
        same_file("1m.bin"),
        static_launches(tls=False),
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


# ---------------------------------------------------------------------------------------------------------
# Processes


def free_ports(count: int) -> int:
    """A base port with `count` consecutive free ports after it (checked by binding each)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            base: int = probe.getsockname()[1]
        if base + count >= 65535:
            continue
        try:
            for offset in range(count):
                with socket.socket() as s:
                    s.bind((HOST, base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


@dataclass
class Running:
    launch: Launch
    proc: subprocess.Popen[bytes]
    log: Path
    port: int
    url: str
    status: str = OK
    reason: str = ""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    rss_kib: int = 0


def start(launch: Launch, scheme: str, path: str, pinned: bool, logs: Path, cpu: str) -> Running:
    port = launch.port
    log = logs / f"{launch.server}-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(APPS), "BENCH_WWW": os.environ["BENCH_WWW"], **launch.env}
    argv = taskset(pinned, cpu) + launch.argv
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=APPS, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    launch.argv = argv
    return Running(launch, proc, log, port, f"{scheme}://{HOST}:{port}{path}")


def children(pid: int) -> list[int]:
    """pid and all its descendants, from /proc."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = [pid]
    for p in tree:
        tree.extend(c for c, parent in parent_of.items() if parent == p)
    return tree


def rss_kib(pid: int) -> int:
    total = 0
    for p in children(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in children(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICK


def stop(run: Running) -> None:
    """SIGTERM to the server's own process group (it was started in a new session), then SIGKILL."""
    if run.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            run.proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(run.proc.pid, signal.SIGKILL)
    run.proc.wait()


def log_tail(run: Running, lines: int = 3) -> str:
    text = [line.strip() for line in run.log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in text if line.startswith("Error")]
    return errors[-1] if errors else "; ".join(text[-lines:]) or "(no output)"


def curl(url: str, post: bytes | None, timeout: float = 5) -> tuple[int, bytes]:
    with tempfile.NamedTemporaryFile() as body:
        argv = ["curl", "-sS", "-k", "--http1.1", "--max-time", str(timeout), "-o", body.name]
        argv += ["-w", "%{http_code}", url]
        if post is not None:
            argv += ["--data-binary", "@-", "-H", "content-type: application/octet-stream"]
        done = subprocess.run(argv, input=post, capture_output=True, timeout=timeout + 5)
        code = int(done.stdout or b"0") if done.stdout.strip().isdigit() else 0
        return code, Path(body.name).read_bytes()


def wait_ready(run: Running, scenario: Scenario, timeout: float) -> None:
    """Polls with curl until the server answers; then checks the answer is the right one."""
    deadline = time.monotonic() + timeout
    code = 0
    body = b""
    while time.monotonic() < deadline:
        if run.proc.poll() is not None:
            run.status, run.reason = FAILED, f"exited ({run.proc.returncode}): {log_tail(run)}"
            return
        code, body = curl(run.url, scenario.post, timeout=3)
        if code:
            break
        time.sleep(0.3)
    else:
        run.status, run.reason = FAILED, f"no answer within {timeout:.0f} s: {log_tail(run)}"
        return
    if scenario.websocket:
        done = subprocess.run(
            [sys.executable, str(BENCH / "wsbench.py"), "--port", str(run.port), "--check"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            reason = json.loads(done.stdout or b'{"error": "no output"}').get("error", "")
            run.status, run.reason = FAILED, f"WebSocket echo failed: {reason}"
        return
    if code != 200:
        run.status, run.reason = FAILED, f"GET {scenario.path} answered {code}: {body[:80]!r}"
        return
    problem = scenario.expect(CTX, body)
    if problem:
        run.status, run.reason = FAILED, f"wrong response: {problem}"


# ---------------------------------------------------------------------------------------------------------
# Load


UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def parse_duration_us(text: str) -> float:
    for unit in ("us", "ms", "s"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * UNITS[unit]
    raise ValueError(text)


def parse_size(text: str) -> float:
    scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
    for unit in ("GB", "MB", "KB", "B"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale[unit]
    return float(text)


def parse_wrk(out: str) -> dict[str, Any]:
    result: dict[str, Any] = {"non2xx": 0, "socket_errors": ""}
    for raw in out.splitlines():
        line = raw.strip()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(line.split()[1])
        elif line.startswith("Transfer/sec:"):
            result["bytes_per_s"] = parse_size(line.split()[1])
        elif line.startswith("50%"):
            result["p50_us"] = parse_duration_us(line.split()[1])
        elif line.startswith("99%"):
            result["p99_us"] = parse_duration_us(line.split()[1])
        elif line.startswith("Non-2xx or 3xx responses:"):
            result["non2xx"] = int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            result["socket_errors"] = line.split(":", 1)[1].strip()
        elif "requests in" in line:
            result["requests"] = int(line.split()[0])
    return result


def wrk_argv(scenario: Scenario, url: str, seconds: float) -> list[str]:
    threads = 2 if not scenario.pinned else 1
    argv = taskset(scenario.pinned, CLIENT_CPU)
    argv += ["wrk", f"-t{threads}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency"]
    if scenario.lua:
        argv += ["-s", str(BENCH / "lua" / scenario.lua)]
    return [*argv, url]


def ws_argv(scenario: Scenario, port: int, seconds: float) -> list[str]:
    argv = taskset(scenario.pinned, CLIENT_CPU)
    return [*argv, sys.executable, str(BENCH / "wsbench.py"), "--port", str(port), "-d", f"{seconds:g}"]


def measure(scenario: Scenario, run: Running, seconds: float) -> dict[str, Any]:
    """One round against one server. Raises RuntimeError with the reason when the round is not valid."""
    cpu_before = cpu_seconds(run.proc.pid)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if scenario.websocket:
        argv = ws_argv(scenario, run.port, seconds)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        result: dict[str, Any] = json.loads(done.stdout or '{"error": "no output"}')
        if "error" in result or result.get("error_count"):
            raise RuntimeError(f"wsbench: {result.get('error') or result.get('errors')}")
    else:
        argv = wrk_argv(scenario, run.url, seconds)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        result = parse_wrk(done.stdout)
        if done.returncode != 0 or "rps" not in result:
            raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stderr or done.stdout)[-200:]}")
        if result["non2xx"] > 0.001 * max(1, result.get("requests", 0)):
            raise RuntimeError(f"{result['non2xx']} of {result.get('requests')} responses were not 2xx/3xx")
    cpu = cpu_seconds(run.proc.pid) - cpu_before
    client = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = client.ru_utime + client.ru_stime - client_before.ru_utime - client_before.ru_stime
    result["client_cpu"] = client_cpu / seconds
    requests = result.get("requests") or result["rps"] * seconds
    result["cpu_us_per_req"] = cpu / requests * 1e6 if requests else 0.0
    if run.proc.poll() is not None:
        raise RuntimeError(f"server exited during the round ({run.proc.returncode}): {log_tail(run)}")
    if result["rps"] <= 0:
        raise RuntimeError("no request completed")
    return result


# ---------------------------------------------------------------------------------------------------------
# The run


@dataclass
class Settings:
    seconds: float
    rounds: int
    warmup: float
    quick: bool
    out: Path
    only: list[str]
    note: str


def make_files(www: Path) -> dict[str, bytes]:
    www.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, size in (
        ("1k.bin", 1024),
        ("50k.bin", 50 * 1024),
        ("100k.bin", 100 * 1024),
        ("1m.bin", 1 << 20),
    ):
        data = os.urandom(size)
        (www / name).write_bytes(data)
        files[name] = data
    return files


def make_cert(out: Path) -> tuple[Path, Path]:
    cert, key = out / "cert.pem", out / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def uringasgi_command() -> list[str]:
    explicit = os.environ.get("URINGASGI")
    if explicit:
        return shlex.split(explicit)
    return [str(ROOT / ".venv" / "bin" / "uringasgi")]


def uringasgi_help(command: list[str]) -> str:
    try:
        return subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60).stdout
    except OSError:
        return ""


def uringasgi_serves(ctx: Ctx, logs: Path) -> str:
    """Starts `uringasgi hello:app` and probes it with curl. Returns "" if it serves, else why not."""
    if not Path(ctx.uringasgi[0]).exists() and not shutil.which(ctx.uringasgi[0]):
        return f"{ctx.uringasgi[0]} is not installed (run `make install`)"
    scenario = SCENARIOS[0]
    port = free_ports(1)
    run = start(uringasgi(ctx, "hello:app", port, workers=1), "http", "/", True, logs, SERVER_CPU)
    try:
        wait_ready(run, scenario, timeout=30)
    finally:
        stop(run)
    if run.status == OK:
        return ""
    return f"`uringasgi hello:app --host {HOST} --port P` {run.reason}"


def run_scenario(scenario: Scenario, settings: Settings, logs: Path, serves: str) -> dict[str, Any]:
    port = free_ports(8)
    launches = scenario.launches(CTX, port)
    scheme = "https" if scenario.tls else "http"
    runs: list[Running] = []
    skipped: list[dict[str, Any]] = []
    for launch in launches:
        if launch.server == URINGASGI:
            missing = [opt for opt in launch.needs if not has_option(CTX.uringasgi_help, opt)]
            if serves or missing:
                why = serves or f"uringasgi has no {', '.join(missing)} option"
                skipped.append({"server": URINGASGI, "status": NOT_BUILT, "reason": why, "note": launch.note})
                continue
        runs.append(start(launch, scheme, scenario.path, scenario.pinned, logs, SERVER_CPU))
    try:
        for run in runs:
            wait_ready(run, scenario, timeout=60)
            if run.launch.server == URINGASGI and scenario.websocket and "upgrade answered" in run.reason:
                # It serves HTTP but refuses the upgrade: WebSocket support is not there yet.
                run.status = NOT_BUILT
            if run.status != OK:
                print(f"  {run.launch.server}: {run.status}: {run.reason}", flush=True)
        live = [r for r in runs if r.status == OK]
        if settings.warmup > 0:
            for run in live:
                try:
                    measure(scenario, run, settings.warmup)
                except RuntimeError as exc:
                    run.status, run.reason = FAILED, f"warm-up: {exc}"
        for index in range(settings.rounds):
            for run in live:
                if run.status != OK:
                    continue
                try:
                    result = measure(scenario, run, settings.seconds)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    run.status, run.reason = FAILED, f"round {index + 1}: {exc}"
                    continue
                run.rounds.append(result)
                name = run.launch.server
                print(
                    f"  round {index + 1}/{settings.rounds} {name:<11} {result['rps']:>10,.0f} req/s"
                    f"  p99 {fmt_ms(result['p99_us']):>7} ms  client CPU {result['client_cpu'] * 100:3.0f}%",
                    flush=True,
                )
        for run in live:
            if run.status == OK:
                run.rss_kib = rss_kib(run.proc.pid)
    finally:
        for run in runs:
            stop(run)
    rows = [summarise(run, scenario, settings) for run in runs] + skipped
    ranked = [r for r in rows if r["status"] == OK and r["server"] != URINGASGI]
    peers = [r for r in ranked if r["server"] not in scenario.references]
    best = max(peers, key=lambda r: r["rps"]) if peers else None
    base = next((r for r in rows if r["server"] == UVICORN and r["status"] == OK), None)
    for row in rows:
        if row["status"] != OK:
            continue
        row["x_uvicorn"] = row["rps"] / base["rps"] if base else None
        row["x_best"] = row["rps"] / best["rps"] if best else None
        row["best_peer"] = best["server"] if best else None
    order = [launch.server for launch in launches]
    rows.sort(key=lambda r: order.index(r["server"]))
    return {
        "key": scenario.key,
        "title": scenario.title,
        "note": scenario.note,
        "path": scenario.path,
        "rows": rows,
        "references": list(scenario.references),
        "wrk": shlex.join(
            ws_argv(scenario, 0, settings.seconds)
            if scenario.websocket
            else wrk_argv(scenario, "URL", settings.seconds)
        ),
    }


def summarise(run: Running, scenario: Scenario, settings: Settings) -> dict[str, Any]:
    row: dict[str, Any] = {
        "server": run.launch.server,
        "status": run.status,
        "reason": run.reason,
        "note": run.launch.note,
        "command": shlex.join(run.launch.argv),
        "url": run.url,
    }
    if run.status != OK or not run.rounds:
        if run.status == OK:
            row["status"], row["reason"] = FAILED, "no round completed"
        return row
    rps = [r["rps"] for r in run.rounds]
    median = statistics.median(rps)
    row.update(
        rps=median,
        rps_min=min(rps),
        rps_max=max(rps),
        spread=(max(rps) - min(rps)) / median if median else 0.0,
        rounds=[round(v, 1) for v in rps],
        p50_us=statistics.median(r["p50_us"] for r in run.rounds),
        p99_us=statistics.median(r["p99_us"] for r in run.rounds),
        cpu_us_per_req=statistics.median(r["cpu_us_per_req"] for r in run.rounds),
        client_cpu=statistics.median(r["client_cpu"] for r in run.rounds),
        mib_per_s=statistics.median(r.get("bytes_per_s", 0.0) for r in run.rounds) / (1 << 20),
        rss_mib=run.rss_kib / 1024,
        socket_errors=[r["socket_errors"] for r in run.rounds if r.get("socket_errors")],
    )
    return row


# ---------------------------------------------------------------------------------------------------------
# Reports


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "memory_gib": round(int(mem) / (1 << 20), 1),
        "os": platform.freedesktop_os_release().get("PRETTY_NAME", "linux"),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def command_output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else ""


def versions(ctx: Ctx) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("uvicorn", "uvloop", "httptools", "h11", "granian", "hypercorn", "fastapi", "starlette"):
        out[name] = metadata.version(name)
    for name in ("pydantic", "websockets", "wsproto"):
        out[name] = metadata.version(name)
    out["nginx"] = command_output(["nginx", "-v"]).replace("nginx version: ", "")
    out["wrk"] = command_output(["wrk", "-v"]).split(" [")[0].replace("wrk ", "")
    out["openssl"] = command_output(["openssl", "version"])
    out["uringasgi"] = command_output([*ctx.uringasgi, "--version"]).replace("uringasgi, version ", "")
    commit = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "uringasgi"]).returncode
    out["uringasgi_commit"] = commit + (" (uncommitted changes in uringasgi/)" if dirty else "")
    return out


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def row_cells(row: dict[str, Any], scenario: dict[str, Any]) -> list[str]:
    name = row["server"] + (f" ({row['note']})" if row.get("note") else "")
    if row["server"] in scenario["references"]:
        name += ", reference"
    if row["status"] != OK:
        label = NOT_BUILT if row["status"] == NOT_BUILT else "FAILED"
        reason = row["reason"].replace("|", "\\|")
        return [name, f"**{label}**: {reason}"] + [""] * (len(HEADER) - 2)
    return [
        name,
        fmt_rps(row["rps"]),
        f"{fmt_rps(row['rps_min'])} - {fmt_rps(row['rps_max'])} ({row['spread'] * 100:.1f}%)",
        fmt_ms(row["p50_us"]),
        fmt_ms(row["p99_us"]),
        f"{row['cpu_us_per_req']:.1f}",
        f"{row['client_cpu'] * 100:.0f}%",
        f"{row['rss_mib']:.1f}",
        f"{row['mib_per_s']:.1f}",
        fmt_ratio(row.get("x_uvicorn")),
        fmt_ratio(row.get("x_best")),
    ]


METHOD = """\
- Each server runs one worker pinned to CPU {server} (`taskset -c {server}`); the load client is pinned to
  CPU {client}. The two-worker scenario pins nothing.
- Load: `wrk -t1 -c{conns} --latency` over keep-alive connections; WebSocket: `bench/wsbench.py`, same shape.
- Per server a {warmup:g} s warm-up, then {rounds} rounds of {seconds:g} s interleaved across the servers of
  the scenario (A B C A B C). All servers of a scenario are up at once; the others idle while one is measured.
- req/s is the median of the rounds; min - max and the spread ((max - min) / median) show how noisy the
  rounds were. p50/p99 are wrk's latency percentiles, median over rounds.
- server CPU µs/req: user + system CPU time of all the server's processes during a round over the requests
  in it (clock-tick resolution). client CPU: the load client's CPU time over the round's length; near 100%
  means the client, not the server, set the pace. RSS: VmRSS summed over the server's processes after the
  last round.
- x uvicorn: ratio to uvicorn with httptools and uvloop. x best peer: ratio to the fastest server of the
  scenario other than uringasgi (references such as nginx's fixed 200 excluded).
- Access logs are off on every server. uvicorn runs `--http httptools --loop uvloop`, uvicorn-h11
  `--http h11 --loop asyncio`, hypercorn `-k uvloop`, granian its defaults (`--interface asgi`).
- A uringasgi row marked **not built yet** is a feature this build does not have; the reason given is the
  server's own answer or the option missing from `uringasgi --help`."""

HEADER = [
    "server",
    "req/s (median)",
    "min - max (spread)",
    "p50 ms",
    "p99 ms",
    "server CPU µs/req",
    "client CPU",
    "RSS MiB",
    "MiB/s",
    "x uvicorn",
    "x best peer",
]


def markdown(report: dict[str, Any]) -> str:
    m, v, settings = report["machine"], report["versions"], report["settings"]
    lines = ["# Benchmark results", ""]
    lines.append(
        f"Taken {report['started']} to {report['finished']} (UTC) with `{report['invocation']}`"
        f"{' (QUICK smoke run: numbers are not meaningful)' if report['quick'] else ''}."
    )
    if report["note"]:
        lines += ["", f"**Conditions:** {report['note']}"]
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, kernel {m['kernel']}, {m['os']}. "
        f"Load average at start {' '.join(m['loadavg'])}, at end {' '.join(report['loadavg_end'])}.",
        "",
        "## Summary (requests/s, median of rounds)",
        "",
    ]
    servers = list(COLOURS)
    lines.append("| scenario | " + " | ".join(servers) + " |")
    lines.append("|---|" + "---:|" * len(servers))
    for sc in report["scenarios"]:
        cells = []
        for server in servers:
            row = next((r for r in sc["rows"] if r["server"] == server), None)
            if row is None:
                cells.append("")
            elif row["status"] == NOT_BUILT:
                cells.append("not built yet")
            elif row["status"] != OK:
                cells.append("FAILED")
            else:
                cells.append(fmt_rps(row["rps"]))
        lines.append(f"| {sc['title']} | " + " | ".join(cells) + " |")
    lines += ["", "![requests/s per scenario](results.png)", ""]
    lines += [
        "## Method",
        "",
        *METHOD.format(
            server=SERVER_CPU,
            client=CLIENT_CPU,
            conns=CONNECTIONS,
            warmup=settings["warmup"],
            rounds=settings["rounds"],
            seconds=settings["seconds"],
        ).splitlines(),
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {val}" for k, val in v.items()),
        "",
    ]
    for sc in report["scenarios"]:
        lines += [f"## {sc['title']}", ""]
        if sc["note"]:
            lines += [sc["note"], ""]
        lines.append("| " + " | ".join(HEADER) + " |")
        lines.append("|---|" + "---:|" * (len(HEADER) - 1))
        lines += ["| " + " | ".join(row_cells(row, sc)) + " |" for row in sc["rows"]]
        lines += ["", "Commands:", "", "```"]
        lines += [row["command"] for row in sc["rows"] if row.get("command")]
        lines += [
            sc["wrk"].replace(
                "URL", f"{'https' if 'https' in sc['key'] else 'http'}://{HOST}:PORT{sc['path']}"
            )
        ]
        lines += ["```", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    scenarios = report["scenarios"]
    servers = [s for s in COLOURS if any(r["server"] == s for sc in scenarios for r in sc["rows"])]
    width = 0.8 / max(1, len(servers))
    fig, ax = plt.subplots(figsize=(max(10, 1.3 * len(scenarios)), 6.5))
    for i, server in enumerate(servers):
        xs, ys, lo, hi = [], [], [], []
        for x, sc in enumerate(scenarios):
            row = next((r for r in sc["rows"] if r["server"] == server), None)
            pos = x - 0.4 + width * (i + 0.5)
            if row is None:
                continue
            if row["status"] != OK:
                label = "n/b" if row["status"] == NOT_BUILT else "fail"
                ax.text(
                    pos, 1.2, label, rotation=90, ha="center", va="bottom", fontsize=7, color=COLOURS[server]
                )
                continue
            xs.append(pos)
            ys.append(row["rps"])
            lo.append(row["rps"] - row["rps_min"])
            hi.append(row["rps_max"] - row["rps"])
        ax.bar(xs, ys, width, color=COLOURS[server], yerr=[lo, hi], capsize=2, ecolor="black")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1)
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels([sc["title"] for sc in scenarios], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("requests/s (median; whiskers: min-max of rounds; log scale)")
    title = "uringasgi and peers, one worker on CPU 0, wrk -t1 -c64 on CPU 1"
    ax.set_title(title + (" (QUICK smoke run)" if report["quick"] else ""))
    ax.grid(axis="y", which="both", alpha=0.3)
    # Explicit handles: a server with no bar at all (not built yet everywhere) still gets its colour.
    handles = [Patch(color=COLOURS[s], label=s) for s in servers]
    ax.legend(handles=handles, fontsize=8, ncol=len(servers))
    fig.text(0.01, 0.01, f"{report['machine']['cpu']}, kernel {report['machine']['kernel']}; "
             f"{report['started']} UTC; n/b = not built yet", fontsize=7)  # fmt: skip
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def text_summary(report: dict[str, Any]) -> str:
    lines = []
    for sc in report["scenarios"]:
        lines.append(sc["title"])
        for row in sc["rows"]:
            if row["status"] != OK:
                label = NOT_BUILT if row["status"] == NOT_BUILT else "FAILED"
                lines.append(f"  {row['server']:<12} {label}: {row['reason'][:150]}")
                continue
            spread = f"[{fmt_rps(row['rps_min'])} - {fmt_rps(row['rps_max'])}, {row['spread'] * 100:.1f}%]"
            x_uvicorn = fmt_ratio(row.get("x_uvicorn")) or "-"
            ratios = f"x uvicorn {x_uvicorn:>6}  x best {fmt_ratio(row.get('x_best')):>6}"
            rps = fmt_rps(row["rps"])
            lines.append(
                f"  {row['server']:<12} {rps:>8} req/s {spread:<24} p50 {fmt_ms(row['p50_us']):>6} ms"
                f"  p99 {fmt_ms(row['p99_us']):>7} ms  cpu {row['cpu_us_per_req']:6.1f} µs/req"
                f"  rss {row['rss_mib']:5.1f} MiB  {ratios}"
            )
    return "\n".join(lines)


def update_readme(report: dict[str, Any], md: str) -> None:
    """Puts the summary table between the bench markers of README.md (full runs only)."""
    readme = ROOT / "README.md"
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    text = readme.read_text()
    if begin not in text or end not in text:
        return
    summary = md.split("## Summary (requests/s, median of rounds)\n", 1)[1].split("\n## Method", 1)[0]
    machine_line = next(line for line in md.splitlines() if line.startswith("Machine:"))
    block = "\n".join(
        [
            begin,
            f"Latest `make bench` ({report['started']} UTC), requests/s, one worker pinned per server; "
            "details, method and commands in [bench/RESULTS.md](bench/RESULTS.md).",
            *([f"Conditions: {report['note']}"] if report["note"] else []),
            "",
            machine_line,
            summary.strip().replace("](results.png)", "](bench/results.png)"),
            end,
        ]
    )
    head, rest = text.split(begin, 1)
    readme.write_text(head + block + rest.split(end, 1)[1])


def write_reports(report: dict[str, Any], where: Path, *, readme: bool) -> None:
    md = markdown(report)
    (where / "RESULTS.md").write_text(md + "\n")
    plot(report, where / "results.png")
    if readme:
        update_readme(report, md)
    print()
    print(text_summary(report))
    print(f"\nwrote {where / 'RESULTS.md'} and {where / 'results.png'}")


CTX: Ctx


def main() -> int:
    global CTX
    parser = argparse.ArgumentParser(description="uringasgi benchmark runner")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="smoke run: writes to bench/out/quick only")
    parser.add_argument("--only", default="", help="comma-separated scenario keys")
    parser.add_argument("--note", default="", help="conditions of the run, printed in RESULTS.md")
    parser.add_argument("--report-only", type=Path, help="rewrite the reports from a results.json")
    args = parser.parse_args()
    if args.report_only:
        write_reports(json.loads(args.report_only.read_text()), args.report_only.parent, readme=False)
        return 0
    out = BENCH / "out"
    settings = Settings(
        seconds=args.seconds,
        rounds=args.rounds,
        warmup=args.warmup,
        quick=args.quick,
        # A smoke run or a partial run never replaces the committed results.
        out=out / "quick" if args.quick else out / "partial" if args.only else BENCH,
        only=[k for k in args.only.split(",") if k],
        note=args.note,
    )
    unknown = [k for k in settings.only if k not in {s.key for s in SCENARIOS}]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {[s.key for s in SCENARIOS]}")
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    logs = work / "logs"
    logs.mkdir(parents=True)
    settings.out.mkdir(parents=True, exist_ok=True)
    www = work / "www"
    files = make_files(www)
    os.environ["BENCH_WWW"] = str(www)
    cert, key = make_cert(work)
    command = uringasgi_command()
    CTX = Ctx(www, work, cert, key, command, uringasgi_help(command), files=files)
    scenarios = [s for s in SCENARIOS if not settings.only or s.key in settings.only]

    cases = sum(len(s.launches(CTX, 40000)) for s in scenarios)
    estimate = cases * (settings.warmup + settings.rounds * settings.seconds) + 8 * len(scenarios)
    print(f"{len(scenarios)} scenarios, {cases} server cases, about {estimate / 60:.1f} min", flush=True)

    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": machine(),
        "versions": versions(CTX),
        "quick": settings.quick,
        "note": settings.note,
        "invocation": os.environ.get("BENCH_INVOCATION", "bench/run.sh"),
        "settings": {"seconds": settings.seconds, "rounds": settings.rounds, "warmup": settings.warmup},
        "scenarios": [],
    }
    serves = uringasgi_serves(CTX, logs)
    print(f"uringasgi: {'serves' if not serves else NOT_BUILT + ': ' + serves}", flush=True)

    upstream: Running | None = None
    try:
        for scenario in scenarios:
            print(f"{scenario.title}", flush=True)
            if scenario.key == "proxy" and upstream is None:
                port = free_ports(1)
                CTX.upstream_port = port
                launch = nginx(CTX, "upstream", port, name="upstream")
                upstream = start(launch, "http", "/1k.bin", True, logs, CLIENT_CPU)
                wait_ready(upstream, scenario, timeout=30)
                if upstream.status != OK:
                    print(f"  upstream failed: {upstream.reason}", flush=True)
            report["scenarios"].append(run_scenario(scenario, settings, logs, serves))
    finally:
        if upstream is not None:
            stop(upstream)
    report["finished"] = time.strftime("%H:%M", time.gmtime())
    report["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    if upstream is not None:
        proxy = next(sc for sc in report["scenarios"] if sc["key"] == "proxy")
        proxy["note"] += f" Upstream command: `{shlex.join(upstream.launch.argv)}`."

    (settings.out / "results.json").write_text(json.dumps(report, indent=1))
    write_reports(report, settings.out, readme=settings.out == BENCH)

    failures = [
        (sc["key"], r["server"], r["reason"])
        for sc in report["scenarios"]
        for r in sc["rows"]
        if r["status"] == FAILED
    ]
    counted = sum(1 for sc in report["scenarios"] for r in sc["rows"] if r["status"] == OK)
    not_built = sum(1 for sc in report["scenarios"] for r in sc["rows"] if r["status"] == NOT_BUILT)
    print(f"{counted} cases measured, {not_built} not built yet, {len(failures)} failed")
    for key, server, reason in failures:
        print(f"FAILED {key} {server}: {reason}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
