"""Soak check for the engine: RSS flat from 100k to 1M keep-alive requests, fds back to baseline after.

Not a timed test: it reports what it saw and exits non-zero if RSS grew by more than 1 MiB between the
100k and the 1M mark, or if the worker holds more fds once every client has gone than before the first.

    python bench/soak.py [--requests 1000000]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from localproc import free_port, rss_kib, wait_listening

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "bench" / "soak_app.py"


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wrk(url: str, requests: int, rate_guess: float) -> int:
    """Run wrk long enough for about `requests` requests; returns how many it made."""
    seconds = max(2, int(requests / max(rate_guess, 1000)))
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    return int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1_000_000)
    args = ap.parse_args()
    APP.write_text(
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'Hello, world!'})\n"
    )
    port = free_port()
    exe = ROOT / ".venv" / "bin" / "uringasgi"
    proc = subprocess.Popen(
        [str(exe), "soak_app:app", "--port", str(port), "--no-access-log", "--app-dir", str(APP.parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_listening(port)
        base_fds = fds(proc.pid)
        done = 0
        t = time.monotonic()
        done += wrk(url, 100_000, 10_000)
        rate = done / (time.monotonic() - t)
        rss_100k = rss_kib(proc.pid)
        while done < args.requests:
            done += wrk(url, min(200_000, args.requests - done), rate)
        rss_1m = rss_kib(proc.pid)
        time.sleep(0.5)
        after_fds = fds(proc.pid)
        print(f"requests: {done}")
        print(f"worker RSS at ~100k: {rss_100k} KiB; at {done}: {rss_1m} KiB; growth {rss_1m - rss_100k} KiB")
        print(f"worker fds before the first client: {base_fds}; after the last one left: {after_fds}")
        ok = rss_1m - rss_100k <= 1024 and after_fds <= base_fds
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        APP.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
