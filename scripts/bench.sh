#!/usr/bin/env bash
# make bench: a throwaway database of its own, then every benchmark in one run, figures printed as
# they come (ratios are measured in the same run on this machine). Not part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_NAME=bench STACK_PORT=${BENCH_STACK_PORT:-54331}
export BENCH_DATABASE_URL="postgresql://postgres:postgres@127.0.0.1:$STACK_PORT/postgres"
export LOG_LEVEL=WARNING
scripts/stack.sh down >/dev/null 2>&1 || true
trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
SEED=0 scripts/stack.sh db-up
PY=.venv/bin/python
run() { echo "== $1"; shift; "$PY" "$@" 2>/dev/null; }
run "sandbox page serving"        bench/sandbox_pages.py
run "transaction ingest"          -m bench.ingest
run "partner token sharing"       -m bench.tokens
run "backfill memory"             -m bench.memory
run "webhook intake"              -m bench.webhooks
