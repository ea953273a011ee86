"""History windows, asynchronous refreshes and consumers, as Mastercard documents them."""

from __future__ import annotations

import json

from sandbox.app import create_app
from tests.sandbox.support import (
    CONSUMER,
    PARTNER_ID,
    connect,
    get_token,
    make_client,
    make_config,
    new_consumer,
    new_customer,
)
from tests.support.waiting import wait_for_async

DAY = 86_400
REFRESHES = "/aggregation/customers/{}/transactions/refreshes"
EVENT = "data-refresh.transaction.status-changed"


async def _all(client, h, cid) -> list[dict]:
    out, start = [], 1
    while True:
        r = await client.get(
            f"/aggregation/v3/customers/{cid}/transactions",
            params={"fromDate": 0, "toDate": 4102444800, "start": start, "limit": 1000, "includePending": "true"},
            headers=h,
        )
        page = r.json()["transactions"]
        out += page
        if not page or r.json()["moreAvailable"] == "false":
            return out
        start += len(page)


def _date(t: dict) -> int:
    return t.get("postedDate") or t["transactionDate"]


async def _status(client, h, cid, refresh_id) -> dict:
    r = await client.get(f"{REFRESHES.format(cid)}/{refresh_id}", headers=h)
    assert r.status_code == 200, r.text
    return r.json()


async def _settled(client, h, cid, refresh_id) -> dict:
    """Polls getTransactionRefreshStatus, as the service does."""

    async def final() -> dict | None:
        status = await _status(client, h, cid, refresh_id)
        return status if status["status"] in ("COMPLETED", "FAILED") else None

    return await wait_for_async(f"refresh {refresh_id} to settle", final)


async def test_new_login_serves_180_days_until_a_historic_load_completes(receiver):
    app = create_app(make_config(historic_load_delay_seconds=0.2))
    async with make_client(app) as client:
        h = {"Finicity-App-Key": "test-app-key-0123456789", "Finicity-App-Token": await get_token(client)}
        sub = await client.post(
            "/notification-subscriptions/webhooks",
            json={"url": receiver.url("/obwms/hist"), "events": [{"name": EVENT}]},
            headers=h | {"App-Key": "test-app-key-0123456789"},
        )
        assert sub.status_code == 201
        cid = await new_customer(client, h, "history_01")
        info = await connect(client, h, cid, accounts=2, months=24, transactionsPerAccountPerMonth=10)
        created = min(
            a["createdDate"]
            for a in (await client.get(f"/aggregation/v1/customers/{cid}/accounts", headers=h)).json()["accounts"]
        )
        before = await _all(client, h, cid)
        assert before and min(_date(t) for t in before) >= created - 180 * DAY
        assert len(before) < info["transactions"]

        r = await client.post(
            REFRESHES.format(cid),
            json={"institutionLoginId": str(info["institutionLoginId"]), "mode": "historic"},
            headers=h,
        )
        assert r.status_code == 202 and r.json()["status"] == "NEW" and r.json()["mode"] == "historic"
        final = await _settled(client, h, cid, r.json()["refreshId"])
        assert final["status"] == "COMPLETED" and final["successCount"] == final["totalCount"] == 2
        after = await _all(client, h, cid)
        assert len(after) == info["transactions"] and min(_date(t) for t in after) < created - 600 * DAY
        await wait_for_async("two status events", lambda: len(receiver.at("/obwms/hist")) >= 2)
        statuses = [json.loads(x["body"])["data"]["status"] for x in receiver.at("/obwms/hist")]
        assert statuses == ["IN_PROGRESS", "COMPLETED"]
        assert all(x["headers"].get("x-mastercard-signature") for x in receiver.at("/obwms/hist"))
    await app.state.deliverer.close()


async def test_a_failed_historic_load_keeps_the_180_days(client, h):
    cid = await new_customer(client, h, "history_02")
    info = await connect(client, h, cid, accounts=1, months=24, historicLoad="failed")
    before = await _all(client, h, cid)
    r = await client.post(
        REFRESHES.format(cid),
        json={"institutionLoginId": str(info["institutionLoginId"]), "mode": "historic"},
        headers=h,
    )
    final = await _settled(client, h, cid, r.json()["refreshId"])
    assert final["status"] == "FAILED" and final["failedCount"] == 1
    assert await _all(client, h, cid) == before


