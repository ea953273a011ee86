"""The daily sync at scale: N linked customers (5 accounts each, a few new transactions a day), the
pg_cron daily sync (its body, private.ob_schedule_daily_sync(), run directly) drained by 1, 2 and 4
service processes; for 1,000 and 10,000 customers.

Set-up: the sandbox's bulk control API makes the customers (linked long ago: a month of history, the
historic load done); one SQL statement links them to platform clients here (customer and bank-login
rows, the login's history complete, as after its one historic load); a first sync (not measured)
backfills them. Then, in at least 3 rounds that alternate the worker counts (1, 2, 4, 1, 2, 4, ...): the
bank adds a day of transactions for everyone, the daily sync is enqueued, and the clock runs until every
job naming these customers has finished. Reported per worker count, as the median and spread of its
rounds: wall time, jobs/s, time per customer, Mastercard calls per customer (the sandbox's own count),
database time per job (time spent inside the service's SQL functions, from pg_stat_user_functions).
Every run must finish every job (none dead or left) and leave exactly the sandbox's transactions in the
table, or the bench fails.

The platform's Mastercard call budget (`mastercard_calls_per_minute`, 3,000 by default) would bound a
10,000-client run at 20,000 calls / 3,000 a minute = 6.7 minutes, whatever the service does: the bench
raises it out of reach for its run (every call still takes its permit, the same RPC) and puts it back.

Run: .venv/bin/python -m bench.daily_sync   (BENCH_SYNC_SIZES=1000,10000 BENCH_SYNC_WORKERS=1,2,4)
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from dataclasses import dataclass

import httpx
import psycopg

from bench.common import DATABASE_URL, LOG_DIR, alternate, expect, figure, sandbox
from tests.support.processes import Proc, free_port, service_env, start

SIZES = [int(n) for n in os.environ.get("BENCH_SYNC_SIZES", "1000,10000").split(",")]
WORKERS = [int(n) for n in os.environ.get("BENCH_SYNC_WORKERS", "1,2,4").split(",")]
PROFILE = {"accounts": 5, "months": 1, "transactionsPerAccountPerMonth": 4, "idsPerAccount": False,
           "historyLoaded": True}
NEW_PER_ACCOUNT = 1  # a day's new transactions per account
CHUNK = 2_000

LINK = """
with src as (
  select fid, login, gen_random_uuid() as client, gen_random_uuid() as cpa
    from unnest(%(fids)s::text[], %(logins)s::bigint[]) as s(fid, login)
), users as (
  insert into auth.users (id, aud, role, email)
  select cpa, 'authenticated', 'authenticated', 'sync-' || fid || '@bench.test' from src
), clients as (
  insert into public.clients (id, user_id) select client, cpa from src
), customers as (
  insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username,
                                             customer_type, link_status)
  select client, fid, 'cpa-sync-' || fid, 'testing', 'linked' from src
  returning id, platform_client_id
)
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, history_status,
                                                   history_finished_at)
select src.login, c.platform_client_id, c.id, 'complete', now()
  from customers c join src on src.client = c.platform_client_id
"""
# Time inside the service's SQL functions and everything they call (triggers, private helpers), each
# millisecond once: the sum of self times, an RPC calling another RPC counted once (summing total times
# counted it twice), less the daily sync's own cron body (the bench calls it) with what it calls.
FUNCTION_TIME = """
select coalesce(sum(self_time), 0)
       - coalesce((select sum(total_time) from pg_stat_user_functions where funcname = 'ob_schedule_daily_sync'), 0)
  from pg_stat_user_functions where schemaname in ('public', 'private')
"""
# Every job of this run naming these customers (syncs, and anything a sync queues), so no run's work spills
# into the next; `id > floor` reads only this run's rows (by the primary key), not every earlier run's.
LEFT = """
select count(*) filter (where status in ('queued', 'running')), count(*) filter (where status = 'dead')
  from private.ob_jobs where id > %(floor)s and payload ->> 'finicity_customer_id' = any(%(fids)s)
