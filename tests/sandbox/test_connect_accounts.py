import re
from urllib.parse import parse_qs, urlparse

from tests.sandbox.support import PARTNER_ID, connect, new_consumer, new_customer

LINK_RE = re.compile(
    r"^https://connect2\.finicity\.com\?customerId=\d+&origin=url&partnerId=\d+&signature=[0-9a-f]{64}"
    r"&timestamp=\d{13}&ttl=\d{13}$"
)


async def test_generate_link_looks_real_and_lives_two_hours(client, h):
    cid = await new_customer(client, h)
    r = await client.post(
        "/connect/v2/generate", json={"partnerId": PARTNER_ID, "customerId": cid}, headers=h
    )
    link = r.json()["link"]
    assert LINK_RE.match(link), link
    q = parse_qs(urlparse(link).query)
    assert int(q["ttl"][0]) - int(q["timestamp"][0]) == 7_200_000 and q["customerId"] == [cid]


async def test_generate_for_unknown_customer_is_400_10010(client, h):
    r = await client.post(
        "/connect/v2/generate", json={"partnerId": PARTNER_ID, "customerId": "1"}, headers=h
    )
    assert r.status_code == 400 and r.json()["code"] == 10010


async def test_generate_without_customer_id_is_400_10005(client, h):
    r = await client.post("/connect/v2/generate", json={"partnerId": PARTNER_ID}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == 10005


async def test_generate_remembers_webhook_settings_of_latest_link(client, h):
    cid = await new_customer(client, h)
    body = {
        "partnerId": PARTNER_ID,
        "customerId": cid,
        "webhook": "http://x/1",
        "redirectUri": "http://r",
        "webhookData": {"a": 1},
        "webhookHeaders": {"X-A": "b"},
    }
    await client.post("/connect/v2/generate", json=body, headers=h)
    await client.post("/connect/v2/generate", json=body | {"webhook": "http://x/2"}, headers=h)
    link = (await client.get(f"/_sandbox/customers/{cid}")).json()["latestLink"]
    assert link["webhook"] == "http://x/2" and link["webhookData"] == {"a": 1}
    assert link["webhookHeaders"] == {"X-A": "b"} and link["redirectUri"] == "http://r"


async def test_send_email_records_outbox_and_echoes_email_config(client, h):
    cid = await new_customer(client, h)
    consumer_id = await new_consumer(client, h, cid)
    email = {"to": "bob@example.com", "firstName": "Bob", "subject": "Link your bank"}
    r = await client.post(
        "/connect/v2/send/email",
        headers=h,
        json={
            "partnerId": PARTNER_ID,
            "customerId": cid,
            "consumerId": consumer_id,
            "email": email,
            "webhook": "http://hook",
            "redirectUri": "http://r",
        },
    )
    assert r.status_code == 200 and r.json()["emailConfig"] == email
    mail = (await client.get("/_sandbox/outbox")).json()["emails"][0]
    assert mail["to"] == "bob@example.com" and mail["firstName"] == "Bob" and mail["link"] == r.json()["link"]
    assert mail["webhook"] == "http://hook" and mail["redirectUri"] == "http://r" and mail["time"]


async def test_send_email_without_recipient_is_400(client, h):
    cid = await new_customer(client, h)
    r = await client.post(
        "/connect/v2/send/email", json={"partnerId": PARTNER_ID, "customerId": cid, "email": {}}, headers=h
    )
    assert r.status_code == 400 and r.json()["code"] == 10005


async def test_fix_link_for_unknown_login_is_404(client, h):
    cid = await new_customer(client, h)
    r = await client.post(
        "/connect/v2/generate/fix",
        headers=h,
        json={"partnerId": PARTNER_ID, "customerId": cid, "institutionLoginId": "5"},
    )
    assert r.status_code == 404 and r.json()["code"] == 38007


async def test_fix_link_for_existing_login_renews_consent(client, h):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid)
    login = str(info["institutionLoginId"])
    r = await client.post(
        "/connect/v2/generate/fix",
        headers=h,
        json={"partnerId": PARTNER_ID, "customerId": cid, "institutionLoginId": login},
    )
    assert r.status_code == 200 and "institutionLoginId=" + login in r.json()["link"]
    await client.post("/_sandbox/clock", json={"advanceSeconds": 600})
    again = (await client.post("/_sandbox/connect/complete", json={"customerId": cid})).json()
    assert again["institutionLoginId"] == info["institutionLoginId"] and again["accounts"] == info["accounts"]


