"""Benchmark runner: every scenario against every peer, interleaved rounds, one report.

The method (RESULTS.md repeats it beside the numbers):
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
The pieces live in bench/harness/: servers (command lines), scenarios, procs (processes), load (wrk),
report (RESULTS.md, plot, summary).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.load import NoCompletion, measure, wrk_argv, ws_argv
from harness.procs import FAILED, NOT_BUILT, OK, Running, free_ports, rss_kib, start, stop, wait_ready
from harness.report import fmt_ms, machine, versions, write_reports
from harness.scenarios import SCENARIOS, Scenario
from harness.servers import (
    BENCH,
    CLIENT_CPU,
    HOST,
    ROOT,
    SERVER_CPU,
    URINGASGI,
    UVICORN,
    Ctx,
    has_option,
    nginx,
    uringasgi,
)


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
        wait_ready(run, scenario, ctx, timeout=30)
    finally:
        stop(run)
    if run.status == OK:
        return ""
    return f"`uringasgi hello:app --host {HOST} --port P` {run.reason}"


def shown(argv: list[str]) -> str:
    """A command as RESULTS.md prints it: paths relative to the repository root, so it can be rerun there."""
    return shlex.join(argv).replace(f"{ROOT}/", "")


def busy_note(note: str) -> str:
    """The conditions as given, plus a warning when the machine was already busy before the run started."""
    load = float(Path("/proc/loadavg").read_text().split()[0])
    if load < 0.5:
        return note
    busy = f"The 1-minute load average was {load:.2f} before the run started: other work shared the CPUs."
    note = note.strip()
    if note and not note.endswith((".", "!", "?")):
        note += "."
    return f"{note} {busy}".strip()


def run_scenario(scenario: Scenario, ctx: Ctx, settings: Settings, logs: Path, serves: str) -> dict[str, Any]:
    port = free_ports(8)
    launches = scenario.launches(ctx, port)
    scheme = "https" if scenario.tls else "http"
    runs: list[Running] = []
    skipped: list[dict[str, Any]] = []
    for launch in launches:
        if launch.server == URINGASGI:
            missing = [opt for opt in launch.needs if not has_option(ctx.uringasgi_help, opt)]
            if serves or missing:
                why = serves or f"uringasgi has no {', '.join(missing)} option"
                skipped.append({"server": URINGASGI, "status": NOT_BUILT, "reason": why, "note": launch.note})
                continue
        runs.append(start(launch, scheme, scenario.path, scenario.pinned, logs, SERVER_CPU))
    try:
        for run in runs:
            wait_ready(run, scenario, ctx, timeout=60)
            if run.launch.server == URINGASGI and run.status == FAILED:
                # It serves HTTP but the upgrade reaches the app as a plain request (or is refused), or
                # it refuses at start with its own "not built yet" (TLS options that exist ahead of TLS).
                ws_missing = scenario.websocket and "upgrade answered" in run.reason
                if ws_missing or "not built yet" in run.reason.lower():
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
                    try:
                        result = measure(scenario, run, settings.seconds)
                    except NoCompletion:
                        if not settings.quick:
                            raise
                        # A smoke round only needs a number; on a busy machine 64 slow responses (1 MiB
                        # through Starlette) can all still be in flight after 2 s, so give it longer once.
                        result = measure(scenario, run, settings.seconds * 3)
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
        stop(*runs)
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
        "wrk": shown(
            ws_argv(scenario, "PORT", settings.seconds)
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
        "command": shown(run.launch.argv),
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


def main() -> int:
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
    ctx = Ctx(www, work, cert, key, command, uringasgi_help(command), files=files)
    scenarios = [s for s in SCENARIOS if not settings.only or s.key in settings.only]

    cases = sum(len(s.launches(ctx, 40000)) for s in scenarios)
    estimate = cases * (settings.warmup + settings.rounds * settings.seconds) + 8 * len(scenarios)
    print(f"{len(scenarios)} scenarios, {cases} server cases, about {estimate / 60:.1f} min", flush=True)

    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": machine(),
        "versions": versions(ctx),
        "quick": settings.quick,
        "note": busy_note(settings.note),
        "invocation": os.environ.get("BENCH_INVOCATION", "bench/run.sh"),
        "settings": {"seconds": settings.seconds, "rounds": settings.rounds, "warmup": settings.warmup},
        "scenarios": [],
    }
    serves = uringasgi_serves(ctx, logs)
    print(f"uringasgi: {'serves' if not serves else NOT_BUILT + ': ' + serves}", flush=True)

    upstream: Running | None = None
    try:
        for scenario in scenarios:
            print(f"{scenario.title}", flush=True)
            if scenario.key == "proxy" and upstream is None:
                port = free_ports(1)
                ctx.upstream_port = port
                launch = nginx(ctx, "upstream", port, name="upstream")
                upstream = start(launch, "http", "/1k.bin", True, logs, CLIENT_CPU)
                wait_ready(upstream, scenario, ctx, timeout=30)
                if upstream.status != OK:
                    print(f"  upstream failed: {upstream.reason}", flush=True)
            report["scenarios"].append(run_scenario(scenario, ctx, settings, logs, serves))
    finally:
        if upstream is not None:
            stop(upstream)
    report["finished"] = time.strftime("%H:%M", time.gmtime())
    report["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    if upstream is not None:
        proxy = next(sc for sc in report["scenarios"] if sc["key"] == "proxy")
        proxy["note"] += f" Upstream command: `{shown(upstream.launch.argv)}`."

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
