"""Mastercard faults (issue 7, item 3): with the sandbox answering about 30% of calls with 429/500/503,
adding random latency, and expiring the partner token over and over (forced expiries plus a sandbox
clock that jumps ahead by 50 minutes at a time, so every token dies of old age too), syncs for 20
customers finish with exactly the bank's data, and the number of HTTP attempts stays bounded.

The syncs run in-process through the real job handler (`sync_customer_job`), the real client and the
real database, against the sandbox app served in-process; a sync that fails is run again as the
worker would run the job again (attempt counter, backoff), with the client's backoff shortened
because the faults are simulated and the waiting need not be."""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from sandbox.app import create_app as create_sandbox
from service.jobs.types import Job
from service.runtime import Services
from service.sync.customer import sync_customer_job
from service.sync.link import ensure_customer
from service.wiring import services_for
from tests.resilience.support_faults import Comparison, db_client_truth, sandbox_config
from tests.support.truth import sandbox_state_truth

SANDBOX_URL = "http://sandbox.test"
CUSTOMERS = 20
PROFILE = {"oauth": False, "accounts": 2, "months": 3, "transactionsPerAccountPerMonth": 30}
WORKER_LANES = 5  # jobs running at once, as a worker with concurrency 5
CLOCK_STEP_S = 3000  # 50 minutes of sandbox time per step: a 2 h token dies every third step
CLOCK_EVERY_S = 0.25
FAULTS = [
    {"endpoint": "*", "kind": "429", "rate": 0.12, "retryAfter": 0, "seed": 31},
    {"endpoint": "*", "kind": "500", "rate": 0.09, "seed": 32},
    {"endpoint": "*", "kind": "503", "rate": 0.12, "retryAfter": 0, "seed": 33},
    {"endpoint": "*", "kind": "latency", "rate": 0.30, "latencyMs": 5, "seed": 34},
    {"endpoint": "*", "kind": "latency", "rate": 0.10, "latencyMs": 40, "seed": 35},
    {"endpoint": "*", "kind": "latency", "rate": 0.02, "latencyMs": 250, "seed": 36},
    {"endpoint": "transactions", "kind": "token_expiry", "rate": 0.05, "seed": 37},
    {"endpoint": "accounts", "kind": "token_expiry", "rate": 0.05, "seed": 38},
]

current_customer: contextvars.ContextVar[str] = contextvars.ContextVar("current_customer", default="-")


@pytest.fixture
async def sandbox() -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_sandbox(sandbox_config()), base_url=SANDBOX_URL) as client:
        yield client


@pytest.fixture
async def services(settings_factory, sandbox) -> AsyncIterator[Services]:
    settings = settings_factory(open_banking_base_url=SANDBOX_URL)
    async with services_for(settings, finicity_http=sandbox) as svc:
        svc.finicity.backoff_base = 0.002
        svc.finicity.backoff_cap = 0.02
        svc.finicity.retry_after_cap = 0.01
        yield svc


async def _linked_customer(services: Services, sandbox: AsyncTestClient[Any], client_id: uuid.UUID, seed: int) -> str:
    finicity_customer_id = await ensure_customer(services, client_id, "Faulty")
    await services.finicity.generate_connect_link(
        finicity_customer_id, "http://127.0.0.1:3000/done", "http://127.0.0.1:9/webhooks/connect"
    )
    response = await sandbox.post(
        "/_sandbox/connect/complete",
        json={"customerId": finicity_customer_id, "wait": False, "profile": {**PROFILE, "seed": seed}},
    )
    assert response.status_code == 200, response.text
    return finicity_customer_id


def _operation_total(stats: dict[str, Any]) -> Counter[str]:
    total: Counter[str] = Counter()
    for by_status in stats["operations"].values():
        for status, n in by_status.items():
            total[status] += n
    return total


