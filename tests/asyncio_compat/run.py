"""Run CPython's own ``test.test_asyncio`` suites against UringEventLoop, or against the stock loop.

    python tests/asyncio_compat/run.py [--loop uring|stock|both] [--suite NAME ... | --all] [--json OUT]

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
import faulthandler
import importlib
import json
import os
import pathlib
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
from collections.abc import Iterator
from typing import Any

# The suites the issue names, and the rest of test_asyncio that drives a real loop (``--all``).
SUITES = [
    "test_events",
    "test_futures",
    "test_tasks",
    "test_sock_lowlevel",
    "test_streams",
    "test_subprocess",
]
EXTRA_SUITES = [
    "test_base_events",
    "test_buffered_proto",
    "test_context",
    "test_locks",
    "test_pep492",
    "test_protocols",
    "test_queues",
    "test_runners",
    "test_sendfile",
    "test_server",
    "test_ssl",
    "test_sslproto",
    "test_taskgroups",
    "test_threads",
    "test_timeouts",
    "test_transports",
    "test_unix_events",
    "test_waitfor",
]
# Classes that build one loop per selector (EPoll, Poll, Select, Kqueue): one TargetLoopTests replaces them.
SELECTOR_CLASSES = (
    "KqueueEventLoopTests",
    "EPollEventLoopTests",
    "PollEventLoopTests",
    "SelectEventLoopTests",
)
# Classes that build ``asyncio.SelectorEventLoop()`` in a method: (suite, class, method).
SELECTOR_METHODS = [
    ("test_server", "SelectorStartServerTests", "new_loop"),
    ("test_sslproto", "SelectorStartTLSTests", "new_loop"),
    ("test_buffered_proto", "BufferedProtocolSelectorTests", "new_loop"),
]
TEST_TIMEOUT = float(os.environ.get("ASYNCIO_COMPAT_TEST_TIMEOUT", "180"))  # seconds for one test
MAX_RESTARTS = 20  # children per suite, each after a test that hung or crashed
MEMORY_LIMIT = 2 << 30  # address space per child


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
    for suite_name, cls_name, method in SELECTOR_METHODS:
        if suite_name == name:

            def make_loop(self: Any) -> Any:
                return factory()

            base = getattr(module, cls_name)
            setattr(module, cls_name, type(cls_name, (base,), {method: make_loop, "__module__": name}))
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
    """Records every outcome as it happens, so that a hang or a crash loses only the test it happened in."""

    def __init__(self, state: _State, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state

    def startTest(self, test: unittest.TestCase) -> None:
        self.state.progress.write_text(_short(test))
        faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)  # a hung test ends the child, loudly
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        faulthandler.cancel_dump_traceback_later()
        self.state.save()

    def _note(self, test: Any, status: str, reason: str = "") -> None:
        self.state.outcomes[_short(test)] = {"status": status, "reason": reason}

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


class _State:
    """One suite's outcomes file, shared by the child runs of that suite (a rerun resumes after a hang)."""

    def __init__(self, out: pathlib.Path) -> None:
        self.out = out
        self.progress = out.with_suffix(".progress")
        data = json.loads(out.read_text()) if out.exists() else {}
        self.loop_class: str = data.get("loop_class", "?")
        self.outcomes: dict[str, dict[str, str]] = data.get("outcomes", {})

    def save(self) -> None:
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps({"loop_class": self.loop_class, "outcomes": self.outcomes}, indent=1))
        os.replace(tmp, self.out)


def _tests(suite: unittest.TestSuite) -> Iterator[unittest.TestCase]:
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _tests(item)
        else:
            yield item


def child(suite_name: str, loop: str, out: pathlib.Path, pattern: str | None) -> int:
    import asyncio

    # A runaway test must fail here, not take the shared machine's memory.
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    # A shell starts background jobs with SIGINT ignored, and Python keeps that: then asyncio.Runner installs
    # no SIGINT handler and _thread.interrupt_main() does nothing, so test_runners' interrupt tests spin
    # forever. Give the suites the SIGINT a Python started from a terminal has.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    factory = _install_loop(loop)
    state = _State(out)
    probe = asyncio.new_event_loop()  # proves which loop the policy really makes
    state.loop_class = type(probe).__name__
    probe.close()
    suite = _build_suite(suite_name, factory, pattern)
    todo = unittest.TestSuite(t for t in _tests(suite) if _short(t) not in state.outcomes)
    with open(out.with_suffix(".log"), "a") as log:
        runner = unittest.TextTestRunner(
            stream=log,
            verbosity=2,
            resultclass=lambda *a, **k: _Result(state, *a, **k),  # type: ignore[arg-type]
        )
        runner.run(todo)
    state.save()
    return 0


