"""Crash safety (issue 7, item 1): SIGKILL the service again and again in the middle of a
100k-transaction backfill, restart it each time, and let it finish: the database ends with exactly
the bank's rows (ids, counts and amount sums per account), the sync job is not lost (a killed job's
lease expires and another process runs it again), and nothing is stored twice.

The backfill is started the way the design starts it: the client completes Connect at the sandbox,
the signed Connect webhooks reach the service, and their processing queues `sync_customer`.
Every kill lands while the backfill runs: we wait until the new process holds the job's lease, then
kill it after a random 0.3-2 s. The sandbox adds latency to transaction pages (as a real API has),
so the backfill outlasts all the kills. Heavier: RESILIENCE_CRASH_KILLS=30 scripts/soak.sh.
"""

from __future__ import annotations

import os
import random
import time

import httpx

from tests.resilience.conftest import (
    badge_of,
    connect,
    db_truth,
    jobs_for,
    sandbox_truth,
    wait_for,
)
from tests.support.processes import free_port

KILLS = int(os.environ.get("RESILIENCE_CRASH_KILLS", "10"))
LEASE_SECONDS = 6
SERVICE_ENV = {"WORKER_LEASE_SECONDS": str(LEASE_SECONDS), "WORKER_POLL_SECONDS": "0.5"}
# 10 accounts x 24 months x 420 ≈ 100k transactions.
PROFILE = {"accounts": 10, "months": 24, "per_month": 420, "seed": 11}


