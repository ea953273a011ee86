"""The React app's read path under RLS at scale: 10,000,000 transactions, 2,000 clients, 200 CPAs.

Each query the app makes runs as the CPA (role `authenticated` with `request.jwt.claims`, as PostgREST
sets them, and PostgREST's 8 s statement timeout) and as `service_role` with the equivalent explicit
filter (no RLS), alternating (which side goes first swaps each time), on the same parameters; the answers
must be equal (bench/common.py's `expect`). As every bench (bench/common.py): at least 3 rounds; per round
each side's median over its parameters, and the table reports the median of those with their spread
(min-max over the rounds), and the ratio RLS / explicit filter measured round by round. Each query's
EXPLAIN (as the CPA) is checked for index use on the transactions and for no per-row tenancy call
(a correlated SubPlan, or the tenancy function in a row filter).

The data is made by `readpath_data.sql` in a database of its own (`BENCH_READPATH_DATABASE_URL`; the
cluster `make bench` starts with production durability).

Run: .venv/bin/python -m bench.readpath
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import Figure, expect, figure, ratios

URL = os.environ.get("BENCH_READPATH_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:54341/postgres")
ROUNDS = max(3, int(os.environ.get("BENCH_READPATH_ROUNDS", "5")))
SAMPLES = int(os.environ.get("BENCH_READPATH_SAMPLES", "10"))  # parameters per query per round
TIMEOUT = "8s"  # PostgREST's statement timeout for `authenticated` on Supabase
DATA_SQL = Path(__file__).with_name("readpath_data.sql")
TRANSACTIONS = 10_000_000
CPAS, CLIENTS_PER_CPA = 200, 10

COLUMNS = (
    "id, account_id, amount::text, status, description, memo, payee, category, effective_at, posted_at, transaction_at"
)
MINE = "platform_client_id in (select c.id from public.clients c where c.user_id = %(cpa)s)"


@dataclass(frozen=True)
class Query:
    name: str
    rls: str  # what the app sends under RLS (PostgREST's SQL for the supabase-js call)
    explicit: str  # the same as service_role, with the filter RLS would add written out
    uses_transactions: bool = True


def transactions(where: str, tail: str) -> str:
    """A transactions read as PostgREST writes it for supabase-js (constants only, no input)."""
    return f"select {COLUMNS} from public.open_banking_transactions {where} {tail}"  # noqa: S608


CLIENT = "where platform_client_id = %(client)s"
MONTH = "and effective_at >= %(month)s and effective_at < %(month)s::timestamptz + interval '1 month'"
NEWEST = "order by effective_at desc, id desc"
COUNT = "select count(*) from public.open_banking_transactions where platform_client_id = %(client)s"
BADGES = "select * from public.open_banking_client_status"
QUERIES = [
    Query("client: latest 50", transactions(CLIENT, NEWEST + " limit 50"), transactions(CLIENT, NEWEST + " limit 50")),
    Query("client: one month", transactions(f"{CLIENT} {MONTH}", NEWEST), transactions(f"{CLIENT} {MONTH}", NEWEST)),
    Query("client: count", COUNT, COUNT),
    Query(
        "CPA: latest 50, all clients",
        transactions("", NEWEST + " limit 50"),
        transactions(f"where {MINE}", NEWEST + " limit 50"),
    ),
    Query(
        "CPA: status badges",
        BADGES + " order by platform_client_id",
        f"{BADGES} where {MINE} order by platform_client_id",
        uses_transactions=False,
    ),
]


@dataclass
class Result:
    # per round, every execution's time in ms
    rls_ms: list[list[float]] = field(default_factory=list)
    explicit_ms: list[list[float]] = field(default_factory=list)
    timed_out: bool = False
    plan: str = ""
    plan_ok: bool = True

    def rounds(self, rls: bool) -> list[float]:
        """Each round's median."""
        return [statistics.median(r) for r in (self.rls_ms if rls else self.explicit_ms) if r]

    @property
    def rls(self) -> Figure:
        return figure(self.rounds(True))

    @property
    def explicit(self) -> Figure:
        return figure(self.rounds(False))

    @property
    def ratio(self) -> Figure:
        return ratios(self.rounds(True), self.rounds(False))


