#!/usr/bin/env bash
# make soak: the heavy resilience variants (issue 7), on a throwaway cluster like make test's:
# 30 SIGKILLs in one 100k backfill, 60 customers (600 jobs) on two replicas, both Postgres crash
# tests, and the 100k backfill and the webhook storm under both date-filter rules (issue 13; make
# test runs them under `transactionDate` only). Each test prints its figures. Extra pytest options pass through: scripts/soak.sh -x
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_NAME=soak STACK_PORT=${SOAK_STACK_PORT:-54349}
export TEST_STACK_NAME=$STACK_NAME TEST_STACK_PORT=$STACK_PORT
export TEST_DATABASE_URL="postgresql://postgres:postgres@127.0.0.1:$STACK_PORT/postgres"
export RESILIENCE_CRASH_KILLS=${RESILIENCE_CRASH_KILLS:-30}
export RESILIENCE_REPLICA_CUSTOMERS=${RESILIENCE_REPLICA_CUSTOMERS:-60}
export RESILIENCE_DATE_FILTERS=${RESILIENCE_DATE_FILTERS:-transactionDate,postedDate}
scripts/stack.sh down >/dev/null 2>&1 || true
trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
SEED=0 scripts/stack.sh db-up
.venv/bin/python -m pytest -q -s -p no:cacheprovider tests/resilience/test_crash_safety.py \
  tests/resilience/test_database_faults.py tests/resilience/test_replicas.py \
  tests/resilience/test_backfill_both_rules.py tests/resilience/test_webhook_storm.py "$@"