def test_sigkill_during_a_100k_backfill_loses_and_duplicates_nothing(
    database_url, sandbox_factory, service_factory, linked_customer_factory, fresh_queue, override_setting
) -> None:
    started = time.monotonic()
    seed = int(os.environ.get("RESILIENCE_SEED", str(random.SystemRandom().randrange(1_000_000))))
    rng = random.Random(seed)
    # A crash counts as an attempt (a job that kills its worker every time must not loop forever),
    # so this test, which crashes one job on purpose KILLS times, gives it the room to survive that.
    override_setting("job_max_attempts", str(KILLS + 8))

    sandbox = sandbox_factory({"SANDBOX_WEBHOOK_RETRY_DELAYS": "[0.5,1,2,4]"})
    # Pages take ~20 ms x kills to serve, so the backfill outlasts every kill's share of progress.
    latency_ms = 20 * KILLS
    httpx.post(f"{sandbox.url}/_sandbox/faults",
               json={"endpoint": "transactions", "kind": "latency", "latencyMs": latency_ms}).raise_for_status()

    port = free_port()
    service = service_factory(sandbox.url, SERVICE_ENV, port=port)
    customer = linked_customer_factory(sandbox.url, webhook_url=f"{service.url}/webhooks/connect", **PROFILE)
    assert customer.completed["transactions"] >= 100_000
    delivered = [d for d in customer.completed["deliveries"] if d.get("statusCode")]
    assert delivered and all(d["statusCode"] in (200, 202) for d in delivered)
    truth = sandbox_truth(httpx.Client(base_url=sandbox.url, timeout=60), customer.finicity_customer_id)
    setup_done = time.monotonic()
    sync_jobs_sql = "kind = 'sync_customer' and payload->>'finicity_customer_id' = %s"
    key = (customer.finicity_customer_id,)

    def held_by(pid: int) -> list[int]:
        return [j["id"] for j in jobs_for(database_url, sync_jobs_sql, key)
                if j["status"] == "running" and f":{pid}:" in (j["locked_by"] or "")]

    kills: list[dict[str, object]] = []
    logs: list[str] = []
    for n in range(KILLS):
        pid = service.popen.pid
        wait_for(f"process {n + 1} to take over the backfill", lambda pid=pid: held_by(pid),
                 timeout=LEASE_SECONDS * 3 + 10)
        rows_before = sum(c for c, _, _ in db_truth(database_url, customer.client_id).values())
        delay = rng.uniform(0.3, 2.0)
        time.sleep(delay)  # noqa: TID251 - the random kill point itself, not synchronisation
        holding = held_by(pid)
        service.kill()  # SIGKILL: no shutdown code runs, the lease is left to expire
        logs.append(service.log())
        kills.append({"delay": round(delay, 2), "held": holding, "rows_before": rows_before})
        assert holding, f"kill {n + 1} came after the backfill finished: raise the page latency"
        if n == KILLS - 1:  # the last process may run at full speed
            httpx.delete(f"{sandbox.url}/_sandbox/faults").raise_for_status()
        service = service_factory(sandbox.url, SERVICE_ENV, port=port)
    kills_done = time.monotonic()

    def finished() -> bool:
        jobs = jobs_for(database_url, sync_jobs_sql, key)
        return bool(jobs) and all(j["status"] in ("succeeded", "dead") for j in jobs)

    wait_for("the backfill to finish after the last restart", finished, timeout=LEASE_SECONDS * 3 + 60)
    phases = (f"setup {setup_done - started:.1f}s, {KILLS} kill cycles {kills_done - setup_done:.1f}s, "
              f"finish {time.monotonic() - kills_done:.1f}s")
    logs.append(service.log())
    final = db_truth(database_url, customer.client_id)
    jobs = jobs_for(database_url, sync_jobs_sql, key)
    all_jobs = jobs_for(database_url, "payload->>'finicity_customer_id' = %s or payload->>'event_id' in "
                        "(select id::text from private.ob_webhook_events where finicity_customer_id = %s)",
                        (customer.finicity_customer_id, customer.finicity_customer_id))
    with connect(database_url) as conn:
        events = conn.execute(
            "select message_id, count(*) from private.ob_webhook_events where finicity_customer_id = %s group by 1",
            key,
        ).fetchall()
        (customer_rows,) = conn.execute(
            "select count(*) from public.open_banking_customers where platform_client_id = %s",
            (customer.client_id,),
        ).fetchone()
        (tx_rows, tx_ids) = conn.execute(
            "select count(*), count(distinct t.id) from public.open_banking_transactions t "
            "where t.platform_client_id = %s", (customer.client_id,),
        ).fetchone()
    succeeded_in_logs = sum(
        1 for text in logs for line in text.splitlines() if '"job.succeeded"' in line and '"sync_customer"' in line
    )

    claims_killed = sum(len(k["held"]) for k in kills)  # type: ignore[arg-type]
    attempts = sum(j["attempts"] for j in jobs)
    total_truth = sum(c for c, _, _ in truth.values())
    lost = sum(len(ids - final.get(a, (0, 0, frozenset()))[2]) for a, (_, _, ids) in truth.items())
    extra = sum(len(ids - truth.get(a, (0, 0, frozenset()))[2]) for a, (_, _, ids) in final.items())
    print(
        f"\n[crash] seed={seed} kills={len(kills)} (all mid-backfill: {sum(1 for k in kills if k['held'])}) "
        f"delays={[k['delay'] for k in kills]} page latency={latency_ms}ms lease={LEASE_SECONDS}s"
        f"\n[crash] rows in db before each kill: {[k['rows_before'] for k in kills]}"
        f"\n[crash] sync jobs={len(jobs)} statuses={[j['status'] for j in jobs]} attempts={attempts} "
        f"(killed claims {claims_killed} + final runs {len(jobs)}); all jobs for the customer: "
        f"{sorted({(j['kind'], j['status']) for j in all_jobs})}"
        f"\n[crash] rows compared={total_truth} accounts={len(truth)} lost={lost} extra={extra} "
        f"duplicated={tx_rows - tx_ids} webhook events={len(events)} (each stored "
        f"{sorted({c for _, c in events})} time) customer rows={customer_rows} "
        f"took {time.monotonic() - started:.1f}s ({phases})"
    )

    assert len(kills) >= KILLS and all(k["held"] for k in kills)
    assert [j["status"] for j in jobs] == ["succeeded"] * len(jobs), jobs
    assert not [j for j in all_jobs if j["status"] == "dead"], all_jobs
    # Every claim of a sync job was either killed or ran to success: no job ran in two processes.
    assert attempts == claims_killed + len(jobs)
    assert succeeded_in_logs == len(jobs)
    assert final == truth
    assert lost == 0 and extra == 0 and tx_rows == tx_ids == total_truth >= 100_000
    assert events and all(c == 1 for _, c in events)
    assert len(events) == len({d["eventId"] for d in delivered})
    assert customer_rows == 1
    assert badge_of(database_url, customer.cpa_id, customer.client_id) == "linked"
