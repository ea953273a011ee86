"""The batch drain with many events at once: one claim, one set-based apply. Its link status must be
what the one-event path gives for the same events in event-time order, whatever order the batch
holds them in; a duplicate changes nothing; an event the database refuses holds up no other."""

from __future__ import annotations

import random
from typing import Any

import psycopg

from service.runtime import Services
from tests.integration import test_webhook_processing as one_by_one
from tests.integration.test_webhook_processing import (
    Customer,
    account,
    added,
    deliver,
    drain_all,
    link_state,
    processed,
    queued_jobs,
)

# The same fixtures as the one-event tests (not their job/batch parametrisation: these are batch-only).
rpc = one_by_one.rpc
services = one_by_one.services
customer = one_by_one.customer

STATUS_EVENTS = {
    "pending": ("adding", {"institutionId": "102176"}),
    "linked": ("done", {"institutionId": "102176"}),
    "error": ("unableToConnect", {"institutionId": "102176", "code": 103}),
}


def reset(pg: psycopg.Connection, who: Customer) -> None:
    pg.execute(
        "update public.open_banking_customers set link_status = 'pending', link_status_at = null,"
        " last_error_code = null, last_error_message = null where finicity_customer_id = %s",
        (who.fid,),
    )


async def test_link_status_of_a_batch_in_any_order_is_the_one_event_path_in_time_order(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    rng = random.Random(18)
    for _ in range(25):
        # Distinct event times: a tie is broken by batch order in one path and arrival order in the other.
        offsets = rng.sample(range(10), rng.randint(1, 6))
        changes = [(rng.choice(list(STATUS_EVENTS)), offset * 1000) for offset in offsets]
        in_time_order = sorted(changes, key=lambda c: c[1])
        reset(pg, customer)
        for status, offset in in_time_order:
            event_type, payload = STATUS_EVENTS[status]
            await deliver(services, customer, event_type, payload, offset_ms=offset)  # the job handler
        expected = link_state(pg, customer)

        reset(pg, customer)
        shuffled = list(changes)
        rng.shuffle(shuffled)
        for status, offset in shuffled:
            event_type, payload = STATUS_EVENTS[status]
            await deliver(services, customer, event_type, payload, offset_ms=offset, process=False)
        await drain_all(services)
        assert link_state(pg, customer) == expected, (in_time_order, shuffled)


async def test_a_whole_session_and_its_duplicates_in_one_batch(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    session = [
        ("started", {}, 0),
        ("adding", {"institutionId": "102176", "oauth": True}, 1000),
        ("added", added(customer, "s1", "s2"), 2000),
        ("done", {"institutionId": "102176"}, 3000),
    ]
    events = [*session, *session[2:]]  # Mastercard retries `added` and `done` under new event ids
    random.Random(5).shuffle(events)
    ids = [await deliver(services, customer, t, p, offset_ms=o, process=False) for t, p, o in events]
    assert await drain_all(services) >= len(ids)
    assert all(processed(pg, event_id) == (True, None) for event_id in ids)
    assert link_state(pg, customer) == ("linked", None, None)
    accounts = pg.execute(
        "select id from public.open_banking_accounts where platform_client_id = %s order by id",
        (customer.client_id,),
    ).fetchall()
    assert accounts == [(customer.acct("s1"),), (customer.acct("s2"),)]
    assert [job[1] for job in queued_jobs(pg, customer, "sync_customer")] == [f"sync:{customer.fid}"]
    assert [job[1] for job in queued_jobs(pg, customer, "check_consent")] == [f"consent:{customer.login_id}"]
    done = pg.execute(
        "select count(*) from private.ob_jobs where kind = 'process_webhook_event' and status = 'succeeded'"
        " and (payload ->> 'event_id')::bigint = any(%s)",
        (ids,),
    ).fetchone()[0]
    assert done == len(ids)


async def test_an_event_the_database_refuses_is_noted_and_the_rest_of_its_batch_applied(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    bad: dict[str, Any] = {"institutionId": "102176", "accounts": [account(customer, "x1", displayPosition=10**12)]}
    bad_id = await deliver(services, customer, "added", bad, offset_ms=2000, process=False)
    good_id = await deliver(services, customer, "added", added(customer, "y1"), offset_ms=3000, process=False)
    await drain_all(services)
    done, note = processed(pg, bad_id)
    assert done and note is not None and note.startswith("ob_webhook_events_apply:")
    assert processed(pg, good_id) == (True, None)
    accounts = pg.execute(
        "select id from public.open_banking_accounts where platform_client_id = %s", (customer.client_id,)
    ).fetchall()
    assert accounts == [(customer.acct("y1"),)]


async def test_an_event_already_processed_is_not_applied_again_by_a_batch(
    services: Services, customer: Customer, pg: psycopg.Connection
) -> None:
    event_id = await deliver(services, customer, "added", added(customer, "z1"), offset_ms=3000, process=False)
    pg.execute("update private.ob_webhook_events set processed_at = now() where id = %s", (event_id,))
    await drain_all(services)
    assert pg.execute(
        "select count(*) from public.open_banking_accounts where id = %s", (customer.acct("z1"),)
    ).fetchone()[0] == 0
    status = pg.execute(
        "select status from private.ob_jobs where kind = 'process_webhook_event' and payload ->> 'event_id' = %s",
        (str(event_id),),
    ).fetchone()[0]
    assert status == "succeeded"
