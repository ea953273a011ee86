"""The CPA story through real components: a CPA under RLS asks for a bank link, the service sends the
Connect email, the client completes Connect at the sandbox, signed webhooks reach the service, the
sync runs, and the CPA reads exactly the bank's data while another CPA reads none of it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.conftest import as_cpa, badge, cpa_view, sandbox_truth
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("service_proc")
DAY = 86_400


def _request_link(
    database_url: str, cpa: uuid.UUID, client: uuid.UUID, email: str | None, delivery: str = "mastercard_email"
) -> str:
    """The CPA's "send bank-link request". Mastercard's email needs the consumer fields (never an SSN)."""
    with as_cpa(database_url, cpa) as conn:
        if delivery == "mastercard_email":
            (request_id,) = conn.execute(
                "insert into public.open_banking_link_requests "
                "(platform_client_id, email_to, first_name, last_name, state, birthday, delivery) "
                "values (%s, %s, 'Maya', 'Lopez', 'OR', date '1984-04-12', 'mastercard_email') returning id",
                (client, email),
            ).fetchone()
        else:
            (request_id,) = conn.execute(
                "insert into public.open_banking_link_requests (platform_client_id) values (%s) returning id",
                (client,),
            ).fetchone()
        conn.commit()
    return str(request_id)


def _delivered_link(database_url: str, cpa: uuid.UUID, request_id: str, status_wanted: str) -> str:
    def probe() -> str | None:
        with as_cpa(database_url, cpa) as conn:
            status, link, error = conn.execute(
                "select status, link, error_message from public.open_banking_link_requests where id = %s",
                (request_id,),
            ).fetchone()
        assert status != "failed", error
        return link if status == status_wanted else None

    return wait_for(f"the link request to be {status_wanted}", probe)


def _sent_link(database_url: str, cpa: uuid.UUID, request_id: str) -> str:
    return _delivered_link(database_url, cpa, request_id, "sent")


def _customer_id(pg: psycopg.Connection, client: uuid.UUID) -> str:
    (finicity_customer_id,) = pg.execute(
        "select finicity_customer_id from public.open_banking_customers where platform_client_id = %s", (client,)
    ).fetchone()
    return str(finicity_customer_id)


def _complete(sandbox_api: httpx.Client, finicity_customer_id: str, seed: int, historic_load: str = "manual") -> dict:
    """The client finishes Connect. `historic_load` is how the bank answers the historic load: `manual`
    keeps it loading until the test settles it (so the 180-day state can be seen)."""
    response = sandbox_api.post(
        "/_sandbox/connect/complete",
        json={
            "customerId": finicity_customer_id,
            "wait": True,
            "profile": {"oauth": True, "accounts": 3, "months": 12, "seed": seed, "transactionsPerAccountPerMonth": 30,
                        "historicLoad": historic_load},
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def _history(database_url: str, cpa: uuid.UUID, client: uuid.UUID) -> tuple[str, Any] | None:
    """What the CPA sees of the login's history: (history_status, earliest_transaction_at)."""
    with as_cpa(database_url, cpa) as conn:
        row = conn.execute(
            "select history_status, earliest_transaction_at from public.open_banking_institution_logins "
            "where platform_client_id = %s",
            (client,),
        ).fetchone()
    return (row[0], row[1]) if row else None


def _added_at(sandbox_api: httpx.Client, finicity_customer_id: str) -> int:
    return min(a["historyFloor"] for a in sandbox_api.get(f"/_sandbox/customers/{finicity_customer_id}").json()[
        "accounts"]) + 180 * DAY