def _death(stderr: str) -> str:
    """What faulthandler said: why (a timeout, a signal) and where (the innermost frame it printed)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    why = next(
        (x for x in lines if x.startswith(("Timeout", "Fatal Python error"))), lines[-1] if lines else ""
    )
    where = next((x for x in lines if x.startswith("File ")), "")
    return f"{why} {where}".strip()[:300]


def run_suite(suite_name: str, loop: str, workdir: pathlib.Path, pattern: str | None) -> dict[str, Any]:
    """Run one suite in child processes: a child that hangs or dies has its current test recorded as an
    error, and the next child goes on after it."""
    out = workdir / f"{loop}-{suite_name}.json"
    cmd = [sys.executable, __file__, "--child", suite_name, "--loop", loop, "--json", str(out)]
    if pattern:
        cmd += ["-k", pattern]
    t0 = time.monotonic()
    crashes = []
    for _ in range(MAX_RESTARTS + 1):
        progress = out.with_suffix(".progress")
        progress.unlink(missing_ok=True)
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode == 0:
            break
        state = _State(out)
        last = progress.read_text() if progress.exists() else ""
        tail = _death(proc.stderr)
        crashes.append(f"exit {proc.returncode} in {last or '(before the first test)'}: {tail}")
        if not last or last in state.outcomes:
            break  # not a test's fault: do not loop
        state.outcomes[last] = {"status": "error", "reason": f"hung or crashed the process: {tail}"}
        state.save()
    else:
        crashes.append(f"gave up after {MAX_RESTARTS} restarts (before the first test of the rest)")
    data = json.loads(out.read_text()) if out.exists() else {"loop_class": "?", "outcomes": {}}
    return {**data, "crashes": crashes, "seconds": time.monotonic() - t0}


def summarize(loop: str, results: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for suite_name, res in results.items():
        counts: dict[str, int] = {}
        for o in res["outcomes"].values():
            counts[o["status"]] = counts.get(o["status"], 0) + 1
        desc = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        cls = res.get("loop_class", "?")
        lines.append(f"[{loop}] {suite_name} on {cls}: {desc} ({res['seconds']:.0f}s)")
        for crash in res["crashes"]:
            lines.append(f"[{loop}]   CHILD DIED: {crash}")
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
    ap.add_argument(
        "--suite", action="append", choices=SUITES + EXTRA_SUITES, help="default: " + " ".join(SUITES)
    )
    ap.add_argument("--all", action="store_true", help="the default suites and " + " ".join(EXTRA_SUITES))
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
            for suite_name in args.suite or (SUITES + EXTRA_SUITES if args.all else SUITES):
                res = run_suite(suite_name, loop, pathlib.Path(tmp), args.pattern)
                all_results[loop][suite_name] = res
                for line in summarize(loop, {suite_name: res}):
                    print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps(all_results, indent=1, sort_keys=True))

    # A child that died outside any test leaves that suite incomplete: that is a failure of the run.
    incomplete = any(
        c and "(before the first test)" in c
        for per in all_results.values()
        for r in per.values()
        for c in r["crashes"]
    )
    if args.loop == "both":
        stock_fail = failing(all_results["stock"])
        only_uring = {t: r for t, r in failing(all_results["uring"]).items() if t not in stock_fail}
        print(f"failing on stock asyncio: {len(stock_fail)}")
        print(f"failing only on UringEventLoop: {len(only_uring)}")
        for t, r in sorted(only_uring.items()):
            print(f"  {t}: {r}")
        return 1 if only_uring or incomplete else 0
    return 1 if failing(all_results[loops[0]]) or incomplete else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONFAULTHANDLER", "1")
    sys.exit(main())