def ensure_data(conn: psycopg.Connection[Any]) -> None:
    (have,) = conn.execute("select count(*) from public.clients").fetchone() or (0,)
    if have:
        (n,) = conn.execute("select count(*) from public.open_banking_transactions").fetchone() or (0,)
        expect(n == TRANSACTIONS, f"{URL} holds other data ({n} transactions): use a fresh database")
        return
    start = time.perf_counter()
    with conn.transaction():
        conn.execute("set local maintenance_work_mem = '512MB'")
        conn.execute(DATA_SQL.read_text())  # type: ignore[call-overload]
    conn.execute("vacuum (analyze) public.open_banking_transactions, public.open_banking_accounts, public.clients, "
                 "public.open_banking_customers, public.open_banking_institution_logins, "
                 "public.open_banking_link_requests, auth.users")
    conn.execute("checkpoint")
    print(f"readpath  data: {TRANSACTIONS:,} transactions, {CPAS * CLIENTS_PER_CPA:,} clients, {CPAS} CPAs "
          f"made in {time.perf_counter() - start:.0f} s")


def durability(conn: psycopg.Connection[Any]) -> str:
    names = ("fsync", "synchronous_commit", "full_page_writes")
    return " ".join(f"{name}={conn.execute(f'show {name}').fetchone()[0]}" for name in names)  # type: ignore[index]


def as_cpa(conn: psycopg.Connection[Any], cpa: str) -> None:
    conn.execute("set local role authenticated")
    conn.execute("select set_config('request.jwt.claims', %s, true)",
                 (json.dumps({"sub": cpa, "role": "authenticated", "aud": "authenticated"}),))
    conn.execute(f"set local statement_timeout = '{TIMEOUT}'")


def as_service(conn: psycopg.Connection[Any]) -> None:
    conn.execute("set local role service_role")
    conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"role": "service_role"}),))


def run(conn: psycopg.Connection[Any], text: str, params: dict[str, Any], cpa: str | None) -> tuple[float, list[Any]]:
    with conn.transaction():
        if cpa is None:
            as_service(conn)
        else:
            as_cpa(conn, cpa)
        start = time.perf_counter()
        rows = conn.execute(text, params).fetchall()  # type: ignore[call-overload]
        return (time.perf_counter() - start) * 1000, rows


def params_for(conn: psycopg.Connection[Any], round_no: int, sample: int) -> dict[str, Any]:
    cpa_n = (round_no * 37 + sample * 53) % CPAS + 1
    client_n = (cpa_n - 1) * CLIENTS_PER_CPA + (sample % CLIENTS_PER_CPA) + 1
    cpa, client = conn.execute(f"select md5('cpa{cpa_n}')::uuid::text, md5('client{client_n}')::uuid").fetchone()  # type: ignore[misc]
    month = f"2026-{(sample % 11) + 1:02d}-01"
    return {"cpa": cpa, "client": client, "month": month}


TENANCY_CALLS = ("ob_can_access_client(", "ob_accessible_clients(")
CALL_FIELDS = ("Output", "Filter", "Index Cond", "Recheck Cond", "Join Filter", "Function Call", "Hash Cond")


def plan_nodes(node: dict[str, Any], once: bool = False) -> list[tuple[dict[str, Any], bool]]:
    """Every node with whether it runs once per statement: under an InitPlan, or a hashed SubPlan."""
    relation = node.get("Parent Relationship")
    here = once or relation == "InitPlan"
    out = [(node, here)]
    for child in node.get("Plans", []):
        out.extend(plan_nodes(child, here))
    return out


