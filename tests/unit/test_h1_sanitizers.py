"""`make test` runs the parser and h1 under the sanitizers: a short libFuzzer run (ASan + UBSan) and the
sans-IO unit tests against an AddressSanitizer build, then integration tests whose servers run that build
(the engine). Each script proves itself: the fuzz run reports how many inputs ran clean, the ASan run first
checks that a deliberate out-of-bounds read is caught, in its own process and in one started elsewhere."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_short_fuzz_run_is_clean() -> None:
    env = dict(os.environ, FUZZ_SECONDS="25")
    out = subprocess.run(
        ["bash", "tests/fuzz/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=540
    )
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"fuzz: (\d+) executions clean", out.stdout)
    assert m, out.stdout
    print(m.group(0))
    assert int(m.group(1)) > 10_000, "the fuzzer barely ran"


@pytest.mark.timeout(900)
def test_unit_tests_under_asan() -> None:
    out = subprocess.run(["bash", "tests/asan/run.sh"], cwd=ROOT, capture_output=True, text=True, timeout=840)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "deliberate out-of-bounds read caught" in out.stdout
    unit, integration = (int(n) for n in re.findall(r"(\d+) passed", out.stdout))
    assert unit > 500 and integration > 50, out.stdout[-2000:]
    assert " failed" not in out.stdout
    assert "integration tests clean, no process reported" in out.stdout