async def test_syncs_under_mastercard_faults_end_exact_with_bounded_retries(
    services: Services, sandbox: AsyncTestClient[Any], pg: psycopg.Connection[Any], make_cpa, make_client
) -> None:
    began = time.monotonic()
    # The worker's budget for a sync job: the one definition, in private.ob_settings.
    (max_attempts,) = pg.execute("select value::int from private.ob_settings where key = 'job_max_attempts'").fetchone()
    cpa = make_cpa()
    clients = [make_client(cpa) for _ in range(CUSTOMERS)]
    customers = [await _linked_customer(services, sandbox, c, seed=100 + i) for i, c in enumerate(clients)]
    setup_s = time.monotonic() - began

    # Every HTTP attempt the client makes from here on, attributed to the customer whose job made it.
    calls: dict[str, list[tuple[str, int | None, str | None, int]]] = defaultdict(list)
    job_attempt: dict[str, int] = {}
    metrics_hook = services.finicity.on_call

    def on_call(method: str, template: str, status: int | None, duration: float, code: str | None) -> None:
        who = current_customer.get()
        calls[who].append((f"{method} {template}", status, code, job_attempt.get(who, 0)))
        if metrics_hook is not None:
            metrics_hook(method, template, status, duration, code)

    services.finicity.on_call = on_call
    stats_before = (await sandbox.get("/_sandbox/stats")).json()
    for fault in FAULTS:
        assert (await sandbox.post("/_sandbox/faults", json=fault)).status_code == 201, fault

    clock_steps = 0
    stop_clock = asyncio.Event()

    async def clock() -> None:
        nonlocal clock_steps
        while not stop_clock.is_set():
            response = await sandbox.post("/_sandbox/clock", json={"advanceSeconds": CLOCK_STEP_S})
            assert response.status_code in (200, 201), response.text
            clock_steps += 1
            try:
                await asyncio.wait_for(stop_clock.wait(), CLOCK_EVERY_S)
            except TimeoutError:
                pass

    failures: dict[str, list[str]] = defaultdict(list)
    lanes = asyncio.Semaphore(WORKER_LANES)

    async def run_job(finicity_customer_id: str) -> None:
        current_customer.set(finicity_customer_id)
        for attempt in range(1, max_attempts + 1):
            job_attempt[finicity_customer_id] = attempt
            job = Job(id=0, kind="sync_customer", payload={"finicity_customer_id": finicity_customer_id},
                      attempts=attempt, max_attempts=max_attempts)
            async with lanes:
                try:
                    await sync_customer_job(services, job)
                    return
                except Exception as exc:  # the worker records it and runs the job again later
                    failures[finicity_customer_id].append(f"{type(exc).__name__}: {exc}"[:160])
            await asyncio.sleep(min(0.2, 0.01 * 2**attempt))  # noqa: TID251 - the worker's backoff (shortened)
        raise AssertionError(
            f"{finicity_customer_id}: the job used its {max_attempts} attempts: {failures[finicity_customer_id]}")

    clock_task = asyncio.create_task(clock())
    sync_began = time.monotonic()
    try:
        await asyncio.gather(*(run_job(c) for c in customers))
    finally:
        stop_clock.set()
        await clock_task
    sync_s = time.monotonic() - sync_began

    fired = {(f["kind"], f["endpoint"], f["latencyMs"] if f["kind"] == "latency" else None): f["fired"]
             for f in (await sandbox.get("/_sandbox/faults")).json()["faults"]}
    await sandbox.delete("/_sandbox/faults")
    stats_after = (await sandbox.get("/_sandbox/stats")).json()

    # ---- exact data ------------------------------------------------------------------------------
    state = sandbox.app.state.sandbox
    comparison = Comparison()
    for client_id, finicity_customer_id in zip(clients, customers, strict=True):
        comparison.add(sandbox_state_truth(state, finicity_customer_id), db_client_truth(pg, client_id))
    statuses = dict(pg.execute(
        "select link_status, count(*) from public.open_banking_customers where platform_client_id = any(%s) "
        "group by 1", (clients,)).fetchall())
    sync_errors = pg.execute(
        "select count(*) from public.open_banking_customers where platform_client_id = any(%s) "
        "and (last_sync_error is not null or last_synced_at is null)", (clients,)).fetchone()[0]

    # ---- attempts ---------------------------------------------------------------------------------
    every = [c for who in customers for c in calls[who]]
    outside = sum(len(v) for k, v in calls.items() if k not in customers)
    by_status = Counter(str(status) for _, status, _, _ in every)
    auth_calls = sum(1 for op, _, _, _ in every if "partners/authentication" in op)
    token_rejections = sum(1 for _, status, code, _ in every if status == 401)
    # The fault-free number: the calls the final, successful run of each job needed (each answered 2xx).
    ideal = {
        who: sum(1 for op, status, _, attempt in calls[who]
                 if attempt == job_attempt[who] and status is not None and 200 <= status < 300
                 and "partners/authentication" not in op)
        for who in customers
    }
    fault_free_total = sum(ideal.values()) + 1  # + one partner authentication
    attempts_total = len(every)
    retries = {who: len(calls[who]) - ideal[who] for who in customers}
    served_by_sandbox = sum(_operation_total(stats_after).values()) - sum(_operation_total(stats_before).values())
    # Faults roll independently, so one call may draw two; what the client saw is what counts.
    faults_injected = sum(n for status, n in by_status.items() if status in ("429", "500", "503"))
    fault_rate = faults_injected / max(1, attempts_total)
    job_reruns = sum(len(v) for v in failures.values())

    fired_text = {f"{k}/{e}" + (f"/{ms}ms" if ms else ""): n for (k, e, ms), n in sorted(fired.items())}
    print(
        f"\n[mastercard faults] {CUSTOMERS} customers x {PROFILE['accounts']} accounts x {PROFILE['months']} months; "
        f"setup {setup_s:.1f} s, syncs {sync_s:.1f} s"
        f"\n  faults injected: {faults_injected} HTTP errors in {attempts_total} calls "
        f"({fault_rate:.0%}); fired by kind {fired_text}"
        f"\n  token: {token_rejections} rejections (401) -> {auth_calls} partner authentications "
        f"(sandbox partnerAuth {stats_after['partnerAuth']['count'] - stats_before['partnerAuth']['count']}); "
        f"sandbox clock moved {clock_steps} x {CLOCK_STEP_S // 60} min"
        f"\n  client attempts: {attempts_total} (by status {dict(sorted(by_status.items()))}), fault-free number "
        f"{fault_free_total}, ratio {attempts_total / fault_free_total:.2f}; retries total {sum(retries.values())}, "
        f"per customer min/median/max {min(retries.values())}/{sorted(retries.values())[CUSTOMERS // 2]}/"
        f"{max(retries.values())}"
        f"\n  job re-runs (worker retries): {job_reruns} over {len(failures)} customers; link status {statuses}"
        f"\n  rows compared: {comparison.rows_compared} in {comparison.accounts} accounts; "
        f"lost {comparison.lost}, duplicated {comparison.duplicated}, sum/count mismatches "
        f"{comparison.sum_mismatches}, account mismatches {len(comparison.account_mismatches)}"
    )

    assert comparison.exact, comparison
    assert comparison.rows_compared > 0 and comparison.accounts == CUSTOMERS * PROFILE["accounts"]
    assert statuses == {"linked": CUSTOMERS} and sync_errors == 0
    # The faults really happened, at about the rate asked for.
    assert all(n > 0 for n in fired.values()), fired
    assert 0.2 <= fault_rate <= 0.45 and all(by_status[s] > 0 for s in ("429", "500", "503")), by_status
    assert token_rejections > 0 and auth_calls > 1
    # Client and sandbox agree on how many requests there were (nothing unaccounted for).
    assert outside == 0 and served_by_sandbox == attempts_total
    # Bounded: at most 3x the fault-free number of requests, and no customer ran away.
    assert attempts_total <= 3 * fault_free_total
    assert max(retries.values()) <= 6 * max(ideal.values())
    # How long the syncs took is printed above, not asserted: a timing target belongs in `make bench`.
