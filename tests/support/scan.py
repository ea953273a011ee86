"""Scanning the whole database for values: every row of every base table in every schema, as text
(so every column of every type is covered), matched as whole tokens (not inside longer ids)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import psycopg

TABLES_SQL = """
select format('%I.%I', n.nspname, c.relname)
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
   and n.nspname not like 'pg\\_temp%' and n.nspname not like 'pg\\_toast\\_temp%'
 order by 1
"""


def _token(value: str) -> str:
    # A POSIX regex for the value as a whole token: no letter or digit right before or after it.
    return "(^|[^0-9A-Za-z])" + re.escape(value) + "([^0-9A-Za-z]|$)"


def find_in_database(conn: psycopg.Connection[Any], values: Iterable[str]) -> dict[str, list[str]]:
    """{value: [tables holding it]} for every value found anywhere; {} when none is."""
    needles = sorted({v for v in values if v})
    if not needles:
        return {}
    tables = [row[0] for row in conn.execute(TABLES_SQL).fetchall()]
    any_of = "(^|[^0-9A-Za-z])(" + "|".join(re.escape(v) for v in needles) + ")([^0-9A-Za-z]|$)"
    found: dict[str, list[str]] = {}
    for table in tables:
        hit = conn.execute(f"select exists (select 1 from {table} x where x::text ~ %s)", (any_of,)).fetchone()
        if not hit or not hit[0]:
            continue
        for value in needles:
            (present,) = conn.execute(f"select exists (select 1 from {table} x where x::text ~ %s)",
                                      (_token(value),)).fetchone()  # type: ignore[misc]
            if present:
                found.setdefault(value, []).append(table)
    return found
