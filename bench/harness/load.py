"""Load: wrk (and bench/wsbench.py for WebSocket) against one server for one round."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from typing import Any

from .procs import Running, cpu_seconds, log_tail
from .scenarios import Scenario
from .servers import BENCH, CLIENT_CPU, taskset

CONNECTIONS = 64
WRK_TIMEOUT = 10


class NoCompletion(RuntimeError):
    """Not one request finished inside the round: every connection was still waiting when it ended."""


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
    # wrk drops a response slower than its 2 s default as a "timeout"; a slow answer must count as slow.
    argv += ["--timeout", f"{WRK_TIMEOUT}s"]
    if scenario.lua:
        argv += ["-s", str(BENCH / "lua" / scenario.lua)]
    return [*argv, url]


def ws_argv(scenario: Scenario, port: int | str, seconds: float) -> list[str]:
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
        raise NoCompletion("no request completed")
    return result
