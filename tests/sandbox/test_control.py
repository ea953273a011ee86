from tests.sandbox.support import new_customer


async def test_health_is_ok(client):
    r = await client.get("/_sandbox/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_clock_advances(client):
    before = (await client.get("/_sandbox/clock")).json()
    after = (await client.post("/_sandbox/clock", json={"advanceSeconds": 3600})).json()
    assert after["offsetSeconds"] == 3600 and after["now"] - before["now"] >= 3600


async def test_reset_clears_all_state(client, h):
    cid = await new_customer(client, h)
    await client.post("/_sandbox/faults", json={"kind": "latency", "latencyMs": 1})
    assert (await client.post("/_sandbox/reset")).status_code == 200
    assert (await client.get("/_sandbox/faults")).json()["faults"] == []
    assert (await client.get(f"/_sandbox/customers/{cid}")).status_code == 404
    assert (await client.get("/_sandbox/stats")).json()["partnerAuth"]["count"] == 0


async def test_stats_count_calls_per_operation_and_status(client, h):
    await new_customer(client, h, "stats_user")
    await client.post("/aggregation/v2/customers/testing", json={"username": "stats_user"}, headers=h)
    await client.get("/aggregation/v1/customers/0", headers=h)
    ops = (await client.get("/_sandbox/stats")).json()["operations"]
    assert ops["AddTestingCustomer"] == {"201": 1, "409": 1} and ops["GetCustomer"] == {"404": 1}


async def test_complete_for_unknown_customer_is_404(client):
    assert (await client.post("/_sandbox/connect/complete", json={"customerId": "nope"})).status_code == 404


async def test_complete_without_link_is_409(client, h):
    cid = await new_customer(client, h)
    assert (await client.post("/_sandbox/connect/complete", json={"customerId": cid})).status_code == 409
