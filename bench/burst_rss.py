"""Memory check for the engine: a worker's RSS through a burst of large uploads and the quiet after it.

wrk posts a body of --kib KiB from each of --clients connections to an echo app (bench/apps/echo.py) for
--seconds, then nothing is sent for --quiet seconds. It reports the worker's RSS before the burst, its peak
(sampled every 50 ms), right after, and every half second of the quiet, and exits non-zero if what the
burst added is not at least half given back by the end of the quiet (loop/trim.c gives it back after 2 s).

    python bench/burst_rss.py [--clients 800] [--kib 256] [--seconds 5] [--quiet 8] [--loop auto]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localproc import free_port, rss_kib, wait_listening

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=800)
    ap.add_argument("--kib", type=int, default=256)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--quiet", type=float, default=8.0)
    ap.add_argument("--loop", default="auto")
    args = ap.parse_args()
    port = free_port()
    exe = ROOT / ".venv" / "bin" / "uringasgi"
    apps = ROOT / "bench" / "apps"
    flags = ["--port", str(port), "--loop", args.loop, "--no-access-log"]
    proc = subprocess.Popen(
        [str(exe), "echo:app", "--app-dir", str(apps), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
            lua.write(
                f'wrk.method = "POST"\nwrk.body = string.rep("x", {args.kib * 1024})\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n'
            )
            lua.flush()
            base = peak = rss_kib(proc.pid)
            url = f"http://127.0.0.1:{port}/"
            load = subprocess.Popen(
                ["wrk", "-t2", f"-c{args.clients}", f"-d{args.seconds}s", "-s", lua.name, url],
                stdout=subprocess.PIPE,
                text=True,
            )
            while load.poll() is None:
                peak = max(peak, rss_kib(proc.pid))
                time.sleep(0.05)
            out = load.communicate()[0]
        after = rss_kib(proc.pid)
        t0 = time.monotonic()
        samples = []
        while time.monotonic() - t0 < args.quiet:
            time.sleep(0.5)
            samples.append((time.monotonic() - t0, rss_kib(proc.pid)))
        end = samples[-1][1]
        m = re.search(r"(\d+) requests in", out)
        requests = m.group(1) if m else "?"
        print(f"{args.clients} clients posting {args.kib} KiB for {args.seconds} s: {requests} requests")
        print(
            f"worker RSS KiB: before {base}, peak {peak}, right after {after}, quiet {args.quiet:g} s: {end}"
        )
        print("quiet (s: KiB):", " ".join(f"{t:.1f}:{kib}" for t, kib in samples))
        ok = end - base <= (peak - base) / 2
        print("OK" if ok else "FAILED: less than half of what the burst added was given back")
        return 0 if ok else 1
    finally:
        proc.terminate()
        proc.wait(15)


if __name__ == "__main__":
    sys.exit(main())
