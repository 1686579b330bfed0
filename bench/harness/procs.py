"""Server processes: start in their own session, probe with curl, measure RSS and CPU, stop by group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .scenarios import Scenario
from .servers import APPS, BENCH, HOST, Ctx, Launch, taskset

OK = "ok"
NOT_BUILT = "not built yet"
FAILED = "failed"


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


def stop(*runs: Running) -> None:
    """SIGTERM to each server's own process group (each was started in a new session), all at once, then
    SIGKILL to any group still there after 10 s."""
    for run in runs:
        if run.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for run in runs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            run.proc.wait(max(0.1, deadline - time.monotonic()))
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


def wait_ready(run: Running, scenario: Scenario, ctx: Ctx, timeout: float) -> None:
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
    problem = scenario.expect(ctx, body)
    if problem:
        run.status, run.reason = FAILED, f"wrong response: {problem}"
