import json
import time

from tests.sandbox.support import connect, new_customer

CUSTOMERS = "/aggregation/v1/customers"


async def fault(client, **body):
    r = await client.post("/_sandbox/faults", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_429_fault_sends_retry_after(client, h):
    await fault(client, endpoint="customers", kind="429", rate=1, count=1, retryAfter=3)
    r = await client.get(CUSTOMERS, headers=h)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3" and r.json()["code"] == 3300001
    assert (await client.get(CUSTOMERS, headers=h)).status_code == 200


async def test_500_fault_returns_error_message(client, h):
    await fault(client, endpoint="customers", kind="500")
    r = await client.get(CUSTOMERS, headers=h)
    assert r.status_code == 500 and "code" in r.json()


async def test_503_fault_returns_error_with_retry_after(client, h):
    await fault(client, endpoint="*", kind="503", retryAfter=2)
    r = await client.get(CUSTOMERS, headers=h)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"


async def test_fault_only_hits_its_endpoint_group(client, h):
    await fault(client, endpoint="transactions", kind="500")
    assert (await client.get(CUSTOMERS, headers=h)).status_code == 200


async def test_auth_fault_hits_partner_authentication(client):
    await fault(client, endpoint="auth", kind="503")
    r = await client.post(
        "/aggregation/v2/partners/authentication",
        json={"partnerId": "x", "partnerSecret": "y"},
        headers={"Finicity-App-Key": "k"},
    )
    assert r.status_code == 503


async def test_latency_fault_delays_response(client, h):
    await fault(client, endpoint="customers", kind="latency", latencyMs=150)
    t0 = time.perf_counter()
    r = await client.get(CUSTOMERS, headers=h)
    assert r.status_code == 200 and time.perf_counter() - t0 >= 0.15


async def test_token_expiry_fault_expires_current_token(client, h):
    await fault(client, endpoint="customers", kind="token_expiry", count=1)
    r = await client.get(CUSTOMERS, headers=h)
    assert r.status_code == 401 and r.json()["code"] == 10023
    assert (await client.get(CUSTOMERS, headers=h)).json()["code"] == 10023


async def test_rate_and_seed_make_firing_deterministic(client, h):
    await fault(client, endpoint="customers", kind="500", rate=0.5, seed=3)
    codes = [(await client.get(CUSTOMERS, headers=h)).status_code for _ in range(20)]
    fired = (await client.get("/_sandbox/faults")).json()["faults"][0]["fired"]
    assert 0 < codes.count(500) < 20 and fired == codes.count(500)
    await client.delete("/_sandbox/faults")
    await fault(client, endpoint="customers", kind="500", rate=0.5, seed=3)
    assert [(await client.get(CUSTOMERS, headers=h)).status_code for _ in range(20)] == codes


async def test_count_caps_how_often_a_fault_fires(client, h):
    await fault(client, endpoint="customers", kind="500", count=2)
    codes = [(await client.get(CUSTOMERS, headers=h)).status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200]


async def test_delete_faults_clears_them(client, h):
    await fault(client, endpoint="*", kind="500")
    assert (await client.delete("/_sandbox/faults")).status_code == 204
    assert (await client.get("/_sandbox/faults")).json()["faults"] == []
    assert (await client.get(CUSTOMERS, headers=h)).status_code == 200


async def test_invalid_fault_kind_is_400(client):
    assert (await client.post("/_sandbox/faults", json={"kind": "boom"})).status_code == 400


async def test_webhook_drop_fault_skips_delivery(client, h, receiver):
    await fault(client, kind="webhook_drop", count=1)
    cid = await new_customer(client, h)
    info = await connect(client, h, cid, webhook=receiver.url("/ok/drop"))
    assert info["deliveries"][0]["error"] == "dropped (fault)" and len(receiver.at("/ok/drop")) == 5


async def test_webhook_duplicate_fault_sends_event_twice(client, h, receiver):
    await fault(client, kind="webhook_duplicate", count=1)
    cid = await new_customer(client, h)
    await connect(client, h, cid, webhook=receiver.url("/ok/dup"))
    ids = [json.loads(r["body"])["eventId"] for r in receiver.at("/ok/dup")]
    assert len(ids) == 7 and ids[0] == ids[1]


async def test_webhook_reorder_fault_swaps_events(client, h, receiver):
    await fault(client, kind="webhook_reorder", count=1)
    cid = await new_customer(client, h)
    await connect(client, h, cid, webhook=receiver.url("/ok/reorder"))
    types = [json.loads(r["body"])["eventType"] for r in receiver.at("/ok/reorder")]
    assert types[-2:] == ["done", "added"]
