"""The link, sync, consent and delete flows through real parts: the real database (RPC port),
the real Mastercard client, and the sandbox app serving the official API in-process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from service.finicity.models import Birthday, NewConsumer
from service.jobs.types import Job, PermanentJobError
from service.runtime import Services
from service.sync.consent import check_consent
from service.sync.customer import sync_customer
from service.sync.delete import delete_customer_job, forget_client
from service.sync.link import deliver_link, ensure_customer
from service.sync.mapping import customer_username
from service.wiring import services_for
from tests.integration.conftest import SANDBOX_URL
from tests.support.truth import Truth, db_truth_on, sandbox_state_truth
from tests.support.waiting import wait_for


@pytest.fixture
async def services(settings_factory, sandbox) -> AsyncIterator[Services]:
    settings = settings_factory(open_banking_base_url=SANDBOX_URL)
    async with services_for(settings, finicity_http=sandbox) as svc:
        # fast client-side backoff: the faults are simulated, the waiting need not be
        svc.finicity.backoff_base = 0.001
        svc.finicity.backoff_cap = 0.01
        svc.finicity.retry_after_cap = 0.01
        yield svc


@pytest.fixture(params=["per-account", "customer-level"])
async def sync_services(request, settings_factory, sandbox) -> AsyncIterator[Services]:
    """Services whose incremental syncs read per account (v4) or with one customer-level call (v3):
    the exact-data tests run on both paths."""
    days = 0 if request.param == "per-account" else 62
    settings = settings_factory(open_banking_base_url=SANDBOX_URL, open_banking_customer_window_days=days)
    async with services_for(settings, finicity_http=sandbox) as svc:
        svc.finicity.backoff_base = 0.001
        svc.finicity.backoff_cap = 0.01
        svc.finicity.retry_after_cap = 0.01
        yield svc


def _job(kind: str, payload: dict, attempts: int = 1, max_attempts: int = 8) -> Job:
    return Job(id=0, kind=kind, payload=payload, attempts=attempts, max_attempts=max_attempts)


def _request_link(
    pg: psycopg.Connection, client_id: uuid.UUID, email: str = "owner@client.test", delivery: str = "mastercard_email"
) -> str:
    """A link request; Mastercard's email comes with the consumer fields it needs."""
    (row_id,) = pg.execute(
        "insert into public.open_banking_link_requests "
        "(platform_client_id, email_to, first_name, last_name, state, birthday, delivery) "
        "values (%s, %s, 'Olive', 'Oak', 'OR', date '1984-04-12', %s) returning id",
        (client_id, email, delivery),
    ).fetchone()
    return str(row_id)


async def _linked_customer(
    services: Services, sandbox: AsyncTestClient, client_id: uuid.UUID, profile: dict | None = None
) -> str:
    finicity_customer_id = await ensure_customer(services, client_id, "Olive")
    link = await services.finicity.generate_connect_link(
        finicity_customer_id, "http://127.0.0.1:3000/done", "http://127.0.0.1:9/webhooks/connect"
    )
    assert link.link
    response = await sandbox.post(
        "/_sandbox/connect/complete",
        json={
            "customerId": finicity_customer_id,
            "wait": False,
            "profile": {
                "accounts": 3,
                "months": 6,
                "seed": 11,
                "transactionsPerAccountPerMonth": 30,
                # every month served at once: these flows are not about the 180-day rule
                # (tests/integration/test_refresh_and_history.py is)
                "historyLoaded": True,
                **(profile or {}),
            },
        },
    )
    assert response.status_code == 200, response.text
    return finicity_customer_id


def _sandbox_truth(sandbox: AsyncTestClient, finicity_customer_id: str) -> Truth:
    return sandbox_state_truth(sandbox.app.state.sandbox, finicity_customer_id)


def _db_truth(pg: psycopg.Connection, client_id: uuid.UUID) -> Truth:
    return db_truth_on(pg, client_id)


