# The project's commands. Each installs what is missing first (apt, npm, pip), through scripts/stack.sh.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
# `make test` uses its own throwaway cluster, so it can run beside `make up`.
TEST_ENV := STACK_NAME=test STACK_PORT=54329

.PHONY: help install up down demo status cli test test-fast test-sql lint types bench soak

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## install what is missing (Debian PostgreSQL 15 + pg_cron + pgTAP, Supabase CLI, Python deps)
	scripts/stack.sh install

up:  ## start Postgres (127.0.0.1:54322), the sandbox (:8001) and the service (:8000)
	scripts/stack.sh up

down:  ## stop everything `make up` started
	scripts/stack.sh down

# The local stack's settings (OPEN_BANKING_ENV=local: the demo refuses to run against production settings).
LOCAL := set -a; . scripts/local.env; set +a; DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:54322/postgres

demo:  ## the whole CPA story end to end against the running stack
	scripts/stack.sh up
	@$(LOCAL) $(PY) -m service demo

status:  ## the operator status table for the local stack
	@$(LOCAL) $(PY) -m service status

cli:  ## any operator command against the local stack: make cli ARGS="jobs list"
	@$(LOCAL) $(PY) -m service $(ARGS)

test:  ## throwaway stack, pgTAP, lint, then pytest (its summary closes the log); the full suite, as CI runs it
	scripts/test.sh

test-fast:  ## the daily loop: make test without the resilience and soak-like tests (tests/resilience/)
	scripts/test.sh --fast

lint:  ## ruff + mypy
	$(PY) -m ruff check service sandbox tests bench
	$(PY) -m mypy service sandbox

types:  ## regenerate supabase/types.ts (the React app's types) from the migrations; commit the result
	scripts/types.sh

bench:  ## benchmarks (not part of make test)
	scripts/bench.sh

soak:  ## heavy resilience variants: 30 SIGKILLs in a 100k backfill, 600 jobs on 2 replicas, Postgres crashes
	scripts/soak.sh
