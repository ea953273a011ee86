"""Per-bank removal (DeleteCustomerAccountsByInstitutionLogin, DeleteCustomerAccount) with the Connect
`accountsDeleted` event, and GetInstitution / GetInstitutionBranding. Every API answer is validated
against the official spec by the client fixture."""

import hashlib
import hmac
import json

from tests.sandbox.support import SECRET, connect, new_customer
from tests.support.waiting import wait_for_async


async def _accounts(client, h, cid) -> list[dict]:
    r = await client.get(f"/aggregation/v1/customers/{cid}/accounts", headers=h)
    assert r.status_code == 200
    return r.json()["accounts"]


async def test_disconnect_one_login_removes_its_accounts_only_and_sends_accounts_deleted(client, h, receiver):
    cid = await new_customer(client, h, "two_banks_01")
    hook = receiver.url("/ok/deleted-login")
    first = await connect(client, h, cid, webhook=hook, institutionId="102105")
    second = await connect(client, h, cid, webhook=hook, institutionId="102176", oauth=False)
    before = await _accounts(client, h, cid)
    assert len(before) == 4
    receiver.requests.clear()

    r = await client.delete(
        f"/aggregation/v1/customers/{cid}/institutionLogins/{first['institutionLoginId']}", headers=h
    )
    assert r.status_code == 204 and r.content == b""
    after = await _accounts(client, h, cid)
    assert sorted(a["id"] for a in after) == sorted(second["accounts"])
    assert {a["institutionLoginId"] for a in after} == {second["institutionLoginId"]}
    # The other bank's transactions are still served.
    r = await client.get(
        f"/aggregation/v4/customers/{cid}/accounts/{second['accounts'][0]}/transactions",
        params={"fromDate": 0, "toDate": 4_000_000_000, "limit": 1},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["found"] > 0

    await wait_for_async("the login-deleted webhook", lambda: len(receiver.at("/ok/deleted-login")) == 1, 5)
    req = receiver.at("/ok/deleted-login")[0]
    body = json.loads(req["body"])
    assert body["eventType"] == "accountsDeleted" and body["customerId"] == cid
    assert sorted(body["payload"]["accounts"]) == sorted(first["accounts"])
    assert body["payload"]["institutionId"] == "102105"
    expected = hmac.new(SECRET.encode(), req["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req["headers"]["x-finicity-signature"], expected)

    # Gone means gone: the same login again is 404 38007; its accounts are 404 38003.
    r = await client.delete(
        f"/aggregation/v1/customers/{cid}/institutionLogins/{first['institutionLoginId']}", headers=h
    )
    assert r.status_code == 404 and r.json()["code"] == 38007
    r = await client.get(f"/aggregation/v2/customers/{cid}/accounts/{first['accounts'][0]}", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 38003


async def test_delete_one_account_keeps_its_siblings(client, h, receiver):
    cid = await new_customer(client, h, "one_account_01")
    info = await connect(client, h, cid, webhook=receiver.url("/ok/deleted-account"), accounts=3)
    gone, *kept = info["accounts"]
    r = await client.delete(f"/aggregation/v1/customers/{cid}/accounts/{gone}", headers=h)
    assert r.status_code == 204
    assert sorted(a["id"] for a in await _accounts(client, h, cid)) == sorted(kept)
    await wait_for_async(
        "the account-deleted webhook", lambda: len(receiver.at("/ok/deleted-account")) >= 7, 5
    )  # 6 Connect events + this one
    last = json.loads(receiver.at("/ok/deleted-account")[-1]["body"])
    assert last["eventType"] == "accountsDeleted" and last["payload"]["accounts"] == [gone]
    r = await client.delete(f"/aggregation/v1/customers/{cid}/accounts/{gone}", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 38003


async def test_delete_for_unknown_customer_is_404_14001(client, h):
    r = await client.delete("/aggregation/v1/customers/1/accounts/2", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 14001
    r = await client.delete("/aggregation/v1/customers/1/institutionLogins/2", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 14001


async def test_delete_needs_a_token(client, h):
    r = await client.delete(
        "/aggregation/v1/customers/1/accounts/2", headers={"Finicity-App-Key": h["Finicity-App-Key"]}
    )
    assert r.status_code == 401 and r.json()["code"] == 10024


async def test_institution_and_branding_for_a_catalogue_bank(client, h):
    r = await client.get("/institution/v2/institutions/102105", headers=h)
    assert r.status_code == 200
    inst = r.json()["institution"]
    assert inst["id"] == 102105 and inst["name"] == "FinBank Oauth" and inst["oauthEnabled"] is True
    assert inst["urlHomeApp"].startswith("https://")
    r = await client.get("/institution/v2/institutions/102105/branding", headers=h)
    assert r.status_code == 200
    branding = r.json()["branding"]
    assert branding["primaryColor"] == "#0167AE"
    logo = await client.get(branding["logo"])
    assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg+xml")
    assert b"FinBank Oauth" in logo.content


async def test_institution_used_by_a_login_is_known_even_outside_the_catalogue(client, h):
    r = await client.get("/institution/v2/institutions/555001", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 10201
    cid = await new_customer(client, h, "odd_bank_01")
    await connect(client, h, cid, institutionId="555001", accounts=1)
    r = await client.get("/institution/v2/institutions/555001", headers=h)
    assert r.status_code == 200 and r.json()["institution"]["name"] == "FinBank 555001"


async def test_institution_id_must_be_numeric(client, h):
    r = await client.get("/institution/v2/institutions/abc", headers=h)
    assert r.status_code == 400 and r.json()["code"] == 10010
