#!/usr/bin/env bash
# Does a reshuffle of supabase/migrations/ change the database it builds? Migrates two throwaway
# clusters, one from the migrations at a git revision (default: main) and one from the working tree,
# and diffs what they built: the normalized `pg_dump --schema-only` (tables, columns, constraints,
# indexes, functions and their bodies, triggers, RLS policies, grants, default privileges,
# comments), the pg_cron jobs, and the seeded settings rows. Prints the diff; exits 1 if they differ.
#
#   scripts/compare-migrations.sh [REV] [PORT]        e.g. scripts/compare-migrations.sh main 54339
#
# Use it when moving SQL between migration files (a fold, a split): the answer should be "identical"
# or a diff you can explain line by line. It is not part of `make test` (it builds two clusters).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REV=${1:-main}
PORT=${2:-54339}
TMP=$(mktemp -d /tmp/compare-migrations.XXXXXX)
trap 'for s in rev tree; do [ -x "$TMP/$s/scripts/stack.sh" ] && STACK_NAME=catalog STACK_PORT=$PORT \
  "$TMP/$s/scripts/stack.sh" db-down >/dev/null 2>&1 || true; done; rm -rf "$TMP"' EXIT

build() {  # side -> $TMP/<side>.catalog
  local side=$1 dir=$TMP/$1
  mkdir -p "$dir/scripts" "$dir/supabase"
  # Same stack scripts and tooling for both sides: only the migrations differ.
  cp "$ROOT/scripts/stack.sh" "$ROOT/scripts/supabase-compat.sql" "$dir/scripts/"
  cp "$ROOT/supabase/config.toml" "$dir/supabase/"
  ln -s "$ROOT/node_modules" "$dir/node_modules"
  ln -s "$ROOT/.venv" "$dir/.venv"
  if [ "$side" = rev ]; then
    git -C "$ROOT" archive "$REV" supabase/migrations | tar -x -C "$dir"
  else
    cp -r "$ROOT/supabase/migrations" "$dir/supabase/"
  fi
  STACK_NAME=catalog STACK_PORT=$PORT SEED=0 "$dir/scripts/stack.sh" db-up 2>"$TMP/$side.log" \
    || { cat "$TMP/$side.log" >&2; exit 2; }
  export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGPASSWORD=postgres PGDATABASE=postgres
  {
    # Comments, blank lines, session settings and pg_dump's random \restrict key are not the
    # schema; the migration history table names the files, which is exactly what may change.
    pg_dump --schema-only --exclude-schema=supabase_migrations \
      | grep -v -e '^--' -e '^$' -e '^SET ' -e '^SELECT pg_catalog.set_config' -e '^\\restrict ' -e '^\\unrestrict '
    echo '-- cron.job'
    psql -X -At -c "select jobname, schedule, command, database, username, active from cron.job order by jobname"
    echo '-- private.ob_settings'
    psql -X -At -c "select key, value from private.ob_settings order by key"
    echo '-- private.ob_partner_tokens'
    psql -X -At -c "select id, token_ciphertext is null from private.ob_partner_tokens order by id"
  } >"$TMP/$side.catalog"
  STACK_NAME=catalog STACK_PORT=$PORT "$dir/scripts/stack.sh" db-down >/dev/null 2>&1
}

build rev
build tree
if diff -u --label "migrations at $REV" --label "migrations in the working tree" "$TMP/rev.catalog" "$TMP/tree.catalog"; then
  echo "identical: $(grep -c . "$TMP/tree.catalog") catalog lines"
else
  exit 1
fi
