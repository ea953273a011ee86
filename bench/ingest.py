"""Transaction ingest: the service (sandbox → client → mappers → one RPC per page) against a bare
set-based upsert of the same rows into the same table, in one run on this machine.

Run: .venv/bin/python -m bench.ingest   (needs BENCH_DATABASE_URL's database; `make bench` sets it up)
"""

from __future__ import annotations

import asyncio
import time

import psycopg

from bench.common import DATABASE_URL, connect_customer, new_client, sandbox, settings
from service.sync.customer import sync_customer
from service.sync.link import ensure_customer
from service.wiring import services_for

UPSERT = """
insert into public.open_banking_transactions as t
       (id, account_id, platform_client_id, amount, description, memo, status, transaction_at, posted_at,
        category, payee, check_number, type, source_fetched_at)
select id, account_id, platform_client_id, amount, description, memo, status, transaction_at, posted_at,
       category, payee, check_number, type, source_fetched_at from bench_rows
on conflict (id) do update
   set amount = excluded.amount, description = excluded.description, memo = excluded.memo,
       status = excluded.status, transaction_at = excluded.transaction_at, posted_at = excluded.posted_at,
       category = excluded.category, payee = excluded.payee, check_number = excluded.check_number,
       type = excluded.type, source_fetched_at = excluded.source_fetched_at
"""


async def service_ingest(sandbox_url: str) -> tuple[str, float, int]:
    client_id = new_client()
    async with services_for(settings(sandbox_url)) as services:
        finicity_customer_id = await ensure_customer(services, client_id, "Bench")
        made = connect_customer(sandbox_url, finicity_customer_id, accounts=10, months=24, per_month=420)
        start = time.perf_counter()
        result = await sync_customer(services, finicity_customer_id)
        elapsed = time.perf_counter() - start
    assert result.transactions == made["transactions"], (result.transactions, made["transactions"])
    return str(client_id), elapsed, result.transactions


def bare_upsert(client_id: str) -> tuple[float, int]:
    with psycopg.connect(DATABASE_URL) as conn:
        conn.execute(
            "create temp table bench_rows on commit drop as "
            "select * from public.open_banking_transactions where platform_client_id = %s",
            (client_id,),
        )
        (n,) = conn.execute("select count(*) from bench_rows").fetchone()
        conn.execute("delete from public.open_banking_transactions where platform_client_id = %s", (client_id,))
        start = time.perf_counter()
        conn.execute(UPSERT)
        conn.commit()
        return time.perf_counter() - start, n


def main() -> None:
    proc = sandbox()
    try:
        client_id, service_s, rows = asyncio.run(service_ingest(proc.url))
    finally:
        proc.stop()
    bare_s, bare_rows = bare_upsert(client_id)
    service_rate, bare_rate = rows / service_s, bare_rows / bare_s
    print(
        f"ingest  service: {rows} transactions in {service_s:.2f}s = {service_rate:,.0f} tx/s "
        f"(sandbox → client → one RPC per 1,000-row page)"
    )
    print(f"ingest  bare set-based upsert of the same {bare_rows} rows: {bare_s:.2f}s = {bare_rate:,.0f} tx/s")
    print(f"ingest  ratio service/bare = {service_rate / bare_rate:.2f}  (target >= 0.5)")


if __name__ == "__main__":
    main()
