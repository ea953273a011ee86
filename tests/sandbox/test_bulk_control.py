"""The control API's bulk set-up: many linked customers in one call, then a day of new transactions for
all of them; what it makes is what the Mastercard API then serves."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.state import SandboxState


async def test_bulk_customers_are_linked_and_served_by_the_api(client: Any, h: dict[str, str]) -> None:
    made = await client.post("/_sandbox/bulk/customers", json={
        "count": 3, "usernamePrefix": "load",
        "profile": {"accounts": 2, "months": 1, "transactionsPerAccountPerMonth": 3}})
    assert made.status_code == 200
    customers = made.json()["customers"]
    assert len({c["customerId"] for c in customers}) == 3
    first = customers[0]
    assert first["username"] == f"load{first['customerId']}"
    assert len(first["accounts"]) == 2
    accounts = await client.get(f"/aggregation/v1/customers/{first['customerId']}/accounts", headers=h)
    assert accounts.status_code == 200
    assert sorted(a["id"] for a in accounts.json()["accounts"]) == sorted(first["accounts"])
    assert {str(a["institutionLoginId"]) for a in accounts.json()["accounts"]} == {str(first["institutionLoginId"])}


async def test_bulk_advance_adds_transactions_for_every_customer(client: Any) -> None:
    customers = (await client.post("/_sandbox/bulk/customers", json={
        "count": 2, "profile": {"accounts": 3, "months": 1, "transactionsPerAccountPerMonth": 2}})).json()["customers"]
    before = [(await client.get(f"/_sandbox/customers/{c['customerId']}")).json() for c in customers]
    done = await client.post("/_sandbox/bulk/advance", json={
        "customerIds": [c["customerId"] for c in customers], "days": 1, "newPerAccount": 2, "seed": 3})
    assert done.status_code == 200
    assert done.json()["customers"] == 2
    assert done.json()["created"] == 2 * 3 * 2
    for old, c in zip(before, customers, strict=True):
        new = (await client.get(f"/_sandbox/customers/{c['customerId']}")).json()
        grown = sum(a["transactions"] for a in new["accounts"]) - sum(a["transactions"] for a in old["accounts"])
        assert grown == 3 * 2  # posted pending rows replace themselves; the new ones add


@pytest.mark.parametrize("body", [
    {"count": -1}, {"count": "3"}, {"count": 100_001}, {"count": 1, "usernamePrefix": "no spaces"},
])
async def test_bulk_customers_refuses_bad_input(client: Any, body: dict[str, Any]) -> None:
    answer = await client.post("/_sandbox/bulk/customers", json=body)
    assert answer.status_code == 400
    assert "error" in answer.json()


async def test_bulk_advance_refuses_unknown_customers(client: Any) -> None:
    answer = await client.post("/_sandbox/bulk/advance", json={"customerIds": ["999999999"]})
    assert answer.status_code == 404


async def test_bulk_account_ids_are_unique_across_customers(client: Any, h: dict[str, str]) -> None:
    """Mastercard's account ids are global (the service keys accounts by id alone): at 3,000 customers of
    5 accounts, per-customer random ids used to repeat across customers and lose their transactions."""
    customers: list[dict[str, Any]] = []
    for _ in range(3):
        made = await client.post("/_sandbox/bulk/customers", json={
            "count": 1_000, "usernamePrefix": "uniq",
            "profile": {"accounts": 5, "months": 1, "transactionsPerAccountPerMonth": 1}})
        assert made.status_code == 200
        customers += made.json()["customers"]
    ids = [a for c in customers for a in c["accounts"]]
    assert len(ids) == 3_000 * 5
    assert len(set(ids)) == len(ids)
    assert all(a.isdigit() for a in ids)
    # What the API serves carries the same ids (one customer's accounts, as the service reads them).
    last = customers[-1]
    served = await client.get(f"/aggregation/v1/customers/{last['customerId']}/accounts", headers=h)
    assert sorted(a["id"] for a in served.json()["accounts"]) == sorted(last["accounts"])


def test_an_account_id_drawn_twice_is_handed_out_once() -> None:
    """Two customers whose seeded draws are the same number get different ids, and an id stays taken."""
    state = SandboxState(id_block=1)
    first = state.claim_account_id(6_123_456_789)
    second = state.claim_account_id(6_123_456_789)
    assert first == "6123456789"
    assert second == "6123456790"
    state.customers.clear()  # a deleted customer's account ids are never reused
    assert state.claim_account_id(6_123_456_789) == "6123456791"