async def test_expired_link_cannot_complete(client, h):
    cid = await new_customer(client, h)
    await client.post("/connect/v2/generate", json={"partnerId": PARTNER_ID, "customerId": cid}, headers=h)
    await client.post("/_sandbox/clock", json={"advanceSeconds": 7201})
    r = await client.post("/_sandbox/connect/complete", json={"customerId": cid})
    assert r.status_code == 409


async def test_accounts_list_has_string_ids_and_integer_login_id(client, h):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, accounts=3)
    accts = (await client.get(f"/aggregation/v1/customers/{cid}/accounts", headers=h)).json()["accounts"]
    assert [a["id"] for a in accts] == info["accounts"]
    assert all(
        isinstance(a["institutionLoginId"], int) and len(a["accountNumberDisplay"]) == 4 for a in accts
    )


async def test_accounts_of_unknown_customer_is_404(client, h):
    r = await client.get("/aggregation/v1/customers/77/accounts", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 14001


async def test_get_single_account_and_unknown_account(client, h):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid)
    ok = await client.get(f"/aggregation/v2/customers/{cid}/accounts/{info['accounts'][0]}", headers=h)
    assert ok.json()["id"] == info["accounts"][0]
    missing = await client.get(f"/aggregation/v2/customers/{cid}/accounts/1", headers=h)
    assert missing.status_code == 404 and missing.json()["code"] == 38003


async def test_refresh_updates_aggregation_attempt_date(client, h):
    cid = await new_customer(client, h)
    await connect(client, h, cid)
    await client.post("/_sandbox/clock", json={"advanceSeconds": 600})
    now = (await client.get("/_sandbox/clock")).json()["now"]
    r = await client.post(f"/aggregation/v1/customers/{cid}/accounts", headers=h)
    assert r.status_code == 200 and all(a["aggregationAttemptDate"] >= now - 1 for a in r.json()["accounts"])


async def test_authorization_details_for_oauth_login_use_consent_days(client, h):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, consentDays=30)
    r = await client.get(
        f"/customers/institution-logins/{info['institutionLoginId']}/authorization-details", headers=h
    )
    body = r.json()
    assert body["institutionLoginId"] == info["institutionLoginId"]
    from datetime import datetime

    start = datetime.fromisoformat(body["authorizationStartDate"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(body["authorizationEndDate"].replace("Z", "+00:00"))
    assert (end - start).days == 30


async def test_authorization_details_for_legacy_login_is_404_3003(client, h):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, oauth=False)
    r = await client.get(
        f"/customers/institution-logins/{info['institutionLoginId']}/authorization-details", headers=h
    )
    assert r.status_code == 404 and r.json()["code"] == 3003


async def test_consent_expiry_on_sandbox_clock_flags_accounts_947(client, h):
    cid = await new_customer(client, h)
    await connect(client, h, cid, consentDays=1)
    await client.post("/_sandbox/clock", json={"advanceSeconds": 2 * 86_400})
    from tests.sandbox.support import get_token

    h2 = {**h, "Finicity-App-Token": await get_token(client)}
    accts = (await client.get(f"/aggregation/v1/customers/{cid}/accounts", headers=h2)).json()["accounts"]
    assert {a["aggregationStatusCode"] for a in accts} == {947}