def check_plan(conn: psycopg.Connection[Any], query: Query, params: dict[str, Any]) -> tuple[str, bool]:
    """Index use on the transactions, and no per-row tenancy work: the tenancy function may appear
    only where it runs once per statement (an InitPlan or a hashed SubPlan), never in a row filter
    or a correlated SubPlan."""
    with conn.transaction():
        as_cpa(conn, params["cpa"])
        (doc,) = conn.execute(sql.SQL("explain (verbose, format json) ") + sql.SQL(query.rls), params).fetchone()  # type: ignore[arg-type,misc]
    text = json.dumps(doc)
    hashed = {n.get("Subplan Name") for n, _ in plan_nodes(doc[0]["Plan"])
              if n.get("Parent Relationship") == "SubPlan" and f"hashed {n.get('Subplan Name')}" in text}

    def walk(node: dict[str, Any], once: bool) -> list[tuple[dict[str, Any], bool]]:
        here = once or node.get("Parent Relationship") == "InitPlan" or node.get("Subplan Name") in hashed
        out = [(node, here)]
        for child in node.get("Plans", []):
            out.extend(walk(child, here))
        return out

    nodes = walk(doc[0]["Plan"], False)
    scans = sorted({f"{n['Node Type']}" + (f" {n['Index Name']}" if "Index Name" in n else "")
                    for n, _ in nodes
                    if n.get("Relation Name") == "open_banking_transactions"
                    or str(n.get("Index Name", "")).startswith("open_banking_transactions")})
    per_row = sorted({f"{n['Node Type']} ({key})" for n, once in nodes if not once for key in CALL_FIELDS
                      if any(call in json.dumps(n.get(key, "")) for call in TENANCY_CALLS)})
    once = any(once for n, once in nodes
               if any(call in json.dumps(n.get(key, "")) for key in CALL_FIELDS for call in TENANCY_CALLS))
    ok = not per_row and (not query.uses_transactions or (bool(scans) and not any(s.startswith("Seq") for s in scans)))
    summary = ", ".join(scans) if scans else "no transactions scan"
    if per_row:
        summary += "; tenancy call PER ROW in " + ", ".join(per_row)
    elif once:
        summary += "; tenancy set computed once (InitPlan)"
    return summary, ok


def main() -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        ensure_data(conn)
        print(f"readpath  cluster: {durability(conn)}; {ROUNDS} rounds x {SAMPLES} parameters per query")
        results = {q.name: Result() for q in QUERIES}
        for q in QUERIES:
            results[q.name].plan, results[q.name].plan_ok = check_plan(conn, q, params_for(conn, 0, 0))
        for round_no in range(ROUNDS):
            for res in results.values():
                res.rls_ms.append([])
                res.explicit_ms.append([])
            for sample in range(SAMPLES):
                params = params_for(conn, round_no, sample)
                for q in QUERIES:
                    res = results[q.name]
                    order = (True, False) if (round_no + sample) % 2 == 0 else (False, True)
                    answers = {}
                    for rls in order:
                        if rls and res.timed_out:  # once past PostgREST's timeout, time the other side only
                            continue
                        try:
                            ms, rows = run(conn, q.rls if rls else q.explicit, params, params["cpa"] if rls else None)
                        except psycopg.errors.QueryCanceled:
                            res.timed_out = True
                            continue
                        (res.rls_ms if rls else res.explicit_ms)[-1].append(ms)
                        answers[rls] = rows
                    expect(bool(answers.get(False)), f"{q.name}: empty answer for {params}")
                    if True in answers:
                        expect(answers[True] == answers[False],
                               f"{q.name}: RLS and explicit answers differ for {params}")
        report(results)


def spread(fig: Figure) -> str:
    """"1.22 (1.10-1.31)": the median over the rounds and its spread."""
    return f"{fig.median:.2f} ({fig.low:.2f}-{fig.high:.2f})"


def report(results: dict[str, Result]) -> None:
    print(f"readpath  medians (min-max) over {ROUNDS} rounds, each round the median of {SAMPLES} parameters")
    print(f"readpath  {'query':<30} {'RLS ms':>19} {'explicit ms':>19} {'ratio':>17}  EXPLAIN (as the CPA)")
    misses = 0
    for name, res in results.items():
        explicit = spread(res.explicit) if res.rounds(False) else "nan"
        if res.timed_out:
            rls_text, ratio_text = f">{TIMEOUT}", "timeout"
            misses += 1
        else:
            rls_text, ratio_text = spread(res.rls), spread(res.ratio)
            misses += res.ratio.median > 1.5 or res.rls.median >= 50
        misses += not res.plan_ok
        print(f"readpath  {name:<30} {rls_text:>19} {explicit:>19} {ratio_text:>17}  {res.plan}")
    print(f"readpath  targets: every ratio <= 1.5, every query < 50 ms, index use, no per-row tenancy call: "
          f"{'met' if not misses else f'{misses} missed'}")
    if os.environ.get("BENCH_READPATH_STRICT") == "1" and misses:
        sys.exit(1)


if __name__ == "__main__":
    main()
