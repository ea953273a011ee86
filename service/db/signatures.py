"""Function signatures read from pg_catalog, so each named argument is cast to its declared
type, as PostgREST does with its schema cache (e.g. a JSON list becomes `text[]` or `jsonb`)."""

from __future__ import annotations

from dataclasses import dataclass

SIGNATURES_SQL = """
select p.proname, p.proargnames, array(select pg_catalog.format_type(t, null) from unnest(p.proargtypes) t)
  from pg_catalog.pg_proc p
 where p.pronamespace = 'public'::regnamespace and p.proname like 'ob\\_%%'
"""


@dataclass(frozen=True)
class Signature:
    name: str
    arg_types: dict[str, str]


def parse_signatures(rows: list[tuple[str, list[str] | None, list[str]]]) -> dict[str, Signature]:
    signatures: dict[str, Signature] = {}
    for name, arg_names, arg_types in rows:
        signatures[name] = Signature(name, dict(zip(arg_names or [], arg_types, strict=False)))
    return signatures


def call_sql(function: str, signature: Signature | None, arg_names: list[str]) -> str:
    """`select to_jsonb(public.f(p_a => %s::type, ...))::text` for the given names (checked before)."""
    parts = []
    for name in arg_names:
        sql_type = signature.arg_types.get(name) if signature else None
        parts.append(f"{name} => %s::{sql_type}" if sql_type else f"{name} => %s")
    return f"select pg_catalog.to_jsonb(public.{function}({', '.join(parts)}))::text"
