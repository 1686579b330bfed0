#!/usr/bin/env bash
# Build the C core under AddressSanitizer and run the sans-IO unit tests (parser, h1, a static mount's
# lifetime, and its brotli copies made on the helper thread) against it, then integration tests whose server
# processes run it (the engine: connections, sends, sendfile); and the helper thread from C under
# LeakSanitizer and ThreadSanitizer (tests/asan/static_jobs.c).
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
#
# Then the integration tests that drive the engine's lifetimes hardest (ENGINE_TESTS: the bare engine,
# the ASGI send paths and extensions, static files, and whatever pipelines, streams or sends a body), about
# a minute. The server processes they start (tests/serverproc.py, engine_harness.py, static_server.py)
# inherit this environment, so they run the ASan build: PYTHONPATH puts it before the editable install.
# Each process writes its report to a file of its own (log_path), and any report fails the run, so one is
# seen even from a server whose test passed or whose output pytest did not show; a canary first proves
# that a process started elsewhere loads the ASan build and leaves its report there. Tests that run curl
# are left out: curl, preloaded with libasan, hangs at start. So is the 1 GiB file, for time.
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
cp tests/serverproc.py "$WORK/tests/"
cp -r tests/integration "$WORK/tests/"
find "$WORK/tests" -name '__pycache__' -prune -exec rm -rf {} +
(cd "$WORK" && UA_SANITIZE=address "$PY" uringasgi/_build.py 2>&1 | tail -n 1)

LIBASAN=$(gcc -print-file-name=libasan.so)
[ -e "$LIBASAN" ] || { echo "asan: libasan not found (gcc)" >&2; exit 2; }
# RUN_IN: the directory to run in ($WORK); ASAN_LOG: reports go to ASAN_LOG.<pid> instead of stderr.
run() {
    (cd "${RUN_IN:-$WORK}" && env LD_PRELOAD="$LIBASAN" PYTHONMALLOC=malloc PYTHONPATH="$WORK" \
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1${ASAN_LOG:+:log_path=$ASAN_LOG} \
        "$PY" "$@")
}

run -c 'import uringasgi._core as c, sys; sys.exit(0 if c.__file__.startswith(sys.argv[1]) else 1)' "$WORK" \
    || { echo "asan: the tests would not load the ASan build" >&2; exit 1; }

CANARY='
from uringasgi._core import ffi, lib
data = b"GET /" + b"a" * 40
buf = ffi.new("uint8_t[]", len(data))
ffi.memmove(buf, data, len(data))
h = ffi.new("struct ua_head *")
lim = ffi.new("struct ua_parse_limits *")
lib.ua_parse_reset(h)
lib.ua_simd_set(lib.UA_SIMD_SCALAR)
lib.ua_parse_request(h, buf, len(data) + 1, lim)
'
set +e
run -c "$CANARY" >"$WORK/canary.log" 2>&1
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

ENGINE_TESTS="(engine_io or engine_http or send_paths or extensions or static_http or body or upload or stream \
or pipelin) and not curl and not one_gib"
REPORTS="$WORK/asan-reports"
mkdir "$REPORTS"
set +e
RUN_IN="$WORK/tests/integration/apps" ASAN_LOG="$REPORTS/canary" run -c "$CANARY" >/dev/null 2>&1
set -e
if ! cat "$REPORTS"/canary.* 2>/dev/null | grep -q heap-buffer-overflow ||
    ! cat "$REPORTS"/canary.* | grep -qF "$WORK/uringasgi/"; then
    echo "asan: a process started outside $WORK left no report from the ASan build: the servers' would be lost" >&2
    exit 1
fi
rm -f "$REPORTS"/canary.*
echo "asan: a process started elsewhere runs the ASan build and leaves its report in $REPORTS"
set +e
ASAN_LOG="$REPORTS/report" run -m pytest -q -p no:cacheprovider -o addopts= --timeout=120 tests/integration \
    -k "$ENGINE_TESTS"
rc=$?
set -e
if compgen -G "$REPORTS/report.*" >/dev/null; then
    cat "$REPORTS"/report.* >&2
    echo "asan: $(ls "$REPORTS"/report.* | wc -l) process(es) of the integration tests reported" >&2
    exit 1
fi
[ "$rc" = 0 ] || { echo "asan: the integration tests failed" >&2; exit "$rc"; }
echo "asan: integration tests clean, no process reported"
