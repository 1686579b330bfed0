#!/usr/bin/env bash
# Build the C core under AddressSanitizer and run the sans-IO unit tests (parser, h1, a static mount's
# lifetime, and its brotli copies made on the helper thread) against it; and the helper thread from C
# under LeakSanitizer and ThreadSanitizer (tests/asan/static_jobs.c).
#
# The package is copied to a scratch directory (outside any "build" path: uringasgi/_build.py skips those)
# and built there with UA_SANITIZE=address, so the normal build in the work tree is untouched. Python is
# not built with ASan, so libasan is preloaded, and PYTHONMALLOC=malloc sends every Python allocation
# through it: the tests feed the parser exact-size buffers, so a read one byte past the end is a report.
# Leak detection is off here: CPython deliberately keeps its objects alive at exit, which would bury real
# reports, and the parser and h1 never allocate (the fuzzer, tests/fuzz/run.sh, runs them with
# leak detection on).
#
# Before the tests, a deliberate out-of-bounds read (the parser told the buffer is 1 byte longer than it
# is) must be caught, or this script fails: that proves the set-up would catch a real one.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/uringasgi-asan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/tests/unit"
cp -r uringasgi "$WORK/"
find "$WORK/uringasgi" \( -name '*.so' -o -name '__pycache__' -o -name '_core.c' \) -prune -exec rm -rf {} +
cp tests/unit/test_parser*.py tests/unit/test_h1*.py tests/unit/test_static_lifetime.py tests/unit/test_static_compress.py \
    tests/unit/static_helpers.py "$WORK/tests/unit/"
rm -f "$WORK/tests/unit/test_h1_sanitizers.py"  # it runs this script: no recursion
cp -r tests/unit/cases "$WORK/tests/unit/"
(cd "$WORK" && UA_SANITIZE=address "$PY" uringasgi/_build.py 2>&1 | tail -n 1)

LIBASAN=$(gcc -print-file-name=libasan.so)
[ -e "$LIBASAN" ] || { echo "asan: libasan not found (gcc)" >&2; exit 2; }
run() {
    (cd "$WORK" && env LD_PRELOAD="$LIBASAN" PYTHONMALLOC=malloc PYTHONPATH="$WORK" \
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1 \
        "$PY" "$@")
}

run -c 'import uringasgi._core as c, sys; sys.exit(0 if c.__file__.startswith(sys.argv[1]) else 1)' "$WORK" \
    || { echo "asan: the tests would not load the ASan build" >&2; exit 1; }

set +e
run -c '
from uringasgi._core import ffi, lib
data = b"GET /" + b"a" * 40
buf = ffi.new("uint8_t[]", len(data))
ffi.memmove(buf, data, len(data))
h = ffi.new("struct ua_head *")
lim = ffi.new("struct ua_parse_limits *")
lib.ua_parse_reset(h)
lib.ua_simd_set(lib.UA_SIMD_SCALAR)
lib.ua_parse_request(h, buf, len(data) + 1, lim)
' >"$WORK/canary.log" 2>&1
set -e
if ! grep -q 'heap-buffer-overflow' "$WORK/canary.log"; then
    cat "$WORK/canary.log" >&2
    echo "asan: a deliberate out-of-bounds read went unnoticed: this set-up proves nothing" >&2
    exit 1
fi
echo "asan: deliberate out-of-bounds read caught (heap-buffer-overflow)"

# The static mount's helper thread, from C: LeakSanitizer on (no CPython here to bury real reports) and,
# in a second build, ThreadSanitizer. tests/asan/static_jobs.c says what it checks.
STATIC_C=(uringasgi/static/cache.c uringasgi/static/helper.c uringasgi/static/static.c uringasgi/static/fields.c
    uringasgi/static/mime.c)
for san in address thread; do
    gcc -O1 -g -fsanitize=$san -fno-omit-frame-pointer -I uringasgi tests/asan/static_jobs.c "${STATIC_C[@]}" \
        $(pkg-config --libs libbrotlienc libbrotlidec) -o "$WORK/static_jobs-$san"
    mkdir "$WORK/static_jobs-$san.d"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
        "$WORK/static_jobs-$san" "$WORK/static_jobs-$san.d" | sed "s/^/$san: /"
done

run -m pytest -q -p no:cacheprovider -o addopts= tests/unit "$@"