def test_link_request_to_linked_accounts_read_under_rls(database_url, pg, make_cpa, make_client, sandbox_api) -> None:
    """Mastercard's email, 180 days, the historic load, 24 months held, then "refresh now"."""
    cpa, stranger = make_cpa(), make_cpa()
    client = make_client(cpa)
    request_id = _request_link(database_url, cpa, client, "maya@maple.test")

    link = _sent_link(database_url, cpa, request_id)
    emails = sandbox_api.get("/_sandbox/outbox").json()["emails"]
    mine = [e for e in emails if e["to"] == "maya@maple.test"]
    assert [e["link"] for e in mine] == [link] and mine[0]["consumerId"]
    assert badge(database_url, cpa, client) == "pending"

    finicity_customer_id = _customer_id(pg, client)
    done = _complete(sandbox_api, finicity_customer_id, seed=5)
    assert [d["statusCode"] for d in done["deliveries"]] == [202] * len(done["events"])

    # Before the historic load: exactly the 180 days standard aggregation serves.
    truth = sandbox_truth(sandbox_api, finicity_customer_id)
    wait_for("the CPA to see every transaction", lambda: cpa_view(database_url, cpa, client) == truth, timeout=90)
    assert badge(database_url, cpa, client) == "linked"
    added = _added_at(sandbox_api, finicity_customer_id)
    _status, earliest = wait_for("the historic load to start",
                                lambda: (h := _history(database_url, cpa, client)) and h[0] == "loading" and h)
    assert earliest.timestamp() >= added - 180 * DAY
    assert sum(n for n, _, _ in truth.values()) < done["transactions"]

    # The bank completes the historic load: the older window is synced; the CPA sees how far back it goes.
    (refresh,) = wait_for("the historic load at the bank", lambda: [
        r for r in sandbox_api.get("/_sandbox/refreshes").json()["refreshes"]
        if r["customerId"] == finicity_customer_id])
    assert refresh["mode"] == "historic"
    assert sandbox_api.post(f"/_sandbox/refreshes/{refresh['refreshId']}", json={"status": "COMPLETED"}).is_success
    full = sandbox_truth(sandbox_api, finicity_customer_id)
    assert sum(n for n, _, _ in full.values()) == done["transactions"]
    wait_for("all 12 months", lambda: cpa_view(database_url, cpa, client) == full, timeout=90)
    _status, earliest = wait_for("history complete",
                                lambda: (h := _history(database_url, cpa, client)) and h[0] == "complete" and h)
    assert earliest.timestamp() < added - 300 * DAY

    # "Refresh now": Mastercard re-reads the bank (standard refresh), then the sync brings the new rows.
    held = sandbox_api.post("/_sandbox/bank/advance", json={"customerId": finicity_customer_id, "untilRefresh": True})
    assert held.json()["heldUntilRefresh"] > 0
    with as_cpa(database_url, cpa) as conn:
        (sync_id,) = conn.execute(
            "insert into public.open_banking_sync_requests (platform_client_id) values (%s) returning id", (client,)
        ).fetchone()
        conn.commit()
    outcome = wait_for("the refresh request to finish", lambda: _sync_outcome(pg, sync_id) or None, timeout=90)
    assert outcome[0] == "succeeded" and outcome[1] is not None, outcome
    newest = sandbox_truth(sandbox_api, finicity_customer_id)
    assert set(held.json()["created"]) <= set().union(*(ids for _, _, ids in newest.values()))
    wait_for("the bank's new transactions", lambda: cpa_view(database_url, cpa, client) == newest, timeout=60)

    assert cpa_view(database_url, stranger, client) == {}
    assert badge(database_url, stranger, client) is None


def _sync_outcome(pg: psycopg.Connection, sync_id: Any) -> tuple[str, Any] | None:
    status, refresh_id = pg.execute(
        "select status, refresh_id from public.open_banking_sync_requests where id = %s", (sync_id,)
    ).fetchone()
    return (status, refresh_id) if status in ("succeeded", "failed") else None


def test_platform_delivery_and_a_failed_historic_load(database_url, pg, make_cpa, make_client, sandbox_api) -> None:
    """The platform delivers the generated link; the bank cannot load older history: 180 days kept."""
    cpa = make_cpa()
    client = make_client(cpa)
    request_id = _request_link(database_url, cpa, client, None, delivery="platform")
    link = _delivered_link(database_url, cpa, request_id, "ready")
    finicity_customer_id = _customer_id(pg, client)
    assert link == sandbox_api.get(f"/_sandbox/customers/{finicity_customer_id}").json()["latestLink"]["link"]
    assert not [e for e in sandbox_api.get("/_sandbox/outbox").json()["emails"]
                if e["customerId"] == finicity_customer_id]
    _complete(sandbox_api, finicity_customer_id, seed=8, historic_load="failed")
    truth = sandbox_truth(sandbox_api, finicity_customer_id)
    wait_for("the 180 days", lambda: cpa_view(database_url, cpa, client) == truth, timeout=90)
    wait_for("the failed historic load", lambda: (_history(database_url, cpa, client) or ("",))[0] == "failed")
    with as_cpa(database_url, cpa) as conn:
        (error,) = conn.execute(
            "select history_error from public.open_banking_institution_logins where platform_client_id = %s", (client,)
        ).fetchone()
    assert "180 days are kept" in error
    assert cpa_view(database_url, cpa, client) == sandbox_truth(sandbox_api, finicity_customer_id) == truth


def test_dropped_duplicated_and_reordered_webhooks_end_in_the_same_state(
    database_url, pg, make_cpa, make_client, sandbox_api
) -> None:
    cpa = make_cpa()
    client = make_client(cpa)
    request_id = _request_link(database_url, cpa, client, "office@birch.test")
    _sent_link(database_url, cpa, request_id)
    finicity_customer_id = _customer_id(pg, client)
    for fault in (
        {"endpoint": "webhooks", "kind": "webhook_duplicate", "rate": 1.0},
        {"endpoint": "webhooks", "kind": "webhook_reorder", "rate": 1.0, "count": 1},
        {"endpoint": "webhooks", "kind": "webhook_drop", "rate": 1.0, "count": 1},
    ):
        assert sandbox_api.post("/_sandbox/faults", json=fault).status_code == 201
    try:
        done = _complete(sandbox_api, finicity_customer_id, seed=9)
    finally:
        sandbox_api.delete("/_sandbox/faults")
    delivered = [d for d in done["deliveries"] if d.get("statusCode")]
    assert len(delivered) > len({d["eventId"] for d in delivered})  # duplicates were sent

    truth = sandbox_truth(sandbox_api, finicity_customer_id)
    wait_for("the same final state", lambda: cpa_view(database_url, cpa, client) == truth, timeout=90)
    wait_for("the linked badge", lambda: badge(database_url, cpa, client) == "linked")
    stored = pg.execute(
        "select message_id, count(*) from private.ob_webhook_events where finicity_customer_id = %s group by 1",
        (finicity_customer_id,),
    ).fetchall()
    assert stored and all(n == 1 for _, n in stored)
    assert len(stored) == len({d["eventId"] for d in delivered})
