"""The request corpus (tests/unit/cases/h1corpus.py) through the C parser and h1 state machine.

Every case is fed whole and byte by byte, under each SIMD path the CPU has, and all feeds must give the same
events. An invalid case must end in an error with its exact status; a valid one must match its facts.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent / "cases"))
import h1drive
from h1corpus import CASES, Case
from uringasgi._core import lib

LEVELS = {"scalar": lib.UA_SIMD_SCALAR, "sse42": lib.UA_SIMD_SSE42, "avx2": lib.UA_SIMD_AVX2}


@pytest.fixture(params=list(LEVELS))
def simd(request: pytest.FixtureRequest) -> Iterator[str]:
    before = lib.ua_simd_get()
    if lib.ua_simd_set(LEVELS[request.param]) != 0:
        pytest.skip(f"this CPU has no {request.param}")
    yield request.param
    assert lib.ua_simd_set(before) == 0


def check_head(got: dict[str, Any], want: dict[str, Any]) -> None:
    for key, value in want.items():
        if key == "flags_set":
            assert got["flags"] & value == value, (got["flags"], value)
        elif key == "flags_clear":
            assert got["flags"] & value == 0, (got["flags"], value)
        elif key == "header":
            assert value in got["headers"], got["headers"]
        elif key == "header2":
            assert got["headers"].count(value) == 1 and value in got["headers"][1:], got["headers"]
        elif key == "known_has":
            for k in value:
                slot = got["known"][k]
                name = got["headers"][slot][0]
                assert slot < len(got["headers"]) and name, (k, slot)
        elif key == "n_headers":
            assert len(got["headers"]) == value
        else:
            assert got[key] == value, (key, got[key], value)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 150
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
    statuses = {c.expect for c in CASES if isinstance(c.expect, int)}
    assert statuses == {400, 413, 414, 431, 501, 505}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, simd: str) -> None:
    whole = h1drive.run(case.raw, 0, case.limits)
    bytewise = h1drive.run(case.raw, 1, case.limits)
    assert whole.events == bytewise.events
    assert whole.heads == bytewise.heads
    if isinstance(case.expect, int):
        assert whole.status == case.expect, whole.events
        return
    assert whole.status == 0, whole.events
    want = case.expect
    if "heads" in want:
        assert len(whole.heads) == len(want["heads"]), whole.heads
        for got_head, want_head in zip(whole.heads, want["heads"], strict=True):
            check_head(got_head, want_head)
    if "bodies" in want:
        assert whole.bodies == want["bodies"]
    if "trailers" in want:
        assert [e[1] for e in whole.events if e[0] == "end" and e[1]] == want["trailers"]
    if "close" in want:
        assert whole.closed == want["close"], whole.events
    n_heads = sum(1 for e in whole.events if e[0] == "head")
    assert n_heads == sum(1 for e in whole.events if e[0] == "end"), "every request ends"
    assert whole.leftover == b"" or whole.closed
