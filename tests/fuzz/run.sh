#!/usr/bin/env bash
# Fuzz the HTTP/1.1 parser and h1 state machine with libFuzzer under ASan and UBSan.
#   FUZZ_SECONDS  how long to run (default 120; `make test` runs a short one)
# Prints "fuzz: N executions clean in S s" and exits 0 only when no crash, leak, timeout or
# invariant violation was found. Crash inputs are kept in build/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/fuzz
SECONDS_TO_RUN=${FUZZ_SECONDS:-120}
PY=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$OUT/corpus" "$OUT/artifacts"

command -v clang >/dev/null || { echo "fuzz: clang is missing (make apt-fuzz installs it)" >&2; exit 2; }
clang -g -O1 -std=gnu11 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -I uringasgi/protocol \
    uringasgi/protocol/parser.c uringasgi/protocol/h1.c tests/fuzz/fuzz_h1.c -o "$OUT/fuzz_h1"

"$PY" tests/fuzz/make_seeds.py "$OUT/seeds"

# The run's own corpus (build/fuzz/corpus) grows across runs; the seeds are merged in every time. The directory
# keeps every unit any run wrote, reduced ones too: at 12,000 files, loading them under ASan took over 1 GB and
# the run failed on its memory limit before fuzzing. Past 3,000 files it is first merged down to the units that
# add coverage (about 2,300 of those 12,000, in 4 s).
if [ "$(find "$OUT/corpus" -type f | wc -l)" -gt 3000 ]; then
    rm -rf "$OUT/corpus.min" && mkdir "$OUT/corpus.min"
    ASAN_OPTIONS=detect_leaks=0 "$OUT/fuzz_h1" -merge=1 -max_len=8192 -timeout=10 "$OUT/corpus.min" "$OUT/corpus" \
        >"$OUT/merge.log" 2>&1 || { tail -n 20 "$OUT/merge.log" >&2; exit 1; }
    rm -rf "$OUT/corpus" && mv "$OUT/corpus.min" "$OUT/corpus"
fi
LOG=$OUT/fuzz.log
set +e
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$OUT/fuzz_h1" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/" "$OUT/corpus" "$OUT/seeds" >"$LOG" 2>&1
rc=$?
set -e
runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$LOG" | grep -oE '[0-9]+$' | awk '{s+=$1} END {print s+0}')
if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|invariant broken|deadly signal' "$LOG"; then
    tail -n 60 "$LOG" >&2
    echo "fuzz: FAILED after $runs executions (exit $rc); inputs in $OUT/artifacts/" >&2
    exit 1
fi
echo "fuzz: $runs executions clean in ${SECONDS_TO_RUN} s (corpus $(ls "$OUT/corpus" | wc -l) inputs)"