async def test_a_thousand_link_requests_from_one_cpa_send_at_most_the_daily_cap_of_emails(
    services, sandbox, pg, database_url, make_cpa, make_client
) -> None:
    """A retry loop in the React app: 1,000 emailed link requests, one statement each, for 10 clients and
    1,000 addresses. Mastercard sends at most link_requests_per_cpa_per_day emails; the rest are refused."""
    (cap,) = pg.execute(
        "select value::int from private.ob_settings where key = 'link_requests_per_cpa_per_day'"
    ).fetchone()
    cpa = make_cpa()
    clients = [make_client(cpa) for _ in range(10)]
    addresses = [f"person{i}@client.test" for i in range(1000)]
    accepted: list[str] = []
    refusals: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as app:
        app.execute("select set_config('role', 'authenticated', false), set_config('request.jwt.claims', %s, false)",
                    (f'{{"sub": "{cpa}", "role": "authenticated"}}',))
        for i, address in enumerate(addresses):
            try:
                (row_id,) = app.execute(
                    "insert into public.open_banking_link_requests "
                    "(platform_client_id, email_to, first_name, last_name, state, birthday, delivery) "
                    "values (%s, %s, 'Olive', 'Oak', 'OR', date '1984-04-12', 'mastercard_email') returning id",
                    (clients[i % 10], address),
                ).fetchone()
                accepted.append(str(row_id))
            except psycopg.Error as exc:
                assert exc.sqlstate == "PT429", exc
                refusals.append(exc.diag.message_primary or "")
    jobs = pg.execute(
        "select id, payload from private.ob_jobs where kind = 'deliver_link' and status = 'queued' "
        "and payload ->> 'link_request_id' = any(%s)", (accepted,)
    ).fetchall()
    for job_id, payload in jobs:
        await deliver_link(services, _job("deliver_link", payload))
        pg.execute("update private.ob_jobs set status = 'succeeded', finished_at = now() where id = %s", (job_id,))

    emails = [e for e in (await sandbox.get("/_sandbox/outbox")).json()["emails"] if e.get("to") in set(addresses)]
    assert len(accepted) == cap and len(jobs) == cap and len(refusals) == 1000 - cap
    assert len(emails) == cap  # what Mastercard actually sent
    assert {e["to"] for e in emails} == set(addresses[:cap])
    assert refusals[0].startswith(f"you have sent {cap} bank-link requests in the last 24 hours, the most allowed")


