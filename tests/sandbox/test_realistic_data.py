"""What Mastercard's docs describe and the generator now produces (issue 13): the date the range filter
uses as a setting, ids unique per account only, pending rows that post days later, transaction and
posted dates across a month end, the credit-card and investment sign convention, malformed rows behind
a fault switch, and the partner account lockout after five failed authentications."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from sandbox.app import create_app
from tests.sandbox.support import APP_KEY, PARTNER_ID, connect, get_token, make_client, make_config, new_customer

FAR_FUTURE = 4_102_444_800
DAY = 86_400
AUTH = "/aggregation/v2/partners/authentication"


async def _rows(client: httpx.AsyncClient, h: dict, cid: str, account: str | None = None, **params) -> dict:
    path = (
        f"/aggregation/v4/customers/{cid}/accounts/{account}/transactions"
        if account
        else f"/aggregation/v3/customers/{cid}/transactions"
    )
    query = {"fromDate": 0, "toDate": FAR_FUTURE, "limit": 1000, "includePending": "true", "sort": "asc"} | params
    response = await client.get(path, params=query, headers=h)
    assert response.status_code == 200, response.text
    return response.json()


def _udate(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


@pytest.mark.parametrize("rule", ["postedDate", "transactionDate"])
async def test_the_range_filter_and_sort_use_the_configured_date(rule: str) -> None:
    app = create_app(make_config(transaction_date_filter=rule))
    async with make_client(app) as client:
        h = {"Finicity-App-Key": APP_KEY, "Finicity-App-Token": await get_token(client)}
        cid = await new_customer(client, h)
        await connect(client, h, cid, accounts=2, months=3, transactionsPerAccountPerMonth=40)
        every = (await _rows(client, h, cid))["transactions"]

        def key(t: dict) -> int:
            if rule == "transactionDate":
                return t.get("transactionDate") or t["postedDate"]
            return t["transactionDate"] if t["status"] == "pending" else t["postedDate"]

        assert [(key(t), t["id"]) for t in every] == sorted((key(t), t["id"]) for t in every)
        # A window edge that splits the two dates of some rows: the rule decides which side they are on.
        straddling = [t for t in every if t["status"] == "active" and t["transactionDate"] < t["postedDate"]]
        assert straddling
        edge = straddling[len(straddling) // 2]["postedDate"]
        window = (await _rows(client, h, cid, fromDate=edge))["transactions"]
        assert {t["id"] for t in window} == {t["id"] for t in every if key(t) >= edge}
        # Under either rule some row is outside the window by one of its dates and inside by the other.
        split = [t for t in every if t["status"] == "active" and t["transactionDate"] < edge <= t["postedDate"]]
        assert split and all((t["id"] in {w["id"] for w in window}) == (rule == "postedDate") for t in split)
    await app.state.deliverer.close()


async def test_ids_per_account_repeat_across_accounts_and_customers(client, h) -> None:
    first, second = await new_customer(client, h, "ids_first"), await new_customer(client, h, "ids_second")
    a = await connect(client, h, first, accounts=2, months=2, idsPerAccount=True, seed=5)
    b = await connect(client, h, second, accounts=1, months=2, idsPerAccount=True, seed=5)
    ids = [{t["id"] for t in (await _rows(client, h, first, acct))["transactions"]} for acct in a["accounts"]]
    other = {t["id"] for t in (await _rows(client, h, second, b["accounts"][0]))["transactions"]}
    assert ids[0] & ids[1] and ids[0] & other
    # The customer-wide read (v3) serves both rows of a repeated id, one per account.
    both = (await _rows(client, h, first))["transactions"]
    assert len(both) == len(ids[0]) + len(ids[1])


async def test_posted_rows_straddle_month_ends(client, h) -> None:
    cid = await new_customer(client, h)
    await connect(client, h, cid, accounts=2, months=12, transactionsPerAccountPerMonth=60)
    rows = [t for t in (await _rows(client, h, cid))["transactions"] if t["status"] == "active"]
    straddle = [t for t in rows if _udate(t["transactionDate"]).month != _udate(t["postedDate"]).month]
    assert len(straddle) >= 12
    assert all(_udate(t["postedDate"]).day <= 3 and t["transactionDate"] < t["postedDate"] for t in straddle)


async def test_credit_cards_and_investments_use_mastercards_sign_convention(client, h) -> None:
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, accounts=6, months=3, transactionsPerAccountPerMonth=40)
    accounts = (await client.get(f"/aggregation/v1/customers/{cid}/accounts", headers=h)).json()["accounts"]
    by_type = {a["type"]: a["id"] for a in accounts}
    assert {"creditCard", "investment", "checking"} <= set(by_type) and len(info["accounts"]) == 6

    async def amounts(kind: str, description: str) -> list[float]:
        txs = (await _rows(client, h, cid, by_type[kind]))["transactions"]
        return [t["amount"] for t in txs if t["description"].startswith(description)]

    # Purchases on a card and stock bought are outflows: positive; a card payment and a sale: negative.
    assert all(x > 0 for x in await amounts("creditCard", "TARGET")) and await amounts("creditCard", "TARGET")
    assert all(x < 0 for x in await amounts("creditCard", "PAYMENT - THANK YOU"))
    assert all(x > 0 for x in await amounts("investment", "BOUGHT"))
    assert all(x < 0 for x in await amounts("checking", "WHOLEFDS"))


async def test_pending_rows_post_days_later_under_a_new_id(client, h) -> None:
    cid = await new_customer(client, h)
    await connect(client, h, cid, accounts=1, months=1, transactionsPerAccountPerMonth=60)
    pending = {t["id"]: t for t in (await _rows(client, h, cid))["transactions"] if t["status"] == "pending"}
    assert pending
    posted_ids: list[int] = []
    for _ in range(8):  # a week of days: every hold (2-5 days) passes
        await client.post("/_sandbox/clock", json={"advanceSeconds": DAY})
        out = (await client.post("/_sandbox/bank/advance", json={
            "customerId": cid, "days": 1, "newPerAccount": 2, "holdDays": [2, 5]})).json()
        posted_ids += out["posted"]
    h = {**h, "Finicity-App-Token": await get_token(client)}  # a week of sandbox clock: a new token
    rows = {t["id"]: t for t in (await _rows(client, h, cid))["transactions"]}
    assert not set(pending) & set(rows)  # every original pending row is gone ...
    late = [rows[i] for i in posted_ids if i in rows]
    assert late and all(t["status"] == "active" for t in late)
    lags = [t["postedDate"] - t["transactionDate"] for t in late]
    assert min(lags) >= 2 * DAY and max(lags) <= 5 * DAY  # ... posted 2-5 days after it was made


async def test_the_malformed_row_fault_serves_rows_the_spec_does_not_allow(app, h) -> None:
    raw = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.finicity.com")
    async with raw:  # no spec validation: the rows are meant not to match it
        cid = await new_customer(raw, h)
        await connect(raw, h, cid, accounts=1, months=3, transactionsPerAccountPerMonth=40)
        fault = {"endpoint": "transactions", "kind": "malformed_row", "count": 3, "rate": 1.0}
        assert (await raw.post("/_sandbox/faults", json=fault)).status_code == 201
        account = app.state.sandbox.customers[cid].accounts
        (acct,) = account.values()
        rows = (await _rows(raw, h, cid, acct.id))["transactions"]
        assert rows[0]["status"] is None and isinstance(rows[1]["amount"], str)
        assert isinstance(rows[2]["transactionDate"], str)
        assert all(acct.number in r["memo"] for r in rows[:3])
        again = (await _rows(raw, h, cid, acct.id))["transactions"]  # the fault's count is spent
        assert again[0]["status"] in ("active", "pending") and len(again) == len(rows)


async def test_five_failed_authentications_lock_the_partner_account(client) -> None:
    async def auth(secret: str) -> httpx.Response:
        return await client.post(AUTH, json={"partnerId": PARTNER_ID, "partnerSecret": secret},
                                 headers={"Finicity-App-Key": APP_KEY})

    for _ in range(4):
        assert (await auth("wrong-secret")).status_code == 401
    await get_token(client)  # a success before the fifth failure clears the run
    for _ in range(5):
        assert (await auth("wrong-secret")).status_code == 401
    locked = await auth(make_config().partner_secret)
    assert locked.status_code == 401 and "locked" in locked.json()["message"]
    stats = (await client.get("/_sandbox/stats")).json()["partnerAuth"]
    assert stats["locked"] == 1 and stats["consecutiveFailures"] == 5
    await client.post("/_sandbox/reset")
    await get_token(client)
