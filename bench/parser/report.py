"""Write bench/parser/RESULTS.md from the TSVs of one bench/parser/run.sh run (stdout).

Usage: report.py PY_TSV FLAGS=C_TSV...
"""

from __future__ import annotations

import csv
import os
import platform
import subprocess
import sys
import time


def rows(path: str) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def cpu() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    py = rows(sys.argv[1])
    cc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    load = os.getloadavg()
    out = [
        "# Parser benchmark",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `bash bench/parser/run.sh`: "
        f"CPU {cpu()}, {os.cpu_count()} CPUs, {cc}, Python {platform.python_version()}, "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.",
        "",
        *(
            [
                f"**This run is not a measurement to trust:** the load average ({load[0]:.1f}) was above the "
                f"number of CPUs ({os.cpu_count()}), so other work shared the CPU with every contender "
                "and the numbers jump between rounds. Rerun on a quiet machine.",
                "",
            ]
            if load[0] > (os.cpu_count() or 1)
            else []
        ),
        "Each C number is the best of many interleaved batches of about 0.1 ms (every contender measured "
        "in every round, pinned to one CPU; short batches keep most of them clear of other work). "
        "uringasgi does strictly more per parse than picohttpparser: semantic extraction (content-length, "
        "transfer-encoding, connection, expect, upgrade, host checks), the known-header index and "
        "lowercasing names in place. llhttp runs with span-recording callbacks for the URL and "
        "every header name and value, which is what a server needs from it. Each parse of the same "
        "buffer after the first finds its names lowercased already, and uringasgi leaves a lowercase name "
        "unwritten. "
        '"ours" in the ratios is the level CPU detection picks on this machine (the highest measured), '
        "which is what a server runs. Every object is built with `-falign-functions=64`, so that no "
        "contender's speed depends on where the linker placed it beside the others.",
        "",
    ]
    for arg in sys.argv[2:]:
        flags, path = arg.split("::", 1)
        data = rows(path)
        out += [f"## C, ns per request head (`gcc {flags}`)", ""]
        by = {(r["request"], r["parser"]): float(r["ns"]) for r in data}
        reqs = list(dict.fromkeys(r["request"] for r in data))
        parsers = list(dict.fromkeys(r["parser"] for r in data))
        picked = [p for p in parsers if p.startswith("uringasgi")][-1]
        out.append("| request | " + " | ".join(parsers) + " | pico / ours | llhttp / ours |")
        out.append("|---" * (len(parsers) + 3) + "|")
        for req in reqs:
            size = next(r for r in data if r["request"] == req)
            ours = by[(req, picked)]
            cells = [f"{by[(req, p)]:.1f}" for p in parsers]
            out.append(
                f"| {req} ({size['bytes']} B, {size['headers']} headers) | "
                + " | ".join(cells)
                + f" | {by[(req, 'picohttpparser')] / ours:.2f}x | {by[(req, 'llhttp')] / ours:.2f}x |"
            )
        out.append("")
    out += [
        "## Python, µs from request bytes to method, path, query and the ASGI header list",
        "",
        "uringasgi's timed call is the server's own scope builder: it returns the whole ASGI scope dict "
        "(type, asgi, http_version, server, client, scheme, root_path, state, extensions and the rest as "
        "well as those four). httptools runs its callbacks as uvicorn drives it, httparse and h11 their own "
        "APIs; each of them returns the four fields. The fields are checked equal outside the timing.",
        "",
    ]
    by = {(r["request"], r["parser"]): float(r["us"]) for r in py}
    reqs = list(dict.fromkeys(r["request"] for r in py))
    parsers = list(dict.fromkeys(r["parser"] for r in py))
    out.append("| request | " + " | ".join(parsers) + " | httptools / uringasgi |")
    out.append("|---" * (len(parsers) + 2) + "|")
    for req in reqs:
        size = next(r for r in py if r["request"] == req)
        cells = [f"{by[(req, p)]:.2f}" for p in parsers]
        ratio = by[(req, "httptools")] / by[(req, "uringasgi")]
        out.append(
            f"| {req} ({size['bytes']} B, {size['headers']} headers) | "
            + " | ".join(cells)
            + f" | {ratio:.2f}x |"
        )
    out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
