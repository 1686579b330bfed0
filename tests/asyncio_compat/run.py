"""Run CPython's own ``test.test_asyncio`` suites against UringEventLoop, or against the stock loop.

    python tests/asyncio_compat/run.py [--loop uring|stock|both] [--suite test_events ...] [--json OUT]

How the loop gets under test:
- Loops made through the policy (``asyncio.new_event_loop()``, which test_tasks, test_futures, test_streams
  and test_subprocess use) come from ``UringEventLoopPolicy``, which also replaces
  ``asyncio.DefaultEventLoopPolicy`` so the suites' own ``set_event_loop_policy(None)`` resets keep it.
- test_events and test_sock_lowlevel build their loops by hand in one class per selector (EPoll, Poll,
  Select). Those classes are replaced by one class, ``TargetLoopTests``, with the same mixins, whose
  ``create_event_loop`` returns the loop under test. With ``--loop stock`` it returns
  ``SelectorEventLoop(EpollSelector())``, so both runs have the same test ids and can be compared.

Each suite runs in its own child process with a time limit. The result is every test that failed or erred
with its reason (the last line of the traceback); ``--loop both`` also lists the tests that fail only on
UringEventLoop. Exit status: 0 when nothing fails on UringEventLoop that passes on the stock loop (``both``),
or when nothing fails at all (a single loop).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
from typing import Any

SUITES = [
    "test_events",
    "test_futures",
    "test_tasks",
    "test_sock_lowlevel",
    "test_streams",
    "test_subprocess",
]
# The per-selector classes of test_events and test_sock_lowlevel; TargetLoopTests replaces them.
SELECTOR_CLASSES = (
    "KqueueEventLoopTests",
    "EPollEventLoopTests",
    "PollEventLoopTests",
    "SelectEventLoopTests",
)
SUITE_TIMEOUT = 900.0


def _install_loop(kind: str) -> Any:
    """Make ``kind`` the loop of the policy; return the factory ``create_event_loop`` uses."""
    import asyncio
    import selectors

    if kind == "stock":
        return lambda: asyncio.SelectorEventLoop(selectors.EpollSelector())
    from uringasgi.loop.eventloop import UringEventLoop, UringEventLoopPolicy

    # The suites reset the policy with set_event_loop_policy(None), which builds DefaultEventLoopPolicy.
    asyncio.DefaultEventLoopPolicy = UringEventLoopPolicy  # type: ignore[misc]
    asyncio.set_event_loop_policy(UringEventLoopPolicy())
    return UringEventLoop


def _build_suite(name: str, factory: Any, pattern: str | None) -> unittest.TestSuite:
    module = importlib.import_module(f"test.test_asyncio.{name}")
    template = getattr(module, "EPollEventLoopTests", None)
    for cls_name in SELECTOR_CLASSES:
        if hasattr(module, cls_name):
            delattr(module, cls_name)
    if template is not None:

        def create_event_loop(self: Any) -> Any:
            return factory()

        target = type(
            "TargetLoopTests",
            template.__bases__,
            {"create_event_loop": create_event_loop, "__module__": name},
        )
        module.TargetLoopTests = target  # type: ignore[attr-defined]
    loader = unittest.TestLoader()
    if pattern:
        loader.testNamePatterns = [pattern]
    return loader.loadTestsFromModule(module)


def _reason(err: tuple[Any, Any, Any] | str) -> str:
    text = err if isinstance(err, str) else "".join(traceback.format_exception(*err))
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "?")[:300]


def _short(test: unittest.TestCase) -> str:
    return test.id().removeprefix("test.test_asyncio.")


class _Result(unittest.TextTestResult):
    def __init__(self, progress: pathlib.Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress
        self.outcomes: dict[str, dict[str, str]] = {}

    def startTest(self, test: unittest.TestCase) -> None:
        self.progress.write_text(_short(test))
        super().startTest(test)

    def _note(self, test: Any, status: str, reason: str = "") -> None:
        self.outcomes[_short(test)] = {"status": status, "reason": reason}

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._note(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self._note(test, "fail", _reason(err))

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._note(test, "error", _reason(err))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._note(test, "skip", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._note(test, "xfail")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._note(test, "fail", "unexpected success")


def child(suite_name: str, loop: str, out: pathlib.Path, pattern: str | None) -> int:
    import asyncio

    factory = _install_loop(loop)
    suite = _build_suite(suite_name, factory, pattern)
    probe = asyncio.new_event_loop()  # proves which loop the policy really makes
    loop_class = type(probe).__name__
    probe.close()
    progress = out.with_suffix(".progress")
    with open(out.with_suffix(".log"), "w") as log:
        runner = unittest.TextTestRunner(
            stream=log,
            verbosity=2,
            resultclass=lambda *a, **k: _Result(progress, *a, **k),  # type: ignore[arg-type]
        )
        result: Any = runner.run(suite)
    out.write_text(json.dumps({"loop_class": loop_class, "outcomes": result.outcomes}, indent=1))
    return 0


def run_suite(suite_name: str, loop: str, workdir: pathlib.Path, pattern: str | None) -> dict[str, Any]:
    out = workdir / f"{loop}-{suite_name}.json"
    cmd = [sys.executable, __file__, "--child", suite_name, "--loop", loop, "--json", str(out)]
    if pattern:
        cmd += ["-k", pattern]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=SUITE_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        stuck = out.with_suffix(".progress")
        last = stuck.read_text() if stuck.exists() else "?"
        return {
            "outcomes": {},
            "crash": f"timeout after {SUITE_TIMEOUT:.0f}s in {last}",
            "seconds": SUITE_TIMEOUT,
        }
    seconds = time.monotonic() - t0
    if proc.returncode != 0 or not out.exists():
        stuck = out.with_suffix(".progress")
        last = stuck.read_text() if stuck.exists() else "?"
        tail = stderr.strip().splitlines()[-3:]
        return {"outcomes": {}, "crash": f"exit {proc.returncode} in {last}: {tail}", "seconds": seconds}
    data = json.loads(out.read_text())
    return {**data, "crash": None, "seconds": seconds}


def summarize(loop: str, results: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for suite_name, res in results.items():
        counts: dict[str, int] = {}
        for o in res["outcomes"].values():
            counts[o["status"]] = counts.get(o["status"], 0) + 1
        desc = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        cls = res.get("loop_class", "?")
        lines.append(f"[{loop}] {suite_name} on {cls}: {desc} ({res['seconds']:.0f}s)")
        if res["crash"]:
            lines.append(f"[{loop}]   CRASH: {res['crash']}")
        for test_id, o in sorted(res["outcomes"].items()):
            if o["status"] in ("fail", "error"):
                lines.append(f"[{loop}]   {o['status'].upper()} {test_id}: {o['reason']}")
    return lines


def failing(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        t: o["reason"]
        for res in results.values()
        for t, o in res["outcomes"].items()
        if o["status"] in ("fail", "error")
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", choices=["uring", "stock", "both"], default="both")
    ap.add_argument("--suite", action="append", choices=SUITES, help="default: all of them")
    ap.add_argument("-k", dest="pattern", help="only test methods matching this unittest pattern")
    ap.add_argument("--json", type=pathlib.Path, help="write the outcomes of every test here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        assert args.loop in ("uring", "stock") and args.json is not None
        return child(args.child, args.loop, args.json, args.pattern)

    loops = ["stock", "uring"] if args.loop == "both" else [args.loop]
    all_results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="asyncio-compat-") as tmp:
        for loop in loops:
            all_results[loop] = {}
            for suite_name in args.suite or SUITES:
                res = run_suite(suite_name, loop, pathlib.Path(tmp), args.pattern)
                all_results[loop][suite_name] = res
                for line in summarize(loop, {suite_name: res}):
                    print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps(all_results, indent=1, sort_keys=True))

    crashed = any(r["crash"] for per in all_results.values() for r in per.values())
    if args.loop == "both":
        stock_fail = failing(all_results["stock"])
        only_uring = {t: r for t, r in failing(all_results["uring"]).items() if t not in stock_fail}
        print(f"failing on stock asyncio: {len(stock_fail)}")
        print(f"failing only on UringEventLoop: {len(only_uring)}")
        for t, r in sorted(only_uring.items()):
            print(f"  {t}: {r}")
        return 1 if only_uring or crashed else 0
    return 1 if failing(all_results[loops[0]]) or crashed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONFAULTHANDLER", "1")
    sys.exit(main())
