#!/usr/bin/env bash
# Parser benchmark: bench/parser/RESULTS.md. Not a test; run it by hand on a quiet machine:
#   bash bench/parser/run.sh            (ROUNDS=15 interleaved rounds by default)
# C level: ns per request head, uringasgi (each SIMD path) vs picohttpparser vs llhttp, all compiled by the same
# compiler with the same flags in this run, twice: -O2 (what the extension uses) and -O2 -march=native.
# Python level: request bytes to the header list an ASGI scope needs, vs httptools, httparse and h11.
# The peers' C sources come from the PyPI sdists of pypicohp and httptools, unpacked under build/ at bench
# time and never committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/bench-parser
SRC=$OUT/src
mkdir -p "$OUT" "$SRC"
ROUNDS=${ROUNDS:-15}
PICO_VERSION=0.1.3
HTTPTOOLS_VERSION=0.9.0

if [ ! -x "$OUT/venv/bin/python" ]; then
    python3 -m venv "$OUT/venv"
fi
"$OUT/venv/bin/pip" install -q "httptools==$HTTPTOOLS_VERSION" httparse h11 'cffi>=1.16' 2>&1 | grep -v WARNING || true
for spec in "pypicohp==$PICO_VERSION" "httptools==$HTTPTOOLS_VERSION"; do
    name=${spec%%==*}
    ver=${spec##*==}
    if [ ! -d "$SRC/$name-$ver" ]; then
        "$OUT/venv/bin/pip" download -q --no-binary :all: --no-deps -d "$OUT/sdist" "$spec" 2>&1 | grep -v WARNING || true
        tar xzf "$OUT/sdist/$name-$ver.tar.gz" -C "$SRC"
    fi
done
PICO=$SRC/pypicohp-$PICO_VERSION/pypicohp
LLHTTP=$SRC/httptools-$HTTPTOOLS_VERSION/vendor/llhttp

CC=${CC:-gcc}
# Every object starts each function on a 64-byte line, so that no contender's speed depends on where the linker
# put it next to the others: without it, picohttpparser's own unchanged code measured 17.3 to 19.8 ns on the
# small head from one build of ours to the next.
ALIGN=-falign-functions=64
CPU=1
[ "$(nproc)" -gt 1 ] || CPU=0
results_c=()
for flags in "-O2" "-O2 -march=native"; do
    tag=$(echo "$flags" | tr -d ' =-')
    objs=()
    "$CC" $flags $ALIGN -std=gnu11 -w -c -I "$PICO" "$PICO/picohttpparser.c" -o "$OUT/pico-$tag.o"
    objs+=("$OUT/pico-$tag.o")
    for f in api http llhttp; do
        "$CC" $flags $ALIGN -std=gnu11 -w -c -I "$LLHTTP/include" "$LLHTTP/src/$f.c" -o "$OUT/llhttp-$f-$tag.o"
        objs+=("$OUT/llhttp-$f-$tag.o")
    done
    "$CC" $flags $ALIGN -std=gnu11 -Wall -Wextra -Werror -I uringasgi/protocol -I bench/parser -I "$PICO" \
        -I "$LLHTTP/include" bench/parser/bench_parser.c uringasgi/protocol/parser.c "${objs[@]}" -o "$OUT/bench-$tag"
    echo "bench/parser: C, $CC $flags $ALIGN"
    taskset -c "$CPU" "$OUT/bench-$tag" "$ROUNDS" | tee "$OUT/c-$tag.tsv"
    results_c+=("$flags $ALIGN::$OUT/c-$tag.tsv")
done

make -s install >/dev/null
echo "bench/parser: Python"
PYTHONPATH=$ROOT taskset -c "$CPU" "$OUT/venv/bin/python" bench/parser/bench_python.py "$ROUNDS" | tee "$OUT/py.tsv"

"$OUT/venv/bin/python" bench/parser/report.py "$OUT/py.tsv" "${results_c[@]}" >bench/parser/RESULTS.md
# the same tables in bench/RESULTS.md, whose other sections stay as the last `make bench` left them
PYTHONPATH=bench .venv/bin/python -c 'from harness.report import refresh_parser_section; refresh_parser_section()'
echo "bench/parser: wrote bench/parser/RESULTS.md and its section of bench/RESULTS.md"