async def test_link_request_creates_the_customer_and_sends_the_connect_email(
    services, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    request_id = _request_link(pg, client_id, "olive@client.test")
    await deliver_link(services, _job("deliver_link", {"link_request_id": request_id}))

    status, link, ttl = pg.execute(
        "select status, link, ttl_expires_at from public.open_banking_link_requests where id = %s", (request_id,)
    ).fetchone()
    customer = pg.execute(
        "select finicity_customer_id, finicity_username, link_status from "
        "public.open_banking_customers where platform_client_id = %s",
        (client_id,),
    ).fetchone()
    outbox = (await sandbox.get("/_sandbox/outbox")).json()
    emails = [
        e
        for e in (outbox.get("emails", outbox) if isinstance(outbox, dict) else outbox)
        if e.get("to") == "olive@client.test"
    ]
    assert status == "sent" and link and ttl is not None
    assert customer[1] == customer_username(client_id) and customer[2] == "pending"
    consumer_id, personal = pg.execute(
        "select c.finicity_consumer_id, (select count(*) from public.open_banking_link_requests r "
        " where r.platform_client_id = c.platform_client_id and (r.last_name is not null or r.state is not null "
        " or r.birthday is not null)) from public.open_banking_customers c where c.platform_client_id = %s",
        (client_id,),
    ).fetchone()
    assert consumer_id and personal == 0  # the consumer exists; the personal fields are gone
    assert len(emails) == 1 and emails[0]["link"] == link and emails[0]["consumerId"] == consumer_id
    consumer = sandbox.app.state.sandbox.customers[customer[0]].consumer
    assert consumer.id == consumer_id and consumer.fields["birthday"] == {"year": 1984, "month": 4, "dayOfMonth": 12}
    assert consumer.fields["ssn"] == ""  # never an SSN


async def test_platform_delivery_stores_a_generated_link_without_a_consumer(
    services, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    (request_id,) = pg.execute(
        "insert into public.open_banking_link_requests (platform_client_id) values (%s) returning id", (client_id,)
    ).fetchone()
    await deliver_link(services, _job("deliver_link", {"link_request_id": str(request_id)}))
    status, link, ttl = pg.execute(
        "select status, link, ttl_expires_at from public.open_banking_link_requests where id = %s", (request_id,)
    ).fetchone()
    (finicity_customer_id, consumer_id) = pg.execute(
        "select finicity_customer_id, finicity_consumer_id from public.open_banking_customers "
        "where platform_client_id = %s",
        (client_id,),
    ).fetchone()
    latest = sandbox.app.state.sandbox.customers[finicity_customer_id].latest_link
    assert status == "ready" and link == latest.url and latest.kind == "generate"
    assert ttl is not None and int(ttl.timestamp() * 1000) == latest.ttl_ms
    assert consumer_id is None and sandbox.app.state.sandbox.customers[finicity_customer_id].consumer is None
    assert (await sandbox.get("/_sandbox/outbox")).json()["emails"] == []


async def test_a_consumer_mastercard_already_has_is_found_not_created_again(
    services, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await ensure_customer(services, client_id, "Olive")
    made = await services.finicity.create_consumer(finicity_customer_id, NewConsumer(
        first_name="Olive", last_name="Oak", state="OR", birthday=Birthday(year=1984, month=4, day_of_month=12),
        email="o@client.test"))
    request_id = _request_link(pg, client_id, "found@client.test")
    await deliver_link(services, _job("deliver_link", {"link_request_id": request_id}))
    (consumer_id,) = pg.execute(
        "select finicity_consumer_id from public.open_banking_customers where platform_client_id = %s", (client_id,)
    ).fetchone()
    assert consumer_id == made.id
    stats = sandbox.app.state.sandbox.stats.as_json()["operations"]
    assert stats["CreateConsumer"] == {"201": 1} and stats["GetConsumerForCustomer"] == {"200": 1}


async def test_a_link_request_sent_already_is_not_sent_twice(services, sandbox, pg, make_cpa, make_client) -> None:
    client_id = make_client(make_cpa())
    request_id = _request_link(pg, client_id, "twice@client.test")
    job = _job("deliver_link", {"link_request_id": request_id})
    await deliver_link(services, job)
    await deliver_link(services, job)
    outbox = (await sandbox.get("/_sandbox/outbox")).json()
    emails = [
        e
        for e in (outbox.get("emails", outbox) if isinstance(outbox, dict) else outbox)
        if e.get("to") == "twice@client.test"
    ]
    assert len(emails) == 1


async def test_a_duplicate_username_is_resolved_by_lookup_not_a_second_customer(
    services, sandbox, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    # An earlier attempt created the customer at Mastercard but its answer was lost.
    made = await services.finicity.create_customer(customer_username(client_id), first_name="Olive", testing=True)
    finicity_customer_id = await ensure_customer(services, client_id, "Olive")
    found = await services.finicity.find_customer_by_username(customer_username(client_id))
    assert finicity_customer_id == made.id == found.id


async def test_a_refused_link_is_recorded_with_a_message_a_cpa_can_read(
    settings_factory, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    request_id = _request_link(pg, client_id)
    settings = settings_factory(open_banking_base_url=SANDBOX_URL, open_banking_app_key="wrong-app-key")
    async with services_for(settings, finicity_http=sandbox) as services:
        with pytest.raises(PermanentJobError):
            await deliver_link(services, _job("deliver_link", {"link_request_id": request_id}))
    status, message = pg.execute(
        "select status, error_message from public.open_banking_link_requests where id = %s", (request_id,)
    ).fetchone()
    assert status == "failed"
    assert message and "credentials" in message.lower() and "wrong-app-key" not in message


async def test_a_first_sync_stores_exactly_the_banks_accounts_and_transactions(
    services, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked_customer(services, sandbox, client_id)
    result = await sync_customer(services, finicity_customer_id)

    truth = _sandbox_truth(sandbox, finicity_customer_id)
    assert _db_truth(pg, client_id) == truth
    assert result.transactions == sum(n for n, _, _ in truth.values()) > 0
    (snapshots,) = pg.execute(
        "select count(*) from public.open_banking_balance_snapshots where platform_client_id = %s", (client_id,)
    ).fetchone()
    assert snapshots == len(truth)
    (masked_ok,) = pg.execute(
        "select bool_and(number_masked ~ '^\\*+[0-9]{4}$') from public.open_banking_accounts "
        "where platform_client_id = %s",
        (client_id,),
    ).fetchone()
    assert masked_ok


async def test_a_repeated_sync_writes_no_duplicates(sync_services, sandbox, pg, make_cpa, make_client) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked_customer(sync_services, sandbox, client_id)
    await sync_customer(sync_services, finicity_customer_id)
    again = await sync_customer(sync_services, finicity_customer_id)
    assert again.written == 0
    assert _db_truth(pg, client_id) == _sandbox_truth(sandbox, finicity_customer_id)


async def test_pending_rows_that_post_under_new_ids_and_shadow_rows_leave_no_duplicates(
    sync_services, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked_customer(sync_services, sandbox, client_id)
    await sync_customer(sync_services, finicity_customer_id)
    advanced = await sandbox.post(
        "/_sandbox/bank/advance",
        json={"customerId": finicity_customer_id, "days": 2, "newPerAccount": 4, "postPending": True, "shadow": 2},
    )
    assert advanced.status_code == 200, advanced.text
    await sync_customer(sync_services, finicity_customer_id)
    assert _db_truth(pg, client_id) == _sandbox_truth(sandbox, finicity_customer_id)


async def _calls(sandbox: AsyncTestClient) -> dict[str, int]:
    ops = (await sandbox.get("/_sandbox/stats")).json()["operations"]
    return {op: sum(by_status.values()) for op, by_status in ops.items()}


@pytest.mark.parametrize(("days", "calls"), [(62, 2), (0, 4)])
async def test_a_daily_sync_with_little_new_makes_two_calls_on_the_customer_level_path(
    settings_factory, sandbox, pg, make_cpa, make_client, days: int, calls: int
) -> None:
    settings = settings_factory(open_banking_base_url=SANDBOX_URL, open_banking_customer_window_days=days)
    # This test's sandbox never issued the partner token an earlier test cached: start without one.
    pg.execute("update private.ob_partner_tokens set token_ciphertext = null, expires_at = null, "
               "refresh_holder = null, refresh_lease_until = null")
    async with services_for(settings, finicity_http=sandbox) as svc:
        client_id = make_client(make_cpa())
        finicity_customer_id = await _linked_customer(svc, sandbox, client_id)
        await sync_customer(svc, finicity_customer_id)  # the backfill reads per account
        advanced = await sandbox.post("/_sandbox/bank/advance", json={
            "customerId": finicity_customer_id, "days": 1, "newPerAccount": 3, "postPending": True})
        assert advanced.status_code == 200, advanced.text
        before = await _calls(sandbox)
        await sync_customer(svc, finicity_customer_id)
        after = await _calls(sandbox)
    made = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    # Three accounts: the accounts call, then one customer-level page (v3) or one call per account (v4).
    assert sum(made.values()) == calls, made
    assert _db_truth(pg, client_id) == _sandbox_truth(sandbox, finicity_customer_id)


async def test_faults_slow_a_sync_down_but_change_nothing_in_the_result(
    sync_services, sandbox, pg, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked_customer(sync_services, sandbox, client_id)
    for fault in (
        {"endpoint": "*", "kind": "429", "rate": 0.15, "retryAfter": 0, "seed": 1},
        {"endpoint": "*", "kind": "503", "rate": 0.15, "seed": 2},
        {"endpoint": "transactions", "kind": "latency", "rate": 0.5, "latencyMs": 5, "seed": 3},
        {"endpoint": "transactions", "kind": "token_expiry", "rate": 1.0, "count": 2, "seed": 4},
    ):
        assert (await sandbox.post("/_sandbox/faults", json=fault)).status_code == 201
    sync_services.finicity.max_retries = 8
    await sync_customer(sync_services, finicity_customer_id)
    faults = (await sandbox.get("/_sandbox/faults")).json()["faults"]
    assert all(f["fired"] > 0 for f in faults), faults
    assert _db_truth(pg, client_id) == _sandbox_truth(sandbox, finicity_customer_id)


async def test_consent_close_to_expiry_flags_the_login_for_reauth(services, sandbox, pg, make_cpa, make_client) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked_customer(services, sandbox, client_id, {"consentDays": 10})
    await sync_customer(services, finicity_customer_id)
    (login_id,) = pg.execute(
        "select id from public.open_banking_institution_logins where platform_client_id = %s", (client_id,)
    ).fetchone()
    row = await check_consent(services, login_id)
    assert row["needs_reauth"] is True and row["authorization_end_at"] is not None


async def test_delete_removes_the_finicity_customer_and_every_row(services, sandbox, pg, make_cpa, make_client) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked_customer(services, sandbox, client_id)
    await sync_customer(services, finicity_customer_id)
    result = await forget_client(services, client_id)
    assert result["mastercard"] == "deleted" and result["removed"]["public.open_banking_transactions"] > 0
    assert finicity_customer_id not in sandbox.app.state.sandbox.customers
    for table in (
        "open_banking_customers",
        "open_banking_accounts",
        "open_banking_transactions",
        "open_banking_institution_logins",
        "open_banking_balance_snapshots",
    ):
        (n,) = pg.execute(f"select count(*) from public.{table} where platform_client_id = %s", (client_id,)).fetchone()
        assert n == 0, table
    # The queued twin of the inline deletion was finished by the confirmation and forgot the Mastercard id.
    assert pg.execute("select status, payload from private.ob_jobs where kind = 'delete_customer' "
                      "and payload ->> 'deletion_id' = %s", (str(result["deletion_id"]),)).fetchall() == [
        ("succeeded", {"deletion_id": result["deletion_id"]})]
    assert pg.execute("select mastercard from private.ob_deletions where id = %s",
                      (result["deletion_id"],)).fetchone() == ("deleted",)


async def test_the_deletion_job_retries_until_mastercard_answers_then_is_idempotent(
        services, sandbox, pg, make_cpa, make_client) -> None:
    """The platform's door queues the job; Mastercard failing makes it retry (not die); a second run
    after the customer is gone records `already_gone`."""
    from service.finicity.errors import FinicityError
    from service.jobs.types import Job

    client_id = make_client(make_cpa())
    finicity_customer_id = await _linked_customer(services, sandbox, client_id)
    pg.execute("delete from public.clients where id = %s", (client_id,))
    (job_id, payload, max_attempts) = pg.execute(
        "select id, payload, max_attempts from private.ob_jobs where kind = 'delete_customer' "
        "and payload ->> 'finicity_customer_id' = %s", (finicity_customer_id,)).fetchone()
    assert max_attempts >= 100_000
    job = Job(id=job_id, kind="delete_customer", payload=payload, attempts=1, max_attempts=max_attempts)
    fault = {"endpoint": "customers", "kind": "503", "rate": 1.0, "seed": 5}
    assert (await sandbox.post("/_sandbox/faults", json=fault)).status_code == 201
    with pytest.raises(FinicityError):
        await delete_customer_job(services, job)  # a retryable failure: the worker schedules a retry
    assert pg.execute("select mastercard from private.ob_deletions where id = %s",
                      (payload["deletion_id"],)).fetchone() == ("pending",)
    assert (await sandbox.delete("/_sandbox/faults")).status_code in (200, 204)
    await delete_customer_job(services, job)
    assert finicity_customer_id not in sandbox.app.state.sandbox.customers
    await delete_customer_job(services, job)  # a re-run (crashed worker) after Mastercard deleted it
    assert pg.execute("select mastercard from private.ob_deletions where id = %s",
                      (payload["deletion_id"],)).fetchone() == ("deleted",)


def _mastercard_customers_named(sandbox: AsyncTestClient, client_id: uuid.UUID) -> list[str]:
    username = customer_username(client_id)
    return [c.id for c in sandbox.app.state.sandbox.customers.values() if c.username == username]


@pytest.mark.parametrize("door", ["platform", "operator"])
async def test_a_client_deleted_while_mastercard_makes_its_customer_leaves_no_customer_anywhere(
        services, sandbox, pg, make_cpa, make_client, monkeypatch, door) -> None:
    """The client is deleted (either door) between the link job's customer row and Mastercard's answer:
    the job ends for good, nothing comes back in the database, and the new Mastercard customer is
    deleted by the deletion job the answer queued."""
    client_id = make_client(make_cpa())
    request_id = _request_link(pg, client_id, delivery="platform")
    create = services.finicity.create_customer

    async def create_while_the_client_is_deleted(*args, **kwargs):
        created = await create(*args, **kwargs)
        if door == "platform":
            pg.execute("delete from public.clients where id = %s", (client_id,))
        else:
            pg.execute("select public.ob_client_forget(%s)", (client_id,))
        return created

    monkeypatch.setattr(services.finicity, "create_customer", create_while_the_client_is_deleted)
    with pytest.raises(PermanentJobError, match="queued for deletion"):
        await deliver_link(services, _job("deliver_link", {"link_request_id": request_id}))
    (made,) = _mastercard_customers_named(sandbox, client_id)
    assert pg.execute("select count(*) from public.open_banking_customers where platform_client_id = %s",
                      (client_id,)).fetchone() == (0,)
    (deletion_id, mastercard) = pg.execute("select id, mastercard from private.ob_deletions "
                                           "where platform_client_id = %s", (client_id,)).fetchone()
    assert mastercard == "pending"
    (job_id, payload, max_attempts) = pg.execute(
        "select id, payload, max_attempts from private.ob_jobs where kind = 'delete_customer' "
        "and payload ->> 'finicity_customer_id' = %s", (made,)).fetchone()
    assert payload["deletion_id"] == deletion_id
    await delete_customer_job(services, Job(id=job_id, kind="delete_customer", payload=payload, attempts=1,
                                            max_attempts=max_attempts))
    assert _mastercard_customers_named(sandbox, client_id) == []
    assert pg.execute("select mastercard from private.ob_deletions where id = %s", (deletion_id,)).fetchone() == (
        "deleted",)
    # The job retried (a crash after the answer): its request is gone, so it makes nothing at all.
    if door == "operator":
        with pytest.raises(PermanentJobError):
            await deliver_link(services, _job("deliver_link", {"link_request_id": request_id}, attempts=2))
        assert _mastercard_customers_named(sandbox, client_id) == []


async def test_a_deletion_waits_for_a_customer_step_in_flight_and_then_takes_its_mastercard_id(
        database_url, pg, make_cpa, make_client) -> None:
    """The link job's second step and the client's deletion never interleave: the deletion, started
    while the step's transaction is open, waits for it and then reads the Mastercard id it wrote."""
    client_id = make_client(make_cpa())
    pg.execute("select public.ob_customer_upsert(%s, %s, 'testing')", (client_id, f"wait-{client_id.hex[:8]}"))
    step = psycopg.connect(database_url)
    step.execute("select public.ob_customer_upsert(%s, %s, 'testing', 'wait-fin')",
                 (client_id, f"wait-{client_id.hex[:8]}"))  # open: it holds the client's row

    def forget() -> dict:
        with psycopg.connect(database_url, autocommit=True) as conn:
            return conn.execute("select public.ob_client_forget(%s)", (client_id,)).fetchone()[0]

    with ThreadPoolExecutor(1) as pool:
        forgetting = pool.submit(forget)
        wait_for("the deletion to wait on the client's row", lambda: pg.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
            "and query like '%%ob_client_forget%%' and pid <> pg_backend_pid()").fetchone()[0] == 1)
        assert not forgetting.done()
        step.commit()
        step.close()
        result = forgetting.result(timeout=30)
    assert result["finicity_customer_id"] == "wait-fin"
    assert pg.execute("select mastercard from private.ob_deletions where id = %s",
                      (result["deletion_id"],)).fetchone() == ("pending",)
