"""24 months the documented way, and "refresh now" for real, through real parts: the real database, the
real Mastercard client and the sandbox app in-process (180 days until a historic load completes;
asynchronous refreshes). Job handlers are called as the worker would call them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from service.jobs.registry import default_handlers
from service.jobs.types import Job
from service.runtime import Services
from service.sync.customer import sync_customer
from service.sync.link import ensure_customer
from service.wiring import services_for
from tests.integration.conftest import SANDBOX_URL
from tests.support.truth import db_truth_on, sandbox_state_truth
from tests.support.waiting import wait_for_async

DAY = 86_400
pytestmark = pytest.mark.sandbox(refresh_delay_seconds=0.05, historic_load_delay_seconds=0.05)
REFRESH_OPS = ("refreshTransactions", "RefreshCustomerAccounts", "RefreshCustomerAccountsV2")


@pytest.fixture
async def services(settings_factory, sandbox) -> AsyncIterator[Services]:
    settings = settings_factory(open_banking_base_url=SANDBOX_URL)
    async with services_for(settings, finicity_http=sandbox) as svc:
        yield svc


async def _linked(services: Services, sandbox: AsyncTestClient, client_id: uuid.UUID, **profile: Any) -> str:
    finicity_customer_id = await ensure_customer(services, client_id, "Olive")
    await services.finicity.generate_connect_link(finicity_customer_id, "http://127.0.0.1:3000/done", None)
    response = await sandbox.post(
        "/_sandbox/connect/complete",
        json={
            "customerId": finicity_customer_id,
            "wait": False,
            "profile": {"accounts": 2, "months": 24, "seed": 5, "transactionsPerAccountPerMonth": 12} | profile,
        },
    )
    assert response.status_code == 200, response.text
    return finicity_customer_id


def _jobs(pg: psycopg.Connection, kind: str, key_like: str) -> list[dict[str, Any]]:
    rows = pg.execute(
        "select id, payload, status from private.ob_jobs where kind = %s and dedupe_key like %s and status = 'queued' "
        "order by id",
        (kind, key_like),
    ).fetchall()
    return [{"id": r[0], "payload": r[1], "status": r[2]} for r in rows]


async def _run(services: Services, pg: psycopg.Connection, kind: str, key_like: str) -> dict[str, Any]:
    """Run the one queued job of this kind and key as the worker would, and mark it done."""
    (job,) = _jobs(pg, kind, key_like)
    await default_handlers()[kind](
        services, Job(id=job["id"], kind=kind, payload=job["payload"], attempts=1, max_attempts=8)
    )
    pg.execute("update private.ob_jobs set status = 'succeeded', finished_at = now() where id = %s", (job["id"],))
    return job


async def _sandbox_refresh_final(sandbox: AsyncTestClient) -> None:
    """The sandbox's own asynchronous refresh, watched through its state."""
    state = sandbox.app.state.sandbox
    await wait_for_async(
        "the sandbox refresh to end",
        lambda: state.refreshes and all(r.status in ("COMPLETED", "FAILED") for r in state.refreshes.values()),
    )


def _only_refresh(sandbox: AsyncTestClient) -> str:
    (refresh_id,) = sandbox.app.state.sandbox.refreshes
    return str(refresh_id)


def _login(pg: psycopg.Connection, client_id: uuid.UUID) -> tuple[Any, ...]:
    return pg.execute(
        "select id, history_status, history_error, earliest_transaction_at from public.open_banking_institution_logins "
        "where platform_client_id = %s",
        (client_id,),
    ).fetchone()


async def test_180_days_then_one_historic_load_then_24_months(services, sandbox, pg, make_cpa, make_client) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked(services, sandbox, client_id)
    state = sandbox.app.state.sandbox
    await sync_customer(services, finicity_customer_id)

    # Exactly what standard aggregation serves: 180 days before each account was added.
    assert db_truth_on(pg, client_id) == sandbox_state_truth(state, finicity_customer_id)
    login_id, status, _, earliest = _login(pg, client_id)
    added = min(a.created for a in state.customers[finicity_customer_id].accounts.values())
    assert status == "not_started" and earliest.timestamp() >= added - 180 * DAY

    await _run(services, pg, "load_history", f"history:{login_id}")
    assert _login(pg, client_id)[1] == "loading"
    await sync_customer(services, finicity_customer_id)  # a second sync queues no second load
    assert _jobs(pg, "load_history", f"history:{login_id}") == []
    await _sandbox_refresh_final(sandbox)
    await _run(services, pg, "follow_refresh", f"refresh:{_only_refresh(sandbox)}")
    assert _login(pg, client_id)[1] == "complete"
    await _run(services, pg, "sync_customer", f"sync:{finicity_customer_id}")  # the customer's one sync

    full = sandbox_state_truth(state, finicity_customer_id)
    assert db_truth_on(pg, client_id) == full
    total = sum(len(a.txs) for a in state.customers[finicity_customer_id].accounts.values())
    assert sum(n for n, _, _ in full.values()) == total  # all 24 months now
    assert _login(pg, client_id)[3].timestamp() < added - 600 * DAY
    modes = [r.mode for r in state.refreshes.values()]
    assert modes == ["historic"]  # one historic load for the one login, nothing else


