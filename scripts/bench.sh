#!/usr/bin/env bash
# make bench: a throwaway database of its own with production durability (fsync, synchronous_commit,
# full_page_writes on), then every benchmark in one run, figures printed as they come: medians and
# spreads of at least 3 alternating rounds, ratios measured in the same run on this machine. A bench
# that sees an unexpected answer fails the run. Not part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_NAME=bench STACK_PORT=${BENCH_STACK_PORT:-54331} STACK_DURABLE=1
export BENCH_DATABASE_URL="postgresql://postgres:postgres@127.0.0.1:$STACK_PORT/postgres"
export LOG_LEVEL=WARNING
# The read-path bench's 10M transactions get a durable cluster of their own.
READPATH=(env STACK_NAME=bench-readpath STACK_PORT="${BENCH_READPATH_PORT:-54341}")
export BENCH_READPATH_DATABASE_URL="postgresql://postgres:postgres@127.0.0.1:${BENCH_READPATH_PORT:-54341}/postgres"
ERR=$(mktemp)
down() { scripts/stack.sh down >/dev/null 2>&1 || true; "${READPATH[@]}" scripts/stack.sh down >/dev/null 2>&1 || true; }
down
trap 'down; rm -f "$ERR"' EXIT
SEED=0 scripts/stack.sh db-up
SEED=0 "${READPATH[@]}" scripts/stack.sh db-up
PY=.venv/bin/python
echo "make bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -g | awk '/Mem:/ {print $2}') GB RAM"
echo "postgres: $(psql "$BENCH_DATABASE_URL" -X -At -c "select 'fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', full_page_writes=' || current_setting('full_page_writes')")"
run() { echo "== $1"; shift; "$PY" "$@" 2>"$ERR" || { tail -20 "$ERR" >&2; exit 1; }; }
run "daily sync at scale (first: it needs a cluster with no other linked customers)" -m bench.daily_sync
run "sandbox page serving"        -m bench.sandbox_pages
run "transaction ingest"          -m bench.ingest
run "partner token sharing"       -m bench.tokens
run "backfill memory"             -m bench.memory
run "webhook intake"              -m bench.webhooks
run "webhook event processing"   -m bench.events
run "read path under RLS (10M transactions)" -m bench.readpath
