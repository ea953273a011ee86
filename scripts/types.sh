#!/usr/bin/env bash
# The React app's TypeScript types, generated from the migrated schema by @supabase/postgres-meta
# (the generator `supabase gen types` runs in Docker; here it runs from node_modules).
#   scripts/types.sh           write supabase/types.ts (make types)
#   scripts/types.sh --check   fail when supabase/types.ts differs from a fresh generation (make test)
# TYPES_DB_URL: a database the migrations were just applied to (make test passes its own); without it
# a throwaway cluster `types` on TYPES_STACK_PORT (default 54328) is migrated, used and removed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=supabase/types.ts
MODE=${1:-write}

fresh=$(mktemp)
own_cluster=0
cleanup() {
  rm -f "$fresh"
  if [ "$own_cluster" = 1 ]; then scripts/stack.sh db-down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if [ -z "${TYPES_DB_URL:-}" ]; then
  export STACK_NAME=types STACK_PORT=${TYPES_STACK_PORT:-54328}
  own_cluster=1
  scripts/stack.sh db-down >/dev/null 2>&1 || true
  SEED=0 scripts/stack.sh db-up
  TYPES_DB_URL="postgresql://postgres:postgres@127.0.0.1:$STACK_PORT/postgres"
else
  scripts/stack.sh install
fi

generate() {
  # Only `public` is exposed to the app (private is not in [api].schemas). PostgREST 13 is what
  # hosted Supabase runs; supabase-js reads the version from the types.
  PG_META_DB_URL="$TYPES_DB_URL" PG_META_GENERATE_TYPES=typescript \
    PG_META_GENERATE_TYPES_INCLUDED_SCHEMAS=public \
    PG_META_GENERATE_TYPES_DETECT_ONE_TO_ONE_RELATIONSHIPS=true \
    PG_META_POSTGREST_VERSION=13 NODE_NO_WARNINGS=1 \
    node "$ROOT/node_modules/@supabase/postgres-meta/dist/server/server.js"
}

generate >"$fresh"
case "$MODE" in
  write)
    cp "$fresh" "$OUT"
    echo "[types] wrote $OUT ($(wc -l <"$OUT") lines)" >&2 ;;
  --check)
    if ! diff -u "$OUT" "$fresh" >&2; then
      echo "[types] $OUT is stale: the schema changed. Run \`make types\` and commit the result." >&2
      exit 1
    fi
    echo "[types] $OUT matches a fresh generation" >&2 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
