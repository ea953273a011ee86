"""Webhook event processing against the real database: what each event sets in motion. Every
scenario runs twice: through the one-event job handler and through the batch drain (one claim, one
set-based apply); the batch-only tests at the end deliver many events to one drain."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from service.db.port import DatabaseUnavailable
from service.db.postgres import PostgresRpc
from service.jobs.types import Job, PermanentJobError
from service.runtime import Services
from service.webhooks.process import drain_webhook_events, process_webhook_event
from tests.unit.webhooks.support import closed_port_rpc, connect_event, local_settings, make_services


@pytest.fixture
async def rpc(database_url: str) -> AsyncIterator[PostgresRpc]:  # type: ignore[override]
    port = PostgresRpc(database_url, max_size=2)
    await port.open()
    yield port
    await port.close()


_PATH = {"name": "job"}


@pytest.fixture(params=["job", "batch"], autouse=True)
def path(request: pytest.FixtureRequest) -> str:
    """Which way `deliver` processes events: the job handler, or the batch drain."""
    _PATH["name"] = request.param
    return str(request.param)


@pytest.fixture
def services(rpc: PostgresRpc, database_url: str) -> Services:
    return make_services(local_settings(database_url), rpc)


async def drain_all(services: Services) -> int:
    total = 0
    while claimed := await drain_webhook_events(services):
        total += claimed
    return total


class Customer:
    def __init__(self, fid: str, client_id: uuid.UUID) -> None:
        self.fid = fid
        self.client_id = client_id
        self.base_ms = int(time.time() * 1000) + 1000  # after the customer row was made
        self.event_ids: list[int] = []
        self.login_id = 7_000_000_000 + int(fid) % 1_000_000_000

    def acct(self, suffix: str) -> str:
        return f"{self.fid}-{suffix}"


@pytest.fixture
async def customer(
    rpc: PostgresRpc,
    pg: psycopg.Connection,
    make_cpa: Callable[..., uuid.UUID],
    make_client: Callable[..., uuid.UUID],
) -> AsyncIterator[Customer]:
    client_id = make_client(make_cpa())
    fid = str(uuid.uuid4().int)[:10]
    await rpc.call(
        "ob_customer_upsert",
        {
            "p_platform_client_id": client_id,
            "p_username": f"cpa-{client_id.hex}",
            "p_customer_type": "testing",
            "p_finicity_customer_id": fid,
        },
    )
    made = Customer(fid, client_id)
    yield made
    pg.execute(
        "delete from private.ob_jobs where payload ->> 'finicity_customer_id' = %s"
        " or (kind = 'process_webhook_event' and (payload ->> 'event_id')::bigint = any(%s))",
        (fid, made.event_ids),
    )
    pg.execute("delete from private.ob_webhook_events where id = any(%s)", (made.event_ids,))
    pg.execute("delete from public.clients where id = %s", (client_id,))


def account(who: Customer, suffix: str, **extra: Any) -> dict[str, Any]:
    fid, account_id, login_id = who.fid, who.acct(suffix), who.login_id
    return {
        "id": account_id,
        "number": "987654321",
        "name": f"Account {account_id}",
        "balance": 1234.56,
        "type": "checking",
        "status": "active",
        "customerId": fid,
        "institutionId": "102176",
        "createdDate": 1688650529,
        "lastUpdatedDate": 1688650529,
        "currency": "USD",
        "institutionLoginId": login_id,
        "displayPosition": 1,
        **extra,
    }


def added(who: Customer, *suffixes: str, oauth: bool = True) -> dict[str, Any]:
    payload: dict[str, Any] = {"institutionId": "102176", "accounts": [account(who, a) for a in suffixes]}
    if oauth:
        payload["oauth"] = True
    return payload


async def deliver(
    services: Services,
    who: Customer,
    event_type: str,
    payload: dict[str, Any] | None = None,
    offset_ms: int = 0,
    source: str = "connect",
    body: dict[str, Any] | None = None,
    process: bool = True,
) -> int:
    """Store the event as intake does, then run its job (or drain the batch) unless told not to."""
    if body is None:
        event_id = f"{who.base_ms + offset_ms:013d}-{uuid.uuid4().hex[:24]}"
        body = connect_event(who.fid, event_type, payload, event_id)
        message_id = event_id
    else:
        message_id = str(uuid.uuid4())
    (result,) = await services.rpc.call("ob_webhook_events_ingest", {"p_events": [{
        "p_source": source,
        "p_message_id": message_id,
        "p_event_type": event_type,
        "p_finicity_customer_id": who.fid,
        "p_headers": {},
        "p_payload": body,
        "p_verified": True,
    }]})
    who.event_ids.append(result["event_id"])
    if not process:
        return int(result["event_id"])
    if _PATH["name"] == "batch":
        assert await drain_all(services) >= 1
        return int(result["event_id"])
    await process_webhook_event(
        services,
        Job(
            id=0,
            kind="process_webhook_event",
            payload={"event_id": result["event_id"]},
            attempts=1,
            max_attempts=8,
        ),
    )
    return result["event_id"]


def link_state(pg: psycopg.Connection, who: Customer) -> tuple[str, str | None, str | None]:
    return pg.execute(
        "select link_status, last_error_code, last_error_message from public.open_banking_customers"
        " where finicity_customer_id = %s",
        (who.fid,),
    ).fetchone()


def processed(pg: psycopg.Connection, event_id: int) -> tuple[bool, str | None]:
    at, error = pg.execute(
        "select processed_at, process_error from private.ob_webhook_events where id = %s", (event_id,)
    ).fetchone()
    return at is not None, error


def queued_jobs(pg: psycopg.Connection, who: Customer, kind: str) -> list[tuple[Any, ...]]:
    return pg.execute(
        "select payload, dedupe_key from private.ob_jobs where kind = %s and status = 'queued'"
        " and payload ->> 'finicity_customer_id' = %s",
        (kind, who.fid),
    ).fetchall()


async def test_added_stores_the_login_and_accounts_and_asks_for_a_sync(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    event_id = await deliver(services, customer, "added", added(customer, "a1", "a2"), offset_ms=3000)
    assert processed(pg, event_id) == (True, None)
    accounts = pg.execute(
        "select id, number_masked, balance, institution_login_id from public.open_banking_accounts"
        " where platform_client_id = %s order by id",
        (customer.client_id,),
    ).fetchall()
    assert accounts == [
        (customer.acct("a1"), "****4321", Decimal("1234.56"), customer.login_id),
        (customer.acct("a2"), "****4321", Decimal("1234.56"), customer.login_id),
    ]
    login = pg.execute(
        "select institution_id, oauth from public.open_banking_institution_logins where id = %s",
        (customer.login_id,),
    ).fetchone()
    assert login == ("102176", True)
    syncs = queued_jobs(pg, customer, "sync_customer")
    assert [s[1] for s in syncs] == [f"sync:{customer.fid}"]
    assert link_state(pg, customer)[0] == "pending"


async def test_done_before_added_ends_linked(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    await deliver(services, customer, "done", {"institutionId": "102176"}, offset_ms=4000)
    await deliver(services, customer, "added", added(customer, "b1"), offset_ms=3000)
    assert link_state(pg, customer)[0] == "linked"
    assert (
        pg.execute(
            "select count(*) from public.open_banking_accounts where id = %s", (customer.acct("b1"),)
        ).fetchone()[0]
        == 1
    )


async def test_a_late_adding_after_done_stays_linked(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    await deliver(services, customer, "added", added(customer, "c1"), offset_ms=3000)
    await deliver(services, customer, "done", {"institutionId": "102176"}, offset_ms=4000)
    await deliver(services, customer, "adding", {"institutionId": "102176", "oauth": True}, offset_ms=1000)
    assert link_state(pg, customer)[0] == "linked"


async def test_a_fully_reversed_session_ends_as_in_order(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    session = [
        ("started", {}),
        ("institutionSupported", {"institutionId": "102176"}),
        ("adding", {"institutionId": "102176", "oauth": True}),
        ("processing", {"institutionId": "102176"}),
        ("added", added(customer, "d1")),
        ("done", {"institutionId": "102176"}),
    ]
    for offset, (event_type, payload) in reversed(list(enumerate(session))):
        await deliver(services, customer, event_type, payload, offset_ms=offset * 1000)
    assert link_state(pg, customer) == ("linked", None, None)


async def test_unable_to_connect_sets_error_with_a_readable_reason(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    await deliver(
        services, customer, "unableToConnect", {"institutionId": "101732", "code": 103}, offset_ms=2000
    )
    status, code, message = link_state(pg, customer)
    assert (status, code) == ("error", "103")
    assert message is not None and "sign-in details" in message


async def test_an_unknown_aggregation_code_gets_a_generic_reason(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    await deliver(
        services, customer, "unableToConnect", {"institutionId": "101732", "code": 777}, offset_ms=2000
    )
    assert link_state(pg, customer) == (
        "error",
        "777",
        "The bank connection could not be completed (code 777).",
    )


async def test_institution_not_supported_sets_error_named_by_the_event(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    await deliver(services, customer, "institutionNotSupported", {"institutionId": "1"}, offset_ms=2000)
    assert link_state(pg, customer) == (
        "error",
        "institutionNotSupported",
        "This bank is not supported for data connections.",
    )


async def test_accounts_deleted_removes_the_accounts_and_their_transactions(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    await deliver(services, customer, "added", added(customer, "e1", "e2"), offset_ms=3000)
    tx_id = int(customer.fid) * 10
    await services.rpc.call(
        "ob_transactions_upsert",
        {
            "p_account_id": customer.acct("e1"),
            "p_fetched_at": dt.datetime.now(dt.UTC),
            "p_transactions": [
                {
                    "id": tx_id,
                    "amount": "-12.50",
                    "description": "Coffee",
                    "status": "posted",
                    "transaction_at": "2026-01-02T00:00:00Z",
                    "posted_at": "2026-01-02T00:00:00Z",
                }
            ],
        },
    )
    assert pg.execute(
        "select count(*) from public.open_banking_transactions where id = %s", (tx_id,)
    ).fetchone()[0]
    event_id = await deliver(
        services,
        customer,
        "accountsDeleted",
        {"institutionId": "102176", "accounts": [customer.acct("e1")]},
        offset_ms=5000,
    )
    assert processed(pg, event_id) == (True, None)
    remaining = pg.execute(
        "select id from public.open_banking_accounts where platform_client_id = %s", (customer.client_id,)
    ).fetchall()
    assert remaining == [(customer.acct("e2"),)]
    assert (
        pg.execute(
            "select count(*) from public.open_banking_transactions where id = %s", (tx_id,)
        ).fetchone()[0]
        == 0
    )


async def test_a_replayed_accounts_deleted_keeps_accounts_seen_since(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    """An accountsDeleted older than the account's latest sighting (a replay after the dedupe window,
    or a late delivery) is recorded, and the account stays."""
    await deliver(services, customer, "added", added(customer, "r1"), offset_ms=3000)
    event_id = await deliver(services, customer, "accountsDeleted",
                             {"institutionId": "102176", "accounts": [customer.acct("r1")]}, offset_ms=-60_000)
    assert processed(pg, event_id) == (
        True, "1 account(s) seen after this event were kept (a replayed or late accountsDeleted)")
    assert pg.execute("select count(*) from public.open_banking_accounts where id = %s",
                      (customer.acct("r1"),)).fetchone()[0] == 1


def expiry_reminder(who: Customer, login_id: int | None = None,
                    event_time: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    login_id = who.login_id if login_id is None else login_id
    return {
        "eventId": str(uuid.uuid4()),
        "eventType": "authorization.expiration.reminder",
        "eventTime": event_time,
        "customerId": who.fid,
        "institutionLoginId": login_id,
        "data": {
            "institutionId": "102176",
            "authorizationEndDate": "2026-01-10T00:00:00Z",
            "daysUntilExpiration": 9,
        },
    }


async def test_an_expiry_reminder_flags_the_login_for_reauth(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    await deliver(services, customer, "added", added(customer, "f1"), offset_ms=3000)
    event_id = await deliver(
        services,
        customer,
        "authorization.expiration.reminder",
        source="obwms",
        body=expiry_reminder(customer),
    )
    assert processed(pg, event_id) == (True, None)
    needs_reauth, message = pg.execute(
        "select needs_reauth, last_error_message from public.open_banking_institution_logins where id = %s",
        (customer.login_id,),
    ).fetchone()
    assert needs_reauth is True
    assert "2026-01-10" in message
    assert queued_jobs(pg, customer, "check_consent") == [
        (
            {"institution_login_id": customer.login_id, "finicity_customer_id": customer.fid},
            f"consent:{customer.login_id}",
        )
    ]


async def test_an_older_reminder_is_recorded_but_does_not_undo_newer_state(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    await deliver(services, customer, "added", added(customer, "o1"), offset_ms=3000)
    newer = await deliver(services, customer, "authorization.expiration.reminder", source="obwms",
                          body=expiry_reminder(customer, event_time="2026-02-01T00:00:00Z"))
    assert processed(pg, newer) == (True, None)
    # The client renews; then an older reminder arrives (late, or replayed with a fresh signature).
    pg.execute("update public.open_banking_institution_logins set needs_reauth = false where id = %s",
               (customer.login_id,))
    older = await deliver(services, customer, "authorization.expiration.reminder", source="obwms",
                          body=expiry_reminder(customer, event_time="2026-01-15T00:00:00Z"))
    assert processed(pg, older) == (True, "recorded, not applied: older than the newest event applied to this "
                                          "login (or its consent was renewed since)")
    assert pg.execute("select needs_reauth from public.open_banking_institution_logins where id = %s",
                      (customer.login_id,)).fetchone()[0] is False


async def test_an_expiry_reminder_requests_a_fix_link_when_the_platform_enables_it(
    rpc: PostgresRpc, database_url: str, customer: Customer, pg: psycopg.Connection
) -> None:
    services = make_services(local_settings(database_url, open_banking_request_fix_links=True), rpc)
    await deliver(services, customer, "added", added(customer, "g1", oauth=False), offset_ms=3000)
    await deliver(
        services,
        customer,
        "authorization.expiration.reminder",
        source="obwms",
        body=expiry_reminder(customer),
    )
    jobs = queued_jobs(pg, customer, "check_consent")
    assert [(j[0]["request_fix_link"], j[1]) for j in jobs] == [(True, f"consent-fix:{customer.login_id}")]


async def test_a_reminder_for_an_unknown_login_is_processed_with_a_note(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    event_id = await deliver(
        services,
        customer,
        "authorization.expiration.reminder",
        source="obwms",
        body=expiry_reminder(customer, login_id=1),
    )
    assert processed(pg, event_id) == (True, "unknown institution login 1")


async def test_an_event_for_an_unknown_customer_is_processed_with_a_note(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    stranger = Customer("0000000001", customer.client_id)
    event_id = await deliver(services, stranger, "done", {})
    customer.event_ids.append(event_id)
    assert processed(pg, event_id) == (True, "unknown Finicity customer 0000000001")


async def test_an_unknown_event_type_is_processed_without_action(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    before = link_state(pg, customer)
    event_id = await deliver(services, customer, "somethingNew", {"x": 1}, offset_ms=2000)
    assert processed(pg, event_id) == (True, None)
    assert link_state(pg, customer) == before


async def test_a_processed_event_is_not_processed_again(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    event_id = await deliver(services, customer, "added", added(customer, "h1"), offset_ms=3000)
    pg.execute("delete from public.open_banking_accounts where id = %s", (customer.acct("h1"),))
    await process_webhook_event(
        services,
        Job(id=0, kind="process_webhook_event", payload={"event_id": event_id}, attempts=2, max_attempts=8),
    )
    count = pg.execute(
        "select count(*) from public.open_banking_accounts where id = %s", (customer.acct("h1"),)
    )
    assert count.fetchone()[0] == 0


async def test_a_database_outage_propagates_so_the_job_is_retried(database_url: str) -> None:
    rpc = closed_port_rpc()
    await rpc.open()
    try:
        with pytest.raises(DatabaseUnavailable):
            await process_webhook_event(
                make_services(local_settings(database_url), rpc),
                Job(id=1, kind="process_webhook_event", payload={"event_id": 1}, attempts=1, max_attempts=8),
            )
    finally:
        await rpc.close()


@pytest.mark.parametrize("payload", [{}, {"event_id": "x"}, {"event_id": None}, {"event_id": True}])
async def test_a_job_without_an_event_id_fails_permanently(
    services: Services, payload: dict[str, Any]
) -> None:
    with pytest.raises(PermanentJobError):
        await process_webhook_event(
            services, Job(id=1, kind="process_webhook_event", payload=payload, attempts=1, max_attempts=8)
        )
