"""The CPA story through real components: a CPA under RLS asks for a bank link, the service sends the
Connect email, the client completes Connect at the sandbox, signed webhooks reach the service, the
sync runs, and the CPA reads exactly the bank's data while another CPA reads none of it."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from tests.e2e.conftest import as_cpa, badge, cpa_view, sandbox_truth
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("service_proc")


def _request_link(database_url: str, cpa: uuid.UUID, client: uuid.UUID, email: str) -> str:
    with as_cpa(database_url, cpa) as conn:
        (request_id,) = conn.execute(
            "insert into public.open_banking_link_requests (platform_client_id, email_to, first_name) "
            "values (%s, %s, 'Maya') returning id",
            (client, email),
        ).fetchone()
        conn.commit()
    return str(request_id)


def _sent_link(database_url: str, cpa: uuid.UUID, request_id: str) -> str:
    def probe() -> str | None:
        with as_cpa(database_url, cpa) as conn:
            status, link, error = conn.execute(
                "select status, link, error_message from public.open_banking_link_requests where id = %s",
                (request_id,),
            ).fetchone()
        assert status != "failed", error
        return link if status == "sent" else None

    return wait_for("the Connect email to be sent", probe)


def _customer_id(pg: psycopg.Connection, client: uuid.UUID) -> str:
    (finicity_customer_id,) = pg.execute(
        "select finicity_customer_id from public.open_banking_customers where platform_client_id = %s", (client,)
    ).fetchone()
    return str(finicity_customer_id)


def _complete(sandbox_api: httpx.Client, finicity_customer_id: str, seed: int) -> dict:
    response = sandbox_api.post(
        "/_sandbox/connect/complete",
        json={
            "customerId": finicity_customer_id,
            "wait": True,
            "profile": {"oauth": True, "accounts": 3, "months": 12, "seed": seed, "transactionsPerAccountPerMonth": 30},
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_link_request_to_linked_accounts_read_under_rls(database_url, pg, make_cpa, make_client, sandbox_api) -> None:
    cpa, stranger = make_cpa(), make_cpa()
    client = make_client(cpa)
    request_id = _request_link(database_url, cpa, client, "maya@maple.test")

    link = _sent_link(database_url, cpa, request_id)
    emails = sandbox_api.get("/_sandbox/outbox").json()["emails"]
    assert [e["link"] for e in emails if e["to"] == "maya@maple.test"] == [link]
    assert badge(database_url, cpa, client) == "pending"

    finicity_customer_id = _customer_id(pg, client)
    done = _complete(sandbox_api, finicity_customer_id, seed=5)
    assert [d["statusCode"] for d in done["deliveries"]] == [202] * len(done["events"])

    truth = sandbox_truth(sandbox_api, finicity_customer_id)
    wait_for("the CPA to see every transaction", lambda: cpa_view(database_url, cpa, client) == truth, timeout=90)
    assert badge(database_url, cpa, client) == "linked"
    assert sum(n for n, _, _ in truth.values()) == done["transactions"] > 0
    assert cpa_view(database_url, stranger, client) == {}
    assert badge(database_url, stranger, client) is None


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
