from sandbox.config import SandboxConfig
from tests.sandbox.support import APP_KEY, PARTNER_ID, SECRET, get_token

AUTH = "/aggregation/v2/partners/authentication"
CUSTOMERS = "/aggregation/v1/customers"


async def test_partner_auth_returns_20_char_token(client):
    token = await get_token(client)
    assert len(token) == 20 and token.isalnum()


async def test_wrong_secret_is_401_code_10001(client):
    r = await client.post(
        AUTH, json={"partnerId": PARTNER_ID, "partnerSecret": "nope"}, headers={"Finicity-App-Key": APP_KEY}
    )
    assert r.status_code == 401 and r.json()["code"] == 10001


async def test_auth_missing_partner_id_is_400_10005(client):
    r = await client.post(AUTH, json={"partnerSecret": SECRET}, headers={"Finicity-App-Key": APP_KEY})
    assert r.status_code == 400 and r.json()["code"] == 10005


async def test_missing_app_key_is_401_10026(client, h):
    r = await client.get(CUSTOMERS, headers={"Finicity-App-Token": h["Finicity-App-Token"]})
    assert r.status_code == 401 and r.json()["code"] == 10026


async def test_wrong_app_key_is_401_10027(client, h):
    r = await client.get(CUSTOMERS, headers={**h, "Finicity-App-Key": "wrong"})
    assert r.status_code == 401 and r.json()["code"] == 10027


async def test_missing_token_is_401_10024(client):
    r = await client.get(CUSTOMERS, headers={"Finicity-App-Key": APP_KEY})
    assert r.status_code == 401 and r.json()["code"] == 10024


async def test_invalid_token_is_401_10022(client):
    r = await client.get(CUSTOMERS, headers={"Finicity-App-Key": APP_KEY, "Finicity-App-Token": "x" * 20})
    assert r.status_code == 401 and r.json()["code"] == 10022


async def test_token_valid_just_before_two_hours_of_sandbox_clock(client, h):
    await client.post("/_sandbox/clock", json={"advanceSeconds": 7199})
    assert (await client.get(CUSTOMERS, headers=h)).status_code == 200


async def test_token_expires_after_two_hours_of_sandbox_clock(client, h):
    await client.post("/_sandbox/clock", json={"advanceSeconds": 7200})
    r = await client.get(CUSTOMERS, headers=h)
    assert r.status_code == 401 and r.json()["code"] == 10023


async def test_stats_count_partner_authentications(client, h):
    await get_token(client)
    stats = (await client.get("/_sandbox/stats")).json()
    assert stats["partnerAuth"]["success"] == 2
    assert stats["operations"]["CreateToken"] == {"200": 2}


def test_config_reads_private_key_with_literal_backslash_n(monkeypatch):
    monkeypatch.setenv(
        "SANDBOX_WEBHOOK_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\\nABC\\n-----END PRIVATE KEY-----"
    )
    monkeypatch.setenv("OPEN_BANKING_PARTNER_ID", "42")
    cfg = SandboxConfig()
    assert cfg.webhook_private_key == "-----BEGIN PRIVATE KEY-----\nABC\n-----END PRIVATE KEY-----\n"
    assert cfg.partner_id == "42"
