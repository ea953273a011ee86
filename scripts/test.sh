#!/usr/bin/env bash
# make test: a throwaway stack on its own port, pgTAP (must PASS), db lint, the generated TypeScript types
# (fresh) and the React example (tsc --noEmit), ruff (which also bans sleeping in tests: TID251), mypy, then pytest last.
#   scripts/test.sh [pytest args]          the full suite (CI runs this)
#   scripts/test.sh --fast [pytest args]   the same without the resilience tests (tests/resilience/: process
#                                          kills, outages, storms) and the soak-like ones (marked `soak`); the
#                                          database tests and the others run side by side (pass paths or -k,
#                                          not -m: each half sets its own)
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [ "${1:-}" = --fast ]; then
  shift
  fast=1
fi
export STACK_NAME=test STACK_PORT=${TEST_STACK_PORT:-54329}; export TEST_STACK_NAME=$STACK_NAME TEST_STACK_PORT=$STACK_PORT
start=$(date +%s)
scripts/stack.sh down >/dev/null 2>&1 || true
scripts/stack.sh install  # apt, npm and pip steps for whatever is missing (a clean clone has no .venv yet)
# mypy needs no database, and is the slowest check without one: it runs on the other core while the
# stack starts and pgTAP runs, and its verdict is read after them.
mypy_log=$(mktemp)
.venv/bin/python -m mypy service sandbox >"$mypy_log" 2>&1 &
mypy_pid=$!
trap 'kill "$mypy_pid" 2>/dev/null || true; rm -f "$mypy_log"; scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
SEED=0 scripts/stack.sh db-up
scripts/stack.sh lint
scripts/stack.sh test-sql
TYPES_DB_URL="postgresql://postgres:postgres@127.0.0.1:$STACK_PORT/postgres" scripts/types.sh --check
node_modules/.bin/tsc -p examples/react --noEmit && echo "[test] tsc: examples/react compiles against supabase/types.ts" >&2
.venv/bin/python -m ruff check service sandbox tests bench
mypy_status=0; wait "$mypy_pid" || mypy_status=$?
cat "$mypy_log"
[ "$mypy_status" -eq 0 ] || { echo "[test] mypy failed (exit $mypy_status)" >&2; exit "$mypy_status"; }
export TEST_DATABASE_URL="postgresql://postgres:postgres@127.0.0.1:$STACK_PORT/postgres"
echo "[test] stack + pgTAP + lint in $(( $(date +%s) - start ))s" >&2
pytest=(.venv/bin/python -m pytest -q -p no:cacheprovider)
if [ "$fast" = 0 ]; then
  "${pytest[@]}" "$@"  # its summary closes the log; a failure exits with its status (set -e)
  exit 0
fi
# The fast lane: the tests marked `database` (tests/conftest.py) run here, one after another as they
# must (they share the job queue, pg_cron and the e2e processes); the rest run beside them on the
# other core, in a process whose database address answers nothing, so a test that reached the
# database unmarked would fail, not race. Each half's summary is printed; either failing fails.
side_log=$(mktemp)
TEST_DATABASE_URL="postgresql://nobody@127.0.0.1:9/none" \
  "${pytest[@]}" --ignore=tests/resilience -m "not soak and not database" "$@" >"$side_log" 2>&1 &
side_pid=$!
trap 'kill "$side_pid" 2>/dev/null || true; rm -f "$side_log" "$mypy_log"; scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
main_status=0; "${pytest[@]}" --ignore=tests/resilience -m "not soak and database" "$@" || main_status=$?
side_status=0; wait "$side_pid" || side_status=$?
echo "[test] the tests without a database, run beside the ones above:"
cat "$side_log"
# 5 is pytest's "no tests collected": fine for one half when arguments select only the other's tests.
ok() { [ "$1" = 0 ] || [ "$1" = 5 ]; }
if ok "$main_status" && ok "$side_status" && [ "$main_status$side_status" != 55 ]; then
  exit 0
fi
echo "[test] fast lane failed: database tests exit $main_status, the others exit $side_status" >&2
exit 1