async def test_a_failed_historic_load_keeps_the_180_days_and_says_so(
    services, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked(services, sandbox, client_id, historicLoad="failed")
    await sync_customer(services, finicity_customer_id)
    before = db_truth_on(pg, client_id)
    login_id = _login(pg, client_id)[0]
    await _run(services, pg, "load_history", f"history:{login_id}")
    await _sandbox_refresh_final(sandbox)
    await _run(services, pg, "follow_refresh", f"refresh:{_only_refresh(sandbox)}")
    _, status, error, _ = _login(pg, client_id)
    assert status == "failed" and "180 days are kept" in error
    assert _jobs(pg, "sync_customer", f"sync:{finicity_customer_id}") == []
    assert db_truth_on(pg, client_id) == before


async def test_the_obwms_event_settles_a_refresh_without_waiting_for_the_poll(
    services, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked(services, sandbox, client_id)
    await sync_customer(services, finicity_customer_id)
    login_id = _login(pg, client_id)[0]
    await _run(services, pg, "load_history", f"history:{login_id}")
    (refresh_id,) = sandbox.app.state.sandbox.refreshes
    await _sandbox_refresh_final(sandbox)
    # The job service/webhooks/plan.py queues for a data-refresh status event.
    await services.rpc.call("ob_job_enqueue", {
        "p_kind": "follow_refresh", "p_dedupe_key": f"refresh-event:{refresh_id}",
        "p_payload": {"refresh_id": refresh_id, "finicity_customer_id": finicity_customer_id, "from_event": True},
    })
    await _run(services, pg, "follow_refresh", f"refresh-event:{refresh_id}")
    assert _login(pg, client_id)[1] == "complete"


async def test_refresh_now_refreshes_then_syncs_the_banks_new_transactions(
    services, sandbox, pg, make_cpa, make_client
) -> None:
    cpa = make_cpa()
    client_id = make_client(cpa)
    finicity_customer_id = await _linked(services, sandbox, client_id, months=3, historyLoaded=True)
    await sync_customer(services, finicity_customer_id)
    held = (
        await sandbox.post("/_sandbox/bank/advance", json={"customerId": finicity_customer_id, "untilRefresh": True})
    ).json()
    assert held["heldUntilRefresh"] > 0
    (request_id,) = pg.execute(
        "insert into public.open_banking_sync_requests (platform_client_id) values (%s) returning id", (client_id,)
    ).fetchone()
    await _run(services, pg, "sync_customer", f"sync:{finicity_customer_id}")
    status, refresh_id = pg.execute(
        "select status, refresh_id from public.open_banking_sync_requests where id = %s", (request_id,)
    ).fetchone()
    assert status == "refreshing" and refresh_id is not None
    await _sandbox_refresh_final(sandbox)
    await _run(services, pg, "follow_refresh", f"refresh:{refresh_id}")
    await _run(services, pg, "sync_customer", f"sync:{finicity_customer_id}")  # after the refresh
    status, transactions = pg.execute(
        "select status, transactions_synced from public.open_banking_sync_requests where id = %s", (request_id,)
    ).fetchone()
    assert status == "succeeded" and transactions > 0
    truth = sandbox_state_truth(sandbox.app.state.sandbox, finicity_customer_id)
    assert db_truth_on(pg, client_id) == truth
    ids = frozenset().union(*(t[2] for t in truth.values()))
    assert set(held["created"]) <= ids  # the bank's new transactions, aggregated by the refresh


async def test_a_day_of_scheduled_work_calls_no_refresh_endpoint(services, sandbox, pg, make_cpa, make_client) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked(services, sandbox, client_id, months=3, historyLoaded=True)
    await sync_customer(services, finicity_customer_id)
    login_id = _login(pg, client_id)[0]
    # History is already complete at this bank: settle the one load the first sync queued without it.
    pg.execute("update private.ob_jobs set status = 'succeeded' where dedupe_key = %s", (f"history:{login_id}",))
    pg.execute(
        "update public.open_banking_institution_logins set history_status = 'complete' where id = %s", (login_id,)
    )
    state = sandbox.app.state.sandbox
    before = dict(state.stats.as_json()["operations"])
    for _hour in range(24):  # the scheduled jobs pg_cron runs, once an hour for a day
        await sandbox.post(
            "/_sandbox/bank/advance", json={"customerId": finicity_customer_id, "newPerAccount": 1, "days": 1}
        )
        pg.execute("select private.ob_schedule_daily_sync()")
        pg.execute("select private.ob_schedule_consent_check()")
        for kind, key in (("sync_customer", f"sync:{finicity_customer_id}"), ("check_consent", f"consent:{login_id}")):
            for _ in _jobs(pg, kind, key):
                await _run(services, pg, kind, key)
        state.clock.offset += 3600
    after = state.stats.as_json()["operations"]
    assert after.get("GetCustomerAccounts", {}) != before.get("GetCustomerAccounts", {})  # the syncs ran
    assert {op: after.get(op) for op in REFRESH_OPS} == dict.fromkeys(REFRESH_OPS)
    assert state.refreshes == {}
