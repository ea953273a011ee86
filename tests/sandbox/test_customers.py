import pytest

from tests.sandbox.support import new_customer

TESTING = "/aggregation/v2/customers/testing"


async def test_create_testing_customer_returns_201_created_customer(client, h):
    r = await client.post(TESTING, json={"username": "alice_01", "firstName": "Alice"}, headers=h)
    assert r.status_code == 201
    body = r.json()
    assert (
        isinstance(body["id"], str)
        and body["username"] == "alice_01"
        and isinstance(body["createdDate"], int)
    )


async def test_create_active_customer_has_type_active(client, h):
    r = await client.post("/aggregation/v2/customers/active", json={"username": "bob.active"}, headers=h)
    got = await client.get(f"/aggregation/v1/customers/{r.json()['id']}", headers=h)
    assert got.json()["type"] == "active"


@pytest.mark.parametrize("username", ["short", "has space", "émile_01", "x" * 256, "semi;colon"])
async def test_username_policy_violation_is_400_110039(client, h, username):
    r = await client.post(TESTING, json={"username": username}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == 110039


@pytest.mark.parametrize("username", ["abc123", "a!@.#$%&*_-+", "y" * 255])
async def test_username_policy_accepts_allowed_characters(client, h, username):
    assert (await client.post(TESTING, json={"username": username}, headers=h)).status_code == 201


async def test_missing_username_is_400_10005(client, h):
    r = await client.post(TESTING, json={}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == 10005


async def test_duplicate_username_is_409_110002(client, h):
    await new_customer(client, h, "dupe_user")
    r = await client.post("/aggregation/v2/customers/active", json={"username": "dupe_user"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == 110002


async def test_lookup_by_username_finds_exactly_one(client, h):
    cid = await new_customer(client, h, "findme_1")
    await new_customer(client, h, "findme_2")
    body = (await client.get("/aggregation/v1/customers", params={"username": "findme_1"}, headers=h)).json()
    assert body["found"] == 1 and body["moreAvailable"] is False and body["customers"][0]["id"] == cid
    assert isinstance(body["customers"][0]["createdDate"], str)


async def test_lookup_unknown_username_is_empty_200(client, h):
    body = (await client.get("/aggregation/v1/customers", params={"username": "nobody_x"}, headers=h)).json()
    assert body == {"found": 0, "displaying": 0, "moreAvailable": False, "customers": []}


async def test_customer_list_paginates_with_start_and_limit(client, h):
    for i in range(3):
        await new_customer(client, h, f"page_user_{i}")
    body = (await client.get("/aggregation/v1/customers", params={"start": 2, "limit": 1}, headers=h)).json()
    assert body["found"] == 3 and body["displaying"] == 1 and body["moreAvailable"] is True
    assert body["customers"][0]["username"] == "page_user_1"


async def test_customer_list_invalid_type_is_400_14016(client, h):
    r = await client.get("/aggregation/v1/customers", params={"type": "weird"}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == 14016


async def test_get_unknown_customer_is_404_14001(client, h):
    r = await client.get("/aggregation/v1/customers/999", headers=h)
    assert r.status_code == 404 and r.json() == {"code": 14001, "message": "Customer not found."}


async def test_delete_customer_is_204_then_404(client, h):
    cid = await new_customer(client, h, "to_delete")
    assert (await client.delete(f"/aggregation/v1/customers/{cid}", headers=h)).status_code == 204
    assert (await client.get(f"/aggregation/v1/customers/{cid}", headers=h)).status_code == 404


async def test_delete_unknown_customer_is_404_14001(client, h):
    r = await client.delete("/aggregation/v1/customers/123", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 14001