async def test_manual_historic_load_waits_for_the_control_api(client, h):
    cid = await new_customer(client, h, "history_03")
    info = await connect(client, h, cid, accounts=1, months=12, historicLoad="manual")
    r = await client.post(
        REFRESHES.format(cid),
        json={"institutionLoginId": str(info["institutionLoginId"]), "mode": "historic"},
        headers=h,
    )
    refresh_id = r.json()["refreshId"]
    assert (await _status(client, h, cid, refresh_id))["status"] in ("NEW", "IN_PROGRESS")
    settle = await client.post(f"/_sandbox/refreshes/{refresh_id}", json={"status": "COMPLETED"})
    assert settle.status_code == 200 and settle.json()["refresh"]["status"] == "COMPLETED"
    assert (await _status(client, h, cid, refresh_id))["status"] == "COMPLETED"
    assert (await client.post(f"/_sandbox/refreshes/{refresh_id}", json={"status": "FAILED"})).status_code == 409


async def test_standard_refresh_publishes_what_the_bank_holds(client, h):
    cid = await new_customer(client, h, "refresh_01")
    info = await connect(client, h, cid, accounts=2, months=2)
    before = {t["id"] for t in await _all(client, h, cid)}
    adv = (await client.post("/_sandbox/bank/advance", json={"customerId": cid, "untilRefresh": True})).json()
    assert adv["heldUntilRefresh"] == len(adv["created"]) > 0
    assert not set(adv["created"]) & {t["id"] for t in await _all(client, h, cid)}
    accounts = [str(a) for a in info["accounts"]]
    r = await client.post(REFRESHES.format(cid), json={"accountIds": accounts}, headers=h)
    assert r.status_code == 202 and r.json()["mode"] == "standard" and r.json()["accountIds"] == accounts
    assert (await _settled(client, h, cid, r.json()["refreshId"]))["status"] == "COMPLETED"
    after = {t["id"] for t in await _all(client, h, cid)}
    assert set(adv["created"]) <= after and len(after) > len(before)


async def test_refresh_errors(client, h):
    cid = await new_customer(client, h, "refresh_02")
    r = await client.post(REFRESHES.format(cid), json={"mode": "standard"}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == 10005
    r = await client.post(REFRESHES.format(cid), json={"institutionLoginId": "999"}, headers=h)
    assert r.status_code == 404 and r.json()["code"] == 38007
    r = await client.get(f"{REFRESHES.format(cid)}/bec83f1a-5f65-44f5-8f00-b4a0fc60c2cc", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 10008


async def test_consumer_create_get_and_the_email_rule(client, h):
    cid = await new_customer(client, h, "consumer_01")
    r = await client.get(f"/decisioning/v1/customers/{cid}/consumer", headers=h)
    assert r.status_code == 404
    missing = {k: v for k, v in CONSUMER.items() if k != "birthday"}
    r = await client.post(f"/decisioning/v1/customers/{cid}/consumer", json=missing, headers=h)
    assert r.status_code == 400 and r.json()["message"] == "Missing parameter (birthday or ssn)"
    consumer_id = await new_consumer(client, h, cid)
    got = (await client.get(f"/decisioning/v1/customers/{cid}/consumer", headers=h)).json()
    assert got["id"] == consumer_id and got["birthday"] == CONSUMER["birthday"] and got["customerId"] == int(cid)
    r = await client.post(f"/decisioning/v1/customers/{cid}/consumer", json=CONSUMER, headers=h)
    assert r.status_code == 409 and r.json()["code"] == 11000
    other = await new_customer(client, h, "consumer_02")
    r = await client.post(
        "/connect/v2/send/email",
        json={"partnerId": PARTNER_ID, "customerId": other, "consumerId": consumer_id, "email": {"to": "a@b.test"}},
        headers=h,
    )
    assert r.status_code == 400 and r.json()["message"].startswith("Invalid parameter (consumerId)")
