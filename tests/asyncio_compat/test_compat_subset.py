"""The part of the CPython asyncio compatibility run that fits in `make test`.

The whole run is `make asyncio-compat`. Here: test_events (the loop API: readers, writers, sockets, servers,
pipes, subprocesses, signals), test_sock_lowlevel, test_streams and test_futures, on UringEventLoop only.
Every test must pass, as every one of them does on the stock loop.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

RUNNER = pathlib.Path(__file__).with_name("run.py")
SUBSET = ["test_events", "test_sock_lowlevel", "test_streams", "test_futures"]


@pytest.mark.timeout(900)
def test_cpython_asyncio_suites_pass_on_uring_event_loop(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "compat.json"
    cmd = [sys.executable, str(RUNNER), "--loop", "uring", "--json", str(out)]
    for suite in SUBSET:
        cmd += ["--suite", suite]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=880)
    results = json.loads(out.read_text())["uring"]
    for suite in SUBSET:
        res = results[suite]
        assert res["crashes"] == [], res["crashes"]
        assert res["loop_class"] == "UringEventLoop"  # the policy really made our loop
        passed = [t for t, o in res["outcomes"].items() if o["status"] == "pass"]
        assert len(passed) > 10, (suite, res["outcomes"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
