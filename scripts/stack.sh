#!/usr/bin/env bash
# The local Supabase-compatible stack, without Docker.
#   scripts/stack.sh install            apt / npm / pip steps for whatever is missing
#   scripts/stack.sh db-up | db-down    PostgreSQL 15 + pg_cron, Supabase roles/auth, migrations
#   scripts/stack.sh up | down          the database, the sandbox and the service (make up / make down)
#   scripts/stack.sh test-sql           pgTAP suites with pg_prove
#   scripts/stack.sh lint               supabase db lint --schema public --fail-on error
#   scripts/stack.sh pg-stop | pg-start   crash and restart PostgreSQL, keeping its data (resilience tests)
#   scripts/stack.sh status | psql
# STACK_PORT (default 54322) and STACK_NAME (default "dev") select the cluster, so `make test`
# can run a throwaway cluster beside a running `make up`. STACK_DURABLE=1 starts it with production
# durability (fsync, synchronous_commit, full_page_writes on: `make bench`); otherwise those are off,
# which is fine for throwaway test data and much faster.
set -euo pipefail

PG_MAJOR=15
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
EXT_DIR=/usr/share/postgresql/$PG_MAJOR/extension
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${STACK_PORT:-54322}
NAME=${STACK_NAME:-dev}
# Under /tmp so the postgres OS user can reach it whatever the checkout's permissions are.
STACK_DIR=${STACK_DIR:-/tmp/obcpa-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)-$NAME}
PGDATA=$STACK_DIR/data
SANDBOX_PORT=${SANDBOX_PORT:-8001}
SERVICE_PORT=${SERVICE_PORT:-8000}
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGPASSWORD=postgres PGDATABASE=postgres
DB_URL="postgresql://postgres:postgres@localhost:$PORT/postgres?sslmode=disable"
export SUPABASE_TELEMETRY_DISABLED=1 SUPABASE_NO_UPDATE_NOTIFIER=1 DO_NOT_TRACK=1
SUPABASE="$ROOT/node_modules/.bin/supabase"
PY="$ROOT/.venv/bin/python"

