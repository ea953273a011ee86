"""Webhook intake through a real Litestar app and the real Postgres (postgres adapter)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from litestar.testing import AsyncTestClient

from service.runtime import Services
from service.settings import Settings
from tests.unit.webhooks.support import (
    OBWMS_KEY_NEXT,
    closed_port_rpc,
    compact,
    connect_event,
    connect_headers,
    events_with,
    forget_events,
    jobs_for_event,
    local_settings,
    make_app,
    obwms_headers,
    table_counts,
)

CONNECT_URL = "/webhooks/connect"
OBWMS_URL = "/webhooks/mastercard"


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return local_settings(database_url)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=make_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def services(client: AsyncTestClient) -> Services:
    return client.app.state.services


@pytest.fixture
def stored(pg: psycopg.Connection) -> Iterator[list[int]]:
    ids: list[int] = []
    yield ids
    forget_events(pg, ids)


def secret(services: Services) -> str:
    return services.settings.open_banking_partner_secret.get_secret_value()


def outcome_count(services: Services, source: str, outcome: str) -> float:
    labels = {"source": source, "outcome": outcome}
    value = services.metrics.registry.get_sample_value("ob_webhooks_total", labels)
    return value or 0.0


def new_finicity_customer_id() -> str:
    return str(uuid.uuid4().int)[:10]


# ---- Connect -------------------------------------------------------------------------------------

async def test_a_signed_connect_event_is_stored_once_with_its_job(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection, stored: list[int]) -> None:
    event = connect_event(new_finicity_customer_id(), "added", {"institutionId": "102176", "accounts": []})
    body = compact(event)
    headers = connect_headers(body, secret(services)) | {"X-Custom-Trace": "abc", "Authorization": "Bearer x"}
    response = await client.post(CONNECT_URL, content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["stored"] is True
    stored.append(response.json()["event_id"])
    rows = events_with(pg, "connect", event["eventId"])
    assert len(rows) == 1
    event_id, event_type, finicity_customer_id, saved_headers, verified = rows[0]
    assert (event_id, event_type, finicity_customer_id, verified) == (
        response.json()["event_id"], "added", event["customerId"], True)
    assert jobs_for_event(pg, event_id) == 1
    assert saved_headers["content-type"] == "application/json"
    assert saved_headers["x-custom-trace"] == "abc"
    assert not any("signature" in name or "authorization" in name for name in saved_headers)


async def test_a_repeated_connect_event_is_acknowledged_and_not_stored_again(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection, stored: list[int]) -> None:
    body = compact(connect_event(new_finicity_customer_id(), "done"))
    headers = connect_headers(body, secret(services))
    first = await client.post(CONNECT_URL, content=body, headers=headers)
    stored.append(first.json()["event_id"])
    before = outcome_count(services, "connect", "duplicate")
    second = await client.post(CONNECT_URL, content=body, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json() == {"stored": False, "event_id": first.json()["event_id"]}
    assert pg.execute("select count(*) from private.ob_webhook_events where id = %s",
                      (first.json()["event_id"],)).fetchone()[0] == 1
    assert jobs_for_event(pg, first.json()["event_id"]) == 1
    assert outcome_count(services, "connect", "duplicate") == before + 1


async def test_a_connect_event_without_an_event_id_is_keyed_by_its_body_hash(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection, stored: list[int]) -> None:
    import hashlib

    body = compact({"customerId": new_finicity_customer_id(), "eventType": "started", "payload": {}})
    response = await client.post(CONNECT_URL, content=body, headers=connect_headers(body, secret(services)))
    assert response.status_code == 202
    stored.append(response.json()["event_id"])
    assert len(events_with(pg, "connect", "sha256:" + hashlib.sha256(body).hexdigest())) == 1


@pytest.mark.parametrize("signature", [None, "", "0" * 64, "not-hex", "wrong-secret"])
async def test_a_bad_or_missing_connect_signature_is_401_and_stores_nothing(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection, signature: str | None) -> None:
    event = connect_event(new_finicity_customer_id(), "done")
    body = compact(event)
    headers = {"Content-Type": "application/json"}
    if signature == "wrong-secret":
        headers = connect_headers(body, "not-the-partner-secret")
    elif signature is not None:
        headers["X-Finicity-Signature"] = signature
    before_counts, before_metric = table_counts(pg), outcome_count(services, "connect", "rejected")
    response = await client.post(CONNECT_URL, content=body, headers=headers)
    assert response.status_code == 401
    assert "detail" in response.json()
    assert table_counts(pg) == before_counts
    assert events_with(pg, "connect", event["eventId"]) == []
    assert outcome_count(services, "connect", "rejected") == before_metric + 1


@pytest.mark.parametrize("body", [b"{not json", b"[1,2,3]", b'"ping"', b"null", b'{"eventType": 7}',
                                  b"\xff\xfe{}", b'{"amount": NaN}', b"", b"[" * 5000 + b"]" * 5000])
async def test_a_signed_but_malformed_connect_body_is_400(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection, body: bytes) -> None:
    before = table_counts(pg)
    response = await client.post(CONNECT_URL, content=body, headers=connect_headers(body, secret(services)))
    assert response.status_code == 400
    assert table_counts(pg) == before


async def test_a_connect_payload_postgres_cannot_store_is_400(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection) -> None:
    # (in a field that is kept: unlisted fields are dropped before the write, see the test below)
    body = (b'{"eventType":"added","eventId":"x-null-char","payload":{"accounts":'
            b'[{"id":"1","institutionLoginId":1,"name":"a\\u0000b"}]}}')
    before = table_counts(pg)
    response = await client.post(CONNECT_URL, content=body, headers=connect_headers(body, secret(services)))
    assert response.status_code == 400
    assert table_counts(pg) == before


async def test_a_stored_connect_event_holds_no_account_number_nor_unlisted_fields(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection, stored: list[int]) -> None:
    account = {"id": "5011648377", "number": "8402215512", "realAccountNumberLast4": "5512", "name": "Savings",
               "balance": 1234.56, "institutionLoginId": 1007302745, "marketSegment": "personal"}
    event = connect_event(new_finicity_customer_id(), "added", {"institutionId": "102176", "accounts": [account]})
    body = compact(event | {"consumerId": "c0ffee", "webhookData": {"platformClientId": str(uuid.uuid4())}})
    response = await client.post(CONNECT_URL, content=body, headers=connect_headers(body, secret(services)))
    assert response.status_code == 202
    stored.append(response.json()["event_id"])
    payload = pg.execute("select payload from private.ob_webhook_events where id = %s",
                         (response.json()["event_id"],)).fetchone()[0]
    assert payload == {"customerId": event["customerId"], "eventType": "added", "eventId": event["eventId"],
                       "payload": {"institutionId": "102176", "accounts": [
                           {"id": "5011648377", "name": "Savings", "balance": 1234.56,
                            "institutionLoginId": 1007302745, "numberMasked": "****5512"}]}}


def padded(size: int) -> bytes:
    body = b'{"eventType":"added","pad":"' + b"x" * (size - 30) + b'"}'
    assert len(body) == size
    return body


@pytest.mark.parametrize("url", [CONNECT_URL, OBWMS_URL])
async def test_a_body_of_exactly_one_mebibyte_is_read(client: AsyncTestClient, url: str) -> None:
    response = await client.post(url, content=padded(1024 * 1024), headers={"X-Finicity-Signature": "0" * 64})
    assert response.status_code == 401  # read and checked, not refused for its size


@pytest.mark.parametrize("url", [CONNECT_URL, OBWMS_URL])
async def test_a_body_over_one_mebibyte_is_413(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection, url: str) -> None:
    body = padded(1024 * 1024 + 1)
    headers = connect_headers(body, secret(services)) if url == CONNECT_URL else obwms_headers(body)
    before = table_counts(pg)
    response = await client.post(url, content=body, headers=headers)
    assert response.status_code == 413
    assert table_counts(pg) == before


async def test_a_connect_ping_is_200_and_stores_nothing(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection) -> None:
    body = compact({"eventType": "ping", "payload": {}})
    before = table_counts(pg)
    response = await client.post(CONNECT_URL, content=body, headers=connect_headers(body, secret(services)))
    assert response.status_code == 200
    assert table_counts(pg) == before


async def test_an_unsigned_ping_is_401(client: AsyncTestClient) -> None:
    response = await client.post(CONNECT_URL, content=compact({"eventType": "ping", "payload": {}}))
    assert response.status_code == 401


async def test_an_unknown_connect_event_type_is_stored_and_acknowledged(
        client: AsyncTestClient, services: Services, pg: psycopg.Connection, stored: list[int]) -> None:
    event = connect_event(new_finicity_customer_id(), "somethingNewFromMastercard", {"x": 1})
    body = compact(event)
    response = await client.post(CONNECT_URL, content=body, headers=connect_headers(body, secret(services)))
    assert response.status_code == 202
    stored.append(response.json()["event_id"])
    assert [row[1] for row in events_with(pg, "connect", event["eventId"])] == ["somethingNewFromMastercard"]


@pytest.mark.parametrize("url", [CONNECT_URL, OBWMS_URL])
async def test_database_down_is_503_with_retry_after(settings: Settings, url: str) -> None:
    async with AsyncTestClient(app=make_app(settings, closed_port_rpc)) as test_client:
        down: Services = test_client.app.state.services
        body = compact(connect_event(new_finicity_customer_id(), "done"))
        headers = connect_headers(body, secret(down)) if url == CONNECT_URL else obwms_headers(body)
        response = await test_client.post(url, content=body, headers=headers)
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    source = "connect" if url == CONNECT_URL else "obwms"
    assert outcome_count(down, source, "unavailable") == 1


# ---- OBWMS ---------------------------------------------------------------------------------------

def reminder(login_id: int = 6026370998) -> dict[str, Any]:
    return {"eventId": str(uuid.uuid4()), "eventType": "authorization.expiration.reminder",
            "eventTime": "2026-01-01T00:00:00Z", "customerId": new_finicity_customer_id(),
            "institutionLoginId": login_id,
            "data": {"institutionId": "102176", "daysUntilExpiration": 7}}


async def test_a_signed_obwms_event_is_stored_once_per_message_id(
        client: AsyncTestClient, pg: psycopg.Connection, stored: list[int]) -> None:
    body = compact(reminder())
    message_id = str(uuid.uuid4())
    first = await client.post(OBWMS_URL, content=body, headers=obwms_headers(body, message_id=message_id))
    # A redelivery is signed afresh (new timestamp, new signature) under the same message id.
    redelivery = obwms_headers(body, message_id=message_id, timestamp=int(time.time()) - 5)
    again = await client.post(OBWMS_URL, content=body, headers=redelivery)
    assert (first.status_code, again.status_code) == (202, 202)
    stored.append(first.json()["event_id"])
    assert (first.json()["stored"], again.json()["stored"]) == (True, False)
    rows = events_with(pg, "obwms", message_id)
    assert len(rows) == 1
    assert rows[0][1] == "authorization.expiration.reminder"
    assert jobs_for_event(pg, rows[0][0]) == 1
    saved_headers = rows[0][3]
    assert saved_headers["x-mastercard-webhook-message-id"] == message_id
    assert "x-mastercard-signature-timestamp" in saved_headers
    assert "x-mastercard-signature" not in saved_headers


async def test_an_obwms_body_replayed_under_new_message_ids_is_a_duplicate(
        client: AsyncTestClient, pg: psycopg.Connection, stored: list[int]) -> None:
    """Within the signature window a captured delivery can be re-sent with a fresh, unsigned message
    id header: the body's signed eventId still identifies it."""
    body = compact(reminder())
    first = await client.post(OBWMS_URL, content=body, headers=obwms_headers(body))
    replays = [await client.post(OBWMS_URL, content=body, headers=obwms_headers(body)) for _ in range(3)]
    assert first.status_code == 202 and first.json()["stored"] is True
    stored.append(first.json()["event_id"])
    assert [(r.status_code, r.json()) for r in replays] == [(202, {"stored": False,
                                                                  "event_id": first.json()["event_id"]})] * 3
    event_key = json.loads(body)["eventId"]
    assert pg.execute("select count(*) from private.ob_webhook_events where source = 'obwms' and event_key = %s",
                      (event_key,)).fetchone()[0] == 1
    assert jobs_for_event(pg, first.json()["event_id"]) == 1


