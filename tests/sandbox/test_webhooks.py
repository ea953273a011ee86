import hashlib
import hmac
import json
import re

from tests.sandbox.support import SECRET, connect, new_customer
from tests.support.waiting import wait_for_async

EVENT_ID = re.compile(r"^\d{13}-[0-9a-f]{24}$")


async def test_connect_webhooks_arrive_in_real_order_for_oauth(client, h, receiver):
    cid = await new_customer(client, h)
    await connect(client, h, cid, webhook=receiver.url("/ok/order-oauth"))
    types = [json.loads(r["body"])["eventType"] for r in receiver.at("/ok/order-oauth")]
    assert types == ["started", "institutionSupported", "adding", "processing", "added", "done"]


async def test_non_oauth_sends_discovered_before_added(client, h, receiver):
    cid = await new_customer(client, h)
    await connect(client, h, cid, webhook=receiver.url("/ok/order-legacy"), oauth=False)
    types = [json.loads(r["body"])["eventType"] for r in receiver.at("/ok/order-legacy")]
    assert types == ["started", "institutionSupported", "adding", "processing", "discovered", "added", "done"]


async def test_connect_webhook_hmac_signature_verifies_independently(client, h, receiver):
    cid = await new_customer(client, h)
    await connect(client, h, cid, webhook=receiver.url("/ok/hmac"))
    for req in receiver.at("/ok/hmac"):
        expected = hmac.new(SECRET.encode(), req["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(req["headers"]["x-finicity-signature"], expected)


async def test_connect_webhook_body_is_compact_json_envelope(client, h, receiver):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, webhook=receiver.url("/ok/envelope"))
    reqs = receiver.at("/ok/envelope")
    for req in reqs:
        body = json.loads(req["body"])
        assert req["body"] == json.dumps(body, separators=(",", ":")).encode()
        assert (
            body["customerId"] == cid
            and EVENT_ID.match(body["eventId"])
            and body["webhookData"] == {"u": "1"}
        )
        assert req["headers"]["x-corr"] == "c-1" and req["headers"]["content-type"] == "application/json"
    added = json.loads(reqs[4]["body"])["payload"]
    assert added["oauth"] is True and [a["id"] for a in added["accounts"]] == info["accounts"]


async def test_unable_to_connect_outcome_sends_code(client, h, receiver):
    cid = await new_customer(client, h)
    await client.post(
        "/connect/v2/generate",
        headers=h,
        json={"partnerId": "1445585709680", "customerId": cid, "webhook": receiver.url("/ok/unable")},
    )
    r = await client.post(
        "/_sandbox/connect/complete", json={"customerId": cid, "outcome": "unableToConnect", "code": 185}
    )
    last = json.loads(receiver.at("/ok/unable")[-1]["body"])
    assert (
        r.json()["accounts"] == []
        and last["eventType"] == "unableToConnect"
        and last["payload"]["code"] == 185
    )


async def test_failed_delivery_is_retried_until_2xx_and_logged(client, h, receiver):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, webhook=receiver.url("/fail/2/retry"))
    first = info["deliveries"][0]
    assert first["attempt"] == 3 and first["statusCode"] == 200
    log = (await client.get("/_sandbox/webhooks/deliveries")).json()["deliveries"]
    started = [d for d in log if d["eventType"] == "started"]
    assert [(d["attempt"], d["statusCode"]) for d in started] == [(1, 500), (2, 500), (3, 200)]


async def test_delivery_gives_up_after_max_attempts(client, h, receiver):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, webhook=receiver.url("/down/always"))
    assert all(d["attempt"] == 5 and d["statusCode"] == 503 for d in info["deliveries"])
    stats = (await client.get("/_sandbox/stats")).json()["webhooks"]["connect"]
    assert stats["failed"] == 6


async def test_connection_error_is_logged_with_error_text(client, h):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, webhook="http://127.0.0.1:9/nothing")
    assert info["deliveries"][0]["statusCode"] is None and "Error" in info["deliveries"][0]["error"]


async def test_wait_false_delivers_in_background(client, h, receiver):
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, webhook=receiver.url("/ok/background"), wait=False)
    assert info["deliveries"] == []
    await wait_for_async("six background deliveries", lambda: len(receiver.at("/ok/background")) == 6, 5)


async def test_delete_deliveries_clears_the_log(client, h, receiver):
    cid = await new_customer(client, h)
    await connect(client, h, cid, webhook=receiver.url("/ok/clear"))
    assert (await client.delete("/_sandbox/webhooks/deliveries")).status_code == 204
    assert (await client.get("/_sandbox/webhooks/deliveries")).json()["deliveries"] == []
