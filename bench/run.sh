#!/usr/bin/env bash
# `make bench`: every scenario against every peer, then bench/RESULTS.md, bench/results.png and a summary.
# `make bench QUICK=1`: the CI smoke test, 2 s per case and 1 round, output in bench/out/quick/ only; it
# fails only if a scenario produced no number (uringasgi features not built yet are reported, not failed).
# Knobs (environment): SECONDS_PER_ROUND, ROUNDS, WARMUP, ONLY=hello,fastapi, BENCH_NOTE="conditions".
set -euo pipefail
cd "$(dirname "$0")/.."

ENV=bench/.env
if [ ! -x "$ENV/bin/python" ]; then
	python3 -m venv "$ENV"
fi
# Same FastAPI/Starlette/pydantic as the project's venv, so every server runs identical app code.
same=$(.venv/bin/python - <<'PY'
from importlib.metadata import version
print(" ".join(f"{n}=={version(n)}" for n in ("fastapi", "starlette", "pydantic")))
PY
)
stamp="$ENV/.stamp-$(cat bench/requirements.txt <(echo "$same") | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
	echo "bench: installing the peers into $ENV"
	"$ENV/bin/pip" install -q -U pip
	# shellcheck disable=SC2086
	"$ENV/bin/pip" install -q -r bench/requirements.txt $same
	rm -f "$ENV"/.stamp-* && touch "$stamp"
fi

args=()
if [ "${QUICK:-}" = 1 ]; then
	args+=(--quick --seconds 2 --rounds 1 --warmup 1)
else
	args+=(--seconds "${SECONDS_PER_ROUND:-4}" --rounds "${ROUNDS:-3}" --warmup "${WARMUP:-2}")
fi
[ -n "${ONLY:-}" ] && args+=(--only "$ONLY")
[ -n "${BENCH_NOTE:-}" ] && args+=(--note "$BENCH_NOTE")
export BENCH_INVOCATION="make bench${QUICK:+ QUICK=$QUICK}"
exec "$ENV/bin/python" bench/runner.py "${args[@]}"
