"""The sandbox judges every request by the official spec: the validator must catch what is wrong (so it
cannot silently pass everything), answer as Mastercard does, and count what it caught."""

from __future__ import annotations

import pytest

from sandbox.app import create_app
from tests.sandbox.support import APP_KEY, PARTNER_ID, make_client, make_config, new_consumer, new_customer


async def _violations(client) -> dict:
    r = await client.get("/_sandbox/violations")
    assert r.status_code == 200
    return r.json()


async def test_valid_requests_are_not_violations(client, h):
    cid = await new_customer(client, h)
    consumer_id = await new_consumer(client, h, cid)
    r = await client.post(
        "/connect/v2/send/email",
        json={"partnerId": PARTNER_ID, "customerId": cid, "consumerId": consumer_id, "email": {"to": "a@b.test"}},
        headers=h,
    )
    assert r.status_code == 200
    assert (await _violations(client))["total"] == 0


async def test_missing_required_body_field_is_400_naming_it_and_counted(client, h):
    cid = await new_customer(client, h)
    r = await client.post(
        "/connect/v2/send/email",
        json={"partnerId": PARTNER_ID, "customerId": cid, "email": {"to": "a@b.test"}},
        headers=h,
    )
    assert r.status_code == 400
    assert r.json() == {"code": 10005, "message": "Missing parameter (consumerId)"}
    seen = await _violations(client)
    assert seen["byOperation"] == {"SendConnectEmail": 1}
    assert seen["recent"][0]["violations"] == [
        {
            "field": "consumerId",
            "kind": "missing",
            "keyword": "required",
            "detail": "'consumerId' is a required property",
        }
    ]
    # Nested required fields are named by their path.
    r = await client.post(
        "/decisioning/v1/customers/" + cid + "/consumer",
        json={"firstName": "A", "lastName": "B", "birthday": {"year": 1980}, "email": "a@b.test"},
        headers=h,
    )
    assert r.status_code == 400 and r.json()["message"] == "Missing parameter (state)"


async def test_wrong_type_is_400_naming_the_field(client, h):
    cid = await new_customer(client, h)
    r = await client.post("/connect/v2/generate", json={"partnerId": PARTNER_ID, "customerId": int(cid)}, headers=h)
    assert r.status_code == 400
    assert r.json()["code"] == 10010 and r.json()["message"].startswith("Invalid parameter (customerId)")
    r = await client.get(
        f"/aggregation/v3/customers/{cid}/transactions", params={"fromDate": "yesterday", "toDate": 5}, headers=h
    )
    assert r.status_code == 400 and r.json()["message"].startswith("Invalid parameter (fromDate)")
    r = await client.post(
        f"/aggregation/customers/{cid}/transactions/refreshes", json={"institutionLoginId": 12345}, headers=h
    )
    assert r.status_code == 400 and r.json()["message"].startswith("Invalid parameter (institutionLoginId)")
    assert (await _violations(client))["byOperation"] == {
        "GenerateConnectUrl": 1,
        "GetAllCustomerTransactions": 1,
        "refreshTransactions": 1,
    }


async def test_missing_header_is_a_violation_answered_401_as_mastercard_does(client, h):
    cid = await new_customer(client, h)
    r = await client.get(f"/aggregation/v1/customers/{cid}/accounts", headers={"Finicity-App-Key": APP_KEY})
    assert r.status_code == 401 and r.json()["code"] == 10024
    seen = await _violations(client)
    assert seen["byOperation"] == {"GetCustomerAccounts": 1}
    assert seen["recent"][0]["violations"][0]["field"] == "Finicity-App-Token"
    stats = (await client.get("/_sandbox/stats")).json()
    assert stats["requestViolations"] == {"total": 1, "byOperation": {"GetCustomerAccounts": 1}}


async def test_format_violations_only_in_strict_mode(h):
    bad = "/aggregation/customers/{}/transactions/refreshes/not-a-uuid"
    for strict, expected in ((True, 400), (False, 404)):
        app = create_app(make_config(strict_validation=strict))
        async with make_client(app) as client:
            headers = await _headers(client)
            cid = await new_customer(client, headers)
            r = await client.get(bad.format(cid), headers=headers)
            assert r.status_code == expected, r.text
            assert (await _violations(client))["total"] == (1 if strict else 0)


async def _headers(client) -> dict[str, str]:
    from tests.sandbox.support import get_token

    return {"Finicity-App-Key": APP_KEY, "Finicity-App-Token": await get_token(client)}


@pytest.mark.parametrize("body", [b"{not json", b"[]"])
async def test_body_that_is_not_the_schema_is_400(client, h, body):
    r = await client.post(
        "/aggregation/v2/customers/testing", content=body, headers=h | {"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert (await _violations(client))["total"] == 1


async def test_violations_reset(client, h):
    await client.post("/connect/v2/generate", json={}, headers=h)
    assert (await _violations(client))["total"] == 1
    assert (await client.delete("/_sandbox/violations")).status_code == 204
    assert (await _violations(client))["total"] == 0
