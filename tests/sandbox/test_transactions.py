import time

import httpx
import pytest

from tests.sandbox.support import connect, new_customer

FAR_FUTURE = 4_102_444_800


@pytest.fixture
async def cust(client, h):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, accounts=2, months=3, transactionsPerAccountPerMonth=25)
    return cid, info


async def page(client, h, cid, account=None, **params):
    path = (
        f"/aggregation/v4/customers/{cid}/accounts/{account}/transactions"
        if account
        else f"/aggregation/v3/customers/{cid}/transactions"
    )
    q = {"fromDate": 0, "toDate": FAR_FUTURE} | params
    return await client.get(path, params=q, headers=h)


def eff(t):
    return t["transactionDate"] if t["status"] == "pending" else t["postedDate"]


async def test_response_types_follow_the_spec(client, h, cust):
    body = (await page(client, h, cust[0], limit=5)).json()
    assert isinstance(body["moreAvailable"], str) and isinstance(body["fromDate"], str)
    t = body["transactions"][0]
    assert all(isinstance(t[k], int) for k in ("id", "accountId", "customerId"))


async def test_default_limit_is_25_and_sort_desc(client, h, cust):
    body = (await page(client, h, cust[0])).json()
    assert body["displaying"] == 25 and body["sort"] == "desc" and body["moreAvailable"] == "true"
    keys = [(eff(t), t["id"]) for t in body["transactions"]]
    assert keys == sorted(keys, reverse=True)


async def test_sort_asc_orders_by_effective_date_then_id(client, h, cust):
    body = (await page(client, h, cust[0], sort="asc", limit=1000, includePending="true")).json()
    keys = [(eff(t), t["id"]) for t in body["transactions"]]
    assert keys == sorted(keys)


async def test_include_pending_defaults_to_false(client, h, cust):
    without = (await page(client, h, cust[0], limit=1000)).json()
    with_p = (await page(client, h, cust[0], limit=1000, includePending="true")).json()
    assert all(t["status"] != "pending" for t in without["transactions"])
    assert any(t["status"] == "pending" for t in with_p["transactions"])
    assert with_p["found"] > without["found"]


async def test_range_uses_posted_date_for_posted_and_transaction_date_for_pending(client, h, cust):
    everything = (await page(client, h, cust[0], limit=1000, includePending="true")).json()["transactions"]
    posted = next(t for t in everything if t["status"] == "active" and t["transactionDate"] < t["postedDate"])
    only = (await page(client, h, cust[0], fromDate=posted["postedDate"], toDate=posted["postedDate"])).json()
    assert posted["id"] in [t["id"] for t in only["transactions"]]
    before = (
        await page(client, h, cust[0], fromDate=posted["transactionDate"], toDate=posted["postedDate"] - 1)
    ).json()
    assert posted["id"] not in [t["id"] for t in before["transactions"]]
    pend = next(t for t in everything if t["status"] == "pending")
    hit = (
        await page(
            client,
            h,
            cust[0],
            includePending="true",
            fromDate=pend["transactionDate"],
            toDate=pend["transactionDate"],
        )
    ).json()
    assert pend["id"] in [t["id"] for t in hit["transactions"]]


async def test_empty_range_returns_zero_found(client, h, cust):
    body = (await page(client, h, cust[0], fromDate=1, toDate=2)).json()
    assert body["found"] == 0 and body["displaying"] == 0 and body["moreAvailable"] == "false"
    assert body["transactions"] == []


async def test_exact_multiple_of_limit_has_no_more_on_last_page(client, h, cust):
    found = (await page(client, h, cust[0], limit=1)).json()["found"]
    limit = (
        next(d for d in range(7, 1, -1) if found % d == 0)
        if any(found % d == 0 for d in range(2, 8))
        else found
    )
    last = (await page(client, h, cust[0], limit=limit, start=found - limit + 1)).json()
    assert last["displaying"] == limit and last["moreAvailable"] == "false"
    beyond = (await page(client, h, cust[0], limit=limit, start=found + 1)).json()
    assert beyond["displaying"] == 0 and beyond["found"] == found


async def test_pages_partition_the_range_without_overlap(client, h, cust):
    found = (await page(client, h, cust[0], limit=1)).json()["found"]
    ids = []
    for start in range(1, found + 1, 40):
        ids += [
            t["id"] for t in (await page(client, h, cust[0], limit=40, start=start)).json()["transactions"]
        ]
    assert len(ids) == len(set(ids)) == found


async def test_start_past_found_returns_empty_page(client, h, cust):
    body = (await page(client, h, cust[0], start=100_000)).json()
    assert body["displaying"] == 0 and body["found"] > 0 and body["transactions"] == []


