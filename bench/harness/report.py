"""Reports: RESULTS.md, results.png, the plain-text summary and the README table."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from .load import CONNECTIONS, WRK_TIMEOUT
from .procs import NOT_BUILT, OK
from .servers import CLIENT_CPU, HOST, ROOT, SERVER_CPU, URINGASGI, UVICORN, Ctx

# One colour per server, the same in every scenario of the plot.
COLOURS = {
    URINGASGI: "#d62728",
    UVICORN: "#1f77b4",
    "uvicorn-h11": "#aec7e8",
    "granian": "#2ca02c",
    "hypercorn": "#9467bd",
    "nginx": "#7f7f7f",
    "bare": "#bcbd22",
}


def servers_in(scenarios: list[dict[str, Any]]) -> list[str]:
    """The servers with a row in any of the scenarios, in COLOURS order: the columns of the summary and
    the bars of the plot."""
    return [s for s in COLOURS if any(r["server"] == s for sc in scenarios for r in sc["rows"])]


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
- Load: `wrk -t1 -c{conns} --latency --timeout {timeout}s` over keep-alive connections (the timeout is
  raised from wrk's 2 s so that a slow response counts as slow, not as an error); WebSocket:
  `bench/wsbench.py`, same shape.
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
- Commands below are run from the repository root; the servers run in `bench/apps` with
  `PYTHONPATH=bench/apps` and `BENCH_WWW=bench/out/work/www` (the files, made at bench time), and the nginx
  configs are rendered from `bench/nginx/*.conf` into `bench/out/work/nginx/`. Ports are picked free per run.
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
    servers = servers_in(report["scenarios"])
    lines.append("| scenario | " + " | ".join(servers) + " | uringasgi / best peer |")
    lines.append("|---|" + "---:|" * (len(servers) + 1))
    for sc in report["scenarios"]:
        ours = next((r for r in sc["rows"] if r["server"] == URINGASGI and r["status"] == OK), None)
        versus = f"{fmt_ratio(ours.get('x_best'))} {ours.get('best_peer') or ''}" if ours else ""
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
        lines.append(f"| {sc['title']} | " + " | ".join(cells) + f" | {versus.strip()} |")
    lines += ["", noise(report), "", "![requests/s per scenario](results.png)", ""]
    lines += [
        "## Method",
        "",
        *METHOD.format(
            server=SERVER_CPU,
            client=CLIENT_CPU,
            conns=CONNECTIONS,
            timeout=WRK_TIMEOUT,
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
    lines.append(parser_section())
    return "\n".join(lines)


PARSER_BEGIN, PARSER_END = "<!-- parser:begin -->", "<!-- parser:end -->"


def parser_section() -> str:
    """The parser benchmark's tables (bench/parser/RESULTS.md, written by bench/parser/run.sh), one heading
    level down, between markers: a parser run replaces just this part (refresh_parser_section)."""
    source = ROOT / "bench" / "parser" / "RESULTS.md"
    text = source.read_text().strip() if source.exists() else "# Parser benchmark\n\nNot run yet."
    body = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
    note = "From `bash bench/parser/run.sh`, which also writes [bench/parser/RESULTS.md](parser/RESULTS.md)."
    return "\n".join([PARSER_BEGIN, body.replace("\n", f"\n\n{note}\n", 1), PARSER_END, ""])


def splice(text: str, begin: str, end: str, block: str) -> str | None:
    """text with what lies between the markers begin and end (both included) replaced by block; None when
    the markers are not both there."""
    if begin not in text or end not in text:
        return None
    head, rest = text.split(begin, 1)
    return head + block + rest.split(end, 1)[1]


def refresh_parser_section() -> None:
    """After a parser run: its tables into bench/RESULTS.md; the rest stays as `make bench` left it."""
    results = ROOT / "bench" / "RESULTS.md"
    text = results.read_text()
    block = parser_section().rstrip("\n")
    new = splice(text, PARSER_BEGIN, PARSER_END, block)
    results.write_text(new if new is not None else text.rstrip("\n") + "\n\n" + block + "\n")


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    scenarios = report["scenarios"]
    servers = servers_in(scenarios)
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


def noise(report: dict[str, Any]) -> str:
    """How much the rounds of one server disagreed, over the whole run."""
    cases = [
        (r["spread"], sc["title"], r["server"])
        for sc in report["scenarios"]
        for r in sc["rows"]
        if "spread" in r
    ]
    if not cases or report["settings"]["rounds"] < 2:
        return "Noise: one round per case, so no spread to report."
    cases.sort()
    median = statistics.median(c[0] for c in cases)
    worst = cases[-1]
    over = sum(1 for c in cases if c[0] > 0.10)
    return (
        f"Noise: the spread of rounds ((max - min) / median) has a median of {median * 100:.1f}% over "
        f"{len(cases)} cases; {over} cases spread more than 10%; the largest is {worst[0] * 100:.1f}% "
        f"({worst[2]}, {worst[1]})."
    )


def text_summary(report: dict[str, Any]) -> str:
    lines = [noise(report), ""]
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
    summary = md.split("## Summary (requests/s, median of rounds)\n", 1)[1].split("\n## Method", 1)[0]
    machine_line = next(line for line in md.splitlines() if line.startswith("Machine:"))
    paragraphs = [
        f"Latest `make bench` ({report['started']} UTC), requests/s, one worker pinned per server; "
        "details, method and commands in [bench/RESULTS.md](bench/RESULTS.md).",
        *([f"Conditions: {report['note']}"] if report["note"] else []),
        machine_line,
        summary.strip().replace("](results.png)", "](bench/results.png)"),
    ]
    new = splice(readme.read_text(), begin, end, "\n".join([begin, "\n\n".join(paragraphs), end]))
    if new is not None:
        readme.write_text(new)


def write_reports(report: dict[str, Any], where: Path, *, readme: bool) -> None:
    md = markdown(report)
    (where / "RESULTS.md").write_text(md + "\n")
    plot(report, where / "results.png")
    if readme:
        update_readme(report, md)
    print()
    print(text_summary(report))
    print(f"\nwrote {where / 'RESULTS.md'} and {where / 'results.png'}")
