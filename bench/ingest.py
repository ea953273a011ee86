"""Transaction ingest: the service (sandbox → client → mappers → one RPC per page) against a bare
set-based insert of the same rows into the same table, alternating rounds on this machine.

Each service round syncs a fresh customer (100,800 transactions) into the table. The bare round
that follows copies those rows aside, deletes them and commits, vacuums the table (no dead index
entries left to step over), then inserts the same rows under fresh ids in one statement and
commits: the table it writes into is the one the service wrote into, and it pays for durability
as the service does.

Run: .venv/bin/python -m bench.ingest   (needs BENCH_DATABASE_URL's database; `make bench` sets it up)
"""

from __future__ import annotations

import asyncio
import time

import psycopg

from bench.common import (
    DATABASE_URL,
    alternate,
    connect_customer,
    expect,
    figure,
    new_client,
    ratios,
    sandbox,
    settings,
)
from service.sync.customer import sync_customer
from service.sync.link import ensure_customer
from service.wiring import services_for

STAGE = """
create unlogged table bench_rows as
select id, account_id, platform_client_id, amount, description, memo, status, transaction_at, posted_at,
       category, payee, check_number, type, source_fetched_at
  from public.open_banking_transactions where platform_client_id = %s
"""
INSERT = """
insert into public.open_banking_transactions
       (id, account_id, platform_client_id, amount, description, memo, status, transaction_at, posted_at,
        category, payee, check_number, type, source_fetched_at)
select id + %s, account_id, platform_client_id, amount, description, memo, status, transaction_at, posted_at,
       category, payee, check_number, type, source_fetched_at from bench_rows
"""
# Fresh ids: sandbox ids are below 10^17, so each bare round's offset gives ids the table never held.
FRESH_ID_OFFSET = 10**17


def main() -> None:
    proc = sandbox()
    last: dict[str, str] = {}

    async def service_round() -> tuple[float, int]:
        client_id = new_client()
        async with services_for(settings(proc.url)) as services:
            finicity_customer_id = await ensure_customer(services, client_id, "Bench")
            made = connect_customer(proc.url, finicity_customer_id, accounts=10, months=24, per_month=420)
            start = time.perf_counter()
            result = await sync_customer(services, finicity_customer_id)
            elapsed = time.perf_counter() - start
        expect(result.transactions == made["transactions"],
               f"ingest: synced {result.transactions} of {made['transactions']} transactions")
        last["client"] = str(client_id)
        return result.transactions / elapsed, result.transactions

    def bare_round(index: int) -> tuple[float, int]:
        client_id = last["client"]
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute("drop table if exists bench_rows")
            conn.execute(STAGE, (client_id,))
            conn.execute("delete from public.open_banking_transactions where platform_client_id = %s", (client_id,))
            conn.execute("vacuum (analyze) public.open_banking_transactions")
            conn.execute("vacuum (analyze) bench_rows")
            (n,) = conn.execute("select count(*) from bench_rows").fetchone()
            start = time.perf_counter()
            with conn.transaction():
                inserted = conn.execute(INSERT, ((index + 1) * FRESH_ID_OFFSET,)).rowcount
            elapsed = time.perf_counter() - start
            conn.execute("drop table bench_rows")
        expect(inserted == n, f"ingest bare: inserted {inserted} of {n} rows")
        return n / elapsed, n

    try:
        results = alternate({"service": lambda _i: asyncio.run(service_round()), "bare": bare_round})
    finally:
        proc.stop()
    service = [rate for rate, _ in results["service"]]
    bare = [rate for rate, _ in results["bare"]]
    rows = results["service"][0][1]
    print(f"ingest  service: {figure(service).show(unit=' tx/s')}, {rows:,} transactions a round "
          f"(sandbox → client → one RPC per 1,000-row page)")
    print(f"ingest  bare set-based insert of the same rows (fresh ids, committed): {figure(bare).show(unit=' tx/s')}")
    print(f"ingest  ratio service/bare = {ratios(service, bare).show('.2f')}  (target >= 0.5)")


if __name__ == "__main__":
    main()
