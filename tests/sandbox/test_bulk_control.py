"""The control API's bulk set-up: many linked customers in one call, then a day of new transactions for
all of them; what it makes is what the Mastercard API then serves."""

from __future__ import annotations

from typing import Any

import pytest


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
