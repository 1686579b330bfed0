"""Write the fuzz seed corpus: every case of tests/unit/cases/h1corpus.py, under a few option bytes.

The option byte (see fuzz_h1.c) picks the SIMD level, the limits preset and the split pattern, so each case
starts out on several paths. Usage: python make_seeds.py OUT_DIR
"""

from __future__ import annotations

import hashlib
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "unit" / "cases"))
from h1corpus import CASES

OPTIONS = (0x00, 0x01, 0x16, 0x2A, 0x7F, 0xF2)


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, case in enumerate(CASES):
        for opt in (OPTIONS[i % len(OPTIONS)], OPTIONS[(i + 3) % len(OPTIONS)]):
            data = bytes([opt]) + case.raw
            (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
            n += 1
    print(f"fuzz: {n} seeds from {len(CASES)} corpus cases")


if __name__ == "__main__":
    main()