log() { printf '[stack] %s\n' "$*" >&2; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

install() {
  local need=()
  [ -x "$PGBIN/postgres" ]                || need+=("postgresql-$PG_MAJOR")
  [ -f "$EXT_DIR/pg_cron.control" ]       || need+=("postgresql-$PG_MAJOR-cron")
  [ -f "$EXT_DIR/pgtap.control" ]         || need+=("postgresql-$PG_MAJOR-pgtap")
  [ -f "$EXT_DIR/plpgsql_check.control" ] || need+=("postgresql-$PG_MAJOR-plpgsql-check")
  command -v pg_prove >/dev/null          || need+=(pgtap)
  command -v psql >/dev/null              || need+=("postgresql-client-$PG_MAJOR")
  if [ ${#need[@]} -gt 0 ]; then
    log "apt: ${need[*]}"
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/50-obcpa.conf
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # npm: again whenever package-lock.json differs from what was last installed (a copy is kept).
  local npm_stamp="$ROOT/node_modules/.obcpa-package-lock.json"
  if [ ! -x "$SUPABASE" ] || ! cmp -s "$ROOT/package-lock.json" "$npm_stamp"; then
    log "npm ci (supabase CLI, postgres-meta, TypeScript, supabase-js; pinned)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$ROOT/package-lock.json" "$npm_stamp"
  fi
  local stamp="$ROOT/.venv/.installed"
  if [ ! -x "$PY" ] || [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    log "pip: project, sandbox and test dependencies"
    [ -x "$PY" ] || python3 -m venv "$ROOT/.venv"
    "$PY" -m pip install -q --disable-pip-version-check --upgrade pip
    "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[sandbox,test]"
    touch "$stamp"
  fi
}

db_running() { [ -f "$PGDATA/postmaster.pid" ] && kill -0 "$(head -1 "$PGDATA/postmaster.pid")" 2>/dev/null; }

db_up() {
  install
  if ! db_running; then
    log "initdb + start PostgreSQL $PG_MAJOR on 127.0.0.1:$PORT ($STACK_DIR, durable=${STACK_DURABLE:-0})"
    rm -rf "$STACK_DIR"; mkdir -p "$STACK_DIR"; chmod 755 "$STACK_DIR"
    echo postgres > "$STACK_DIR/pw"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$STACK_DIR"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --pwfile="$STACK_DIR/pw" -E UTF8 --locale=C.UTF-8 -N >/dev/null
    rm -f "$STACK_DIR/pw"
    local durable=off
    [ "${STACK_DURABLE:-0}" = 1 ] && durable=on
    cat >> "$PGDATA/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$STACK_DIR'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 20
max_connections = 200
wal_level = logical
fsync = $durable
synchronous_commit = $durable
full_page_writes = $durable
CONF
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$STACK_DIR/server.log" -w -t 30 start >/dev/null
  fi
  psql -X -q -v ON_ERROR_STOP=1 -f "$ROOT/scripts/supabase-compat.sql" >/dev/null
  "$SUPABASE" --workdir "$ROOT" migration up --db-url "$DB_URL" 2>&1 | grep -v '^$' >&2
  if [ "${SEED:-1}" = 1 ]; then
    psql -X -q -v ON_ERROR_STOP=1 -f "$ROOT/supabase/seed.sql" >/dev/null
  fi
}

db_down() {
  if db_running; then as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null; fi
  rm -rf "$STACK_DIR"
}

pidfile() { echo "$STACK_DIR/$1.pid"; }

start_bg() {  # name, command...
  local name=$1; shift
  local pf; pf=$(pidfile "$name")
  if [ -f "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null; then return 0; fi
  # Its own session (so `down` can stop the whole group), no inherited stdin/stdout: a caller
  # waiting on this script's output is not kept waiting by the server.
  ( cd "$ROOT" && exec setsid "$@" ) >"$STACK_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$pf"
}

wait_http() {  # url, name
  for _ in $(seq 1 100); do
    if "$PY" - "$1" <<'PYEOF' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1).read()
PYEOF
    sleep 0.2
  done
  log "$2 did not answer on $1; see $STACK_DIR/$2.log"; tail -20 "$STACK_DIR/$2.log" >&2; return 1
}

stop_bg() {
  local pf; pf=$(pidfile "$1")
  if [ -f "$pf" ]; then
    local pid; pid=$(cat "$pf")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pf"
  fi
}

up() {
  db_up
  set -a; [ -f "$ROOT/.env" ] && . "$ROOT/.env"; . "$ROOT/scripts/local.env"; set +a
  export DATABASE_URL="postgresql://postgres:postgres@127.0.0.1:$PORT/postgres"
  # Documents live beside the cluster (storage.objects rows in it, bytes here) and go with `make down`.
  export OPEN_BANKING_STORAGE_DIR="${OPEN_BANKING_STORAGE_DIR:-$STACK_DIR/documents}"
  start_bg sandbox "$PY" -m sandbox --port "$SANDBOX_PORT"
  wait_http "http://127.0.0.1:$SANDBOX_PORT/_sandbox/health" sandbox
  start_bg service "$PY" -m service serve --port "$SERVICE_PORT"
  wait_http "http://127.0.0.1:$SERVICE_PORT/healthz" service
  log "up: postgres 127.0.0.1:$PORT, sandbox :$SANDBOX_PORT, service :$SERVICE_PORT (logs in $STACK_DIR)"
}

down() {
  stop_bg service
  stop_bg sandbox
  db_down
  log "down"
}

case "${1:-up}" in
  install) install ;;
  db-up) db_up ;;
  db-down) db_down ;;
  up) up ;;
  down) down ;;
  pg-stop) as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null ;;   # a crash, data kept
  pg-start) as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$STACK_DIR/server.log" -w -t 30 start >/dev/null ;;
  status) db_running && echo "postgres running on $PORT ($STACK_DIR)" || { echo "postgres stopped"; exit 1; } ;;
  test-sql)
    psql -X -q -c 'create extension if not exists pgtap with schema extensions'
    pg_prove -d "postgresql://postgres:postgres@127.0.0.1:$PORT/postgres" --ext .sql -r "$ROOT/supabase/tests/database" ;;
  lint) "$SUPABASE" --workdir "$ROOT" db lint --schema public --fail-on error --db-url "$DB_URL" ;;
  psql) shift; exec psql "$@" ;;
  *) echo "usage: $0 install|db-up|db-down|up|down|status|test-sql|lint|psql" >&2; exit 2 ;;
esac