@pytest.mark.parametrize(("key", "encoding"), [(OBWMS_KEY_NEXT, "der")])
async def test_an_obwms_event_signed_with_the_second_configured_key_is_accepted(
        client: AsyncTestClient, stored: list[int], key: ec.EllipticCurvePrivateKey, encoding: str) -> None:
    body = compact(reminder())
    headers = obwms_headers(body, key=key, encoding=encoding)
    response = await client.post(OBWMS_URL, content=body, headers=headers)
    assert response.status_code == 202
    stored.append(response.json()["event_id"])


@pytest.mark.parametrize("age", [301, -301, 86_400])
async def test_a_stale_or_future_obwms_timestamp_is_401(
        client: AsyncTestClient, pg: psycopg.Connection, age: int) -> None:
    body = compact(reminder())
    message_id = str(uuid.uuid4())
    before = table_counts(pg)
    response = await client.post(OBWMS_URL, content=body, headers=obwms_headers(
        body, message_id=message_id, timestamp=int(time.time()) - age))
    assert response.status_code == 401
    assert table_counts(pg) == before


async def test_a_signed_obwms_event_without_a_message_id_is_400(
        client: AsyncTestClient, pg: psycopg.Connection) -> None:
    body = compact(reminder())
    headers = obwms_headers(body)
    del headers["X-Mastercard-Webhook-Message-Id"]
    before = table_counts(pg)
    response = await client.post(OBWMS_URL, content=body, headers=headers)
    assert response.status_code == 400
    assert table_counts(pg) == before