"""
BUDGET = "mastercard_calls_per_minute"
TRANSACTIONS = """
select count(*) from public.open_banking_transactions t join public.open_banking_customers c
    on c.platform_client_id = t.platform_client_id where c.finicity_customer_id = any(%(fids)s)
"""


@dataclass
class Run:
    customers: int
    workers: int
    wall_s: float
    calls: int
    db_ms: float

    @property
    def jobs_per_s(self) -> float:
        return self.customers / self.wall_s

    @property
    def ms_per_customer(self) -> float:
        return 1000 * self.wall_s / self.customers


def calls_made(http: httpx.Client) -> int:
    ops = http.get("/_sandbox/stats").json()["operations"]
    return sum(sum(by_status.values()) for by_status in ops.values())


def function_ms(conn: psycopg.Connection) -> float:
    conn.execute("select pg_stat_clear_snapshot()")
    return float(conn.execute(FUNCTION_TIME).fetchone()[0])


def start_workers(n: int, sandbox_url: str) -> list[Proc]:
    procs = []
    for _ in range(n):
        port = free_port()
        env = {**service_env(DATABASE_URL, sandbox_url, port), "LOG_LEVEL": "WARNING", "WORKER_POLL_SECONDS": "1"}
        procs.append(start("service", ["-m", "service", "serve", "--port", str(port)], port, env, LOG_DIR, "/healthz"))
    return procs


def daily_sync(conn: psycopg.Connection, http: httpx.Client, sandbox_url: str, fids: list[str], workers: int,
               expected_rows: int) -> Run:
    procs = start_workers(workers, sandbox_url)
    try:
        calls0, db0 = calls_made(http), function_ms(conn)
        (floor,) = conn.execute("select coalesce(max(id), 0) from private.ob_jobs").fetchone()
        began = time.perf_counter()
        (queued,) = conn.execute("select private.ob_schedule_daily_sync()").fetchone()
        # Only this run's customers are linked (run it on a fresh cluster: make bench runs it first).
        expect(queued == len(fids), f"daily sync: {queued} jobs queued for {len(fids)} customers")
        while True:
            left, dead = conn.execute(LEFT, {"fids": fids, "floor": floor}).fetchone()
            expect(dead == 0, f"daily sync: {dead} sync jobs died")
            if left == 0:
                break
            time.sleep(0.25)
        wall = time.perf_counter() - began
        calls, db = calls_made(http) - calls0, function_ms(conn) - db0
    finally:
        for proc in procs:
            proc.stop()
    (rows,) = conn.execute(TRANSACTIONS, {"fids": fids}).fetchone()
    expect(rows == expected_rows, f"daily sync: {rows} transactions stored, the sandbox has {expected_rows}")
    return Run(len(fids), workers, wall, calls, db)


def one_size(n: int, sandbox_url: str, http: httpx.Client, conn: psycopg.Connection) -> list[Run]:
    fids: list[str] = []
    logins: list[int] = []
    expected = 0
    began = time.perf_counter()
    for start_at in range(0, n, CHUNK):
        made = http.post("/_sandbox/bulk/customers", json={
            "count": min(CHUNK, n - start_at), "usernamePrefix": f"sync{n}", "profile": PROFILE}).json()["customers"]
        fids += [c["customerId"] for c in made]
        logins += [c["institutionLoginId"] for c in made]
        expected += sum(c["transactions"] for c in made)
    conn.execute(LINK, {"fids": fids, "logins": logins})
    set_up = time.perf_counter() - began
    first = daily_sync(conn, http, sandbox_url, fids, max(WORKERS), expected)  # the backfill: not reported
    print(f"daily-sync  {n:,} customers: set-up {set_up:.1f} s, first sync (backfill of {expected:,} transactions, "
          f"{max(WORKERS)} worker process(es)) {first.wall_s:.0f} s")
    # Rounds alternate the worker counts (1, 2, 4, 1, 2, 4, ...): each round is a new day at the bank.
    def run_day(index: int, workers: int) -> Run:
        nonlocal expected
        advanced = http.post("/_sandbox/bulk/advance", json={
            "customerIds": fids, "days": 1, "newPerAccount": NEW_PER_ACCOUNT, "seed": 100 * index + workers}).json()
        expect(advanced["created"] == n * PROFILE["accounts"] * NEW_PER_ACCOUNT,
               f"daily sync: the bank made {advanced['created']} new transactions")
        expected += advanced["created"]
        return daily_sync(conn, http, sandbox_url, fids, workers, expected)

    by_workers = alternate({str(w): functools.partial(run_day, workers=w) for w in WORKERS})
    runs = []
    for workers in WORKERS:
        rounds = by_workers[str(workers)]
        runs.append(Run(n, workers, statistics.median(r.wall_s for r in rounds),
                        round(statistics.median(r.calls for r in rounds)), statistics.median(r.db_ms for r in rounds)))
        print(f"daily-sync  {n:,} customers, {workers} worker process(es): "
              f"{figure(r.wall_s for r in rounds).show('.1f', ' s')}, "
              f"{figure(r.jobs_per_s for r in rounds).show(',.0f', ' jobs/s')}, "
              f"{figure(r.ms_per_customer for r in rounds).show('.1f', ' ms per customer')}, "
              f"{figure(r.calls / n for r in rounds).show('.2f')} Mastercard calls per customer, "
              f"{figure(r.db_ms / n for r in rounds).show('.1f', ' ms')} database time per job "
              f"({n * PROFILE['accounts'] * NEW_PER_ACCOUNT:,} new transactions a day)")
    forget(conn, fids)
    return runs


def forget(conn: psycopg.Connection, fids: list[str]) -> None:
    """Delete the bench's clients, and the delete_customer jobs that queues: they would ask a sandbox that is
    thrown away, and a later size's workers would do them in its first sync. The runs' finished jobs go
    first, in one statement: each client's deletion looks for jobs naming it, and with every run's 10,000
    jobs still there, deleting 10,000 clients took minutes."""
    conn.execute("delete from private.ob_jobs where status in ('succeeded', 'dead') "
                 "and payload ->> 'finicity_customer_id' = any(%(fids)s)", {"fids": fids})
    conn.execute("delete from public.clients c using public.open_banking_customers o "
                 "where o.platform_client_id = c.id and o.finicity_customer_id = any(%(fids)s)", {"fids": fids})
    conn.execute("delete from private.ob_jobs where kind = 'delete_customer' and status = 'queued' "
                 "and payload ->> 'finicity_customer_id' = any(%(fids)s)", {"fids": fids})


def main() -> None:
    proc = sandbox()
    runs: dict[int, list[Run]] = {}
    try:
        with httpx.Client(base_url=proc.url, timeout=600) as http, \
                psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute("alter system set track_functions = 'all'")
            conn.execute("select pg_reload_conf()")
            forget(conn, conn.execute(  # an interrupted run's
                "select coalesce(array_agg(finicity_customer_id), '{}') from public.open_banking_customers "
                "where finicity_username like 'cpa-sync-%'").fetchone()[0])
            (budget,) = conn.execute("select value from private.ob_settings where key = %s", (BUDGET,)).fetchone()
            conn.execute("update private.ob_settings set value = '1000000000' where key = %s", (BUDGET,))
            try:
                for n in SIZES:
                    runs[n] = one_size(n, proc.url, http, conn)
            finally:
                conn.execute("update private.ob_settings set value = %s where key = %s", (budget, BUDGET))
    finally:
        proc.stop()
    if len(SIZES) >= 2:
        small, large = SIZES[0], SIZES[-1]
        for a, b in zip(runs[small], runs[large], strict=True):
            print(f"daily-sync  growth {small:,} -> {large:,} customers ({large / small:.0f}x), {a.workers} worker(s): "
                  f"wall time {b.wall_s / a.wall_s:.1f}x, DB time per job {b.db_ms / large / (a.db_ms / small):.2f}x, "
                  f"calls per customer {b.calls / large:.2f} vs {a.calls / small:.2f}")


if __name__ == "__main__":
    main()