async def test_limit_1000_is_accepted(client, h, cust):
    assert (await page(client, h, cust[0], limit=1000)).status_code == 200


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 1001}, 10010),
        ({"limit": 0}, 41004),
        ({"start": 0}, 41003),
        ({"fromDate": 10, "toDate": 5}, 41002),
        ({"sort": "sideways"}, 10010),
        ({"fromDate": "abc"}, 10010),
    ],
)
async def test_invalid_query_is_400(client, h, cust, params, code):
    r = await page(client, h, cust[0], **params)
    assert r.status_code == 400 and r.json()["code"] == code


async def test_missing_from_date_is_400_10005(client, h, cust):
    r = await client.get(f"/aggregation/v3/customers/{cust[0]}/transactions", params={"toDate": 5}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == 10005


async def test_unknown_customer_transactions_is_404(client, h):
    r = await page(client, h, "424242")
    assert r.status_code == 404 and r.json()["code"] == 14001


async def test_account_transactions_only_contain_that_account(client, h, cust):
    acct = cust[1]["accounts"][0]
    body = (await page(client, h, cust[0], account=acct, limit=1000)).json()
    assert body["found"] > 0 and {t["accountId"] for t in body["transactions"]} == {int(acct)}


async def test_unknown_account_transactions_is_404(client, h, cust):
    r = await page(client, h, cust[0], account="1")
    assert r.status_code == 404 and r.json()["code"] == 38003


async def test_amounts_have_at_most_two_decimals_and_both_signs(client, h, cust):
    txs = (await page(client, h, cust[0], limit=1000)).json()["transactions"]
    assert all(round(t["amount"], 2) == t["amount"] for t in txs)
    assert any(t["amount"] < 0 for t in txs) and any(t["amount"] > 0 for t in txs)


async def _all(client, h, cid):
    return (await page(client, h, cid, limit=1000, includePending="true")).json()["transactions"]


async def test_same_seed_gives_same_data_after_reset(client, h):
    cid = await new_customer(client, h)
    await connect(client, h, cid, seed=11)
    first = await _all(client, h, cid)
    await client.post("/_sandbox/reset")
    from tests.sandbox.support import get_token

    h2 = {**h, "Finicity-App-Token": await get_token(client)}
    cid2 = await new_customer(client, h2)
    await connect(client, h2, cid2, seed=11)
    second = await _all(client, h2, cid2)

    # dates are relative to the wall clock at connect time, so compare everything else
    def strip(txs):
        return [
            {k: v for k, v in t.items() if k not in ("createdDate", "transactionDate", "postedDate")}
            for t in txs
        ]

    assert cid == cid2 and strip(first) == strip(second)


async def test_different_seed_gives_different_data(client, h):
    a = await new_customer(client, h, "seed_a_1")
    b = await new_customer(client, h, "seed_b_1")
    await connect(client, h, a, seed=1)
    await connect(client, h, b, seed=2)
    ta, tb = await _all(client, h, a), await _all(client, h, b)
    assert [t["amount"] for t in ta] != [t["amount"] for t in tb]


async def test_bank_advance_posts_pending_under_new_id(client, h, cust):
    before = await _all(client, h, cust[0])
    pending = {t["id"] for t in before if t["status"] == "pending"}
    assert pending
    out = (
        await client.post(
            "/_sandbox/bank/advance",
            json={"customerId": cust[0], "days": 3, "newPerAccount": 4, "postPending": True},
        )
    ).json()
    after = {t["id"]: t for t in await _all(client, h, cust[0])}
    assert not pending & set(after) and set(out["removedPending"]) == pending
    assert all(after[i]["status"] == "active" for i in out["posted"])
    assert len(out["created"]) == 8 and all(i in after for i in out["created"])


async def test_bank_advance_shadow_appears_then_disappears(client, h, cust):
    out = (
        await client.post(
            "/_sandbox/bank/advance", json={"customerId": cust[0], "shadow": 2, "newPerAccount": 0}
        )
    ).json()
    txs = {t["id"]: t for t in await _all(client, h, cust[0])}
    assert len(out["shadowed"]) == 2 and all(txs[i]["status"] == "shadow" for i in out["shadowed"])
    await client.post("/_sandbox/bank/advance", json={"customerId": cust[0], "newPerAccount": 0})
    txs = {t["id"] for t in await _all(client, h, cust[0])}
    assert not set(out["shadowed"]) & txs


@pytest.mark.soak
async def test_generates_100k_transactions_in_a_few_seconds(client, h, app):
    cid = await new_customer(client, h, "big_customer")
    t0 = time.perf_counter()
    info = await connect(
        client, h, cid, accounts=10, months=24, transactionsPerAccountPerMonth=420, historyLoaded=True
    )
    assert info["transactions"] >= 100_000 and time.perf_counter() - t0 < 10
    raw = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.finicity.com")
    async with raw:  # no spec validation here: it is the serving time being measured
        t1 = time.perf_counter()
        r = await page(raw, h, cid, limit=1000, start=50_001)
        elapsed = time.perf_counter() - t1
    assert r.json()["displaying"] == 1000 and elapsed < 0.2