async def test_a_forged_event_changes_nothing_in_any_table(
        client: AsyncTestClient, pg: psycopg.Connection) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    connect_body = compact(connect_event(new_finicity_customer_id(), "added", {"institutionId": "1", "accounts": [
        {"id": "999", "number": "12345678", "institutionLoginId": 1, "customerId": "1"}]}))
    obwms_body = compact(reminder())
    forged = [
        (CONNECT_URL, connect_body, connect_headers(connect_body, "guessed-partner-secret")),
        (CONNECT_URL, connect_body, {"X-Finicity-Signature": "a" * 64}),
        (OBWMS_URL, obwms_body, obwms_headers(obwms_body, key=stranger)),
        (OBWMS_URL, obwms_body, {**obwms_headers(obwms_body), "X-Mastercard-Signature-Timestamp": "0"}),
        (OBWMS_URL, obwms_body + b" ", obwms_headers(obwms_body)),
    ]
    before = table_counts(pg)
    for url, body, headers in forged:
        assert (await client.post(url, content=body, headers=headers)).status_code == 401
    assert table_counts(pg) == before


async def test_the_openapi_document_describes_both_routes(client: AsyncTestClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    connect = document["paths"][CONNECT_URL]["post"]
    obwms = document["paths"][OBWMS_URL]["post"]
    assert {p["name"] for p in connect["parameters"]} == {"X-Finicity-Signature"}
    assert "X-Mastercard-Webhook-Message-Id" in {p["name"] for p in obwms["parameters"]}
    assert "application/json" in connect["requestBody"]["content"]
    assert set(connect["responses"]) == {"200", "202", "400", "401", "413", "503"}
    assert set(obwms["responses"]) == {"202", "400", "401", "413", "503"}
    assert "Retry-After" in obwms["responses"]["503"]["headers"]


async def test_during_a_secret_rotation_the_previous_secret_still_verifies(database_url: str, pg, stored) -> None:
    settings = local_settings(database_url, open_banking_partner_secret="new-partner-secret-2",
                              open_banking_partner_secret_previous="old-partner-secret-1")
    codes = []
    async with AsyncTestClient(app=make_app(settings)) as client:
        for secret_value in ("old-partner-secret-1", "new-partner-secret-2", "some-other-secret-3"):
            body = compact(connect_event(new_finicity_customer_id(), "started", {}))
            response = await client.post(CONNECT_URL, content=body, headers=connect_headers(body, secret_value))
            codes.append(response.status_code)
            if response.status_code == 202:
                stored.append(response.json()["event_id"])
    assert codes == [202, 202, 401]
