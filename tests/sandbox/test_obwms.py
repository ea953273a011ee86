import base64
import json
import uuid

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sandbox import signing
from sandbox.app import create_app
from tests.sandbox.support import connect, get_token, make_client, make_config, new_customer

SUBS = "/notification-subscriptions/webhooks"
EVENT = "authorization.expiration.reminder"


def independent_verify(pem: str, headers: dict, body: bytes, fmt: str, sig_enc: str, text_enc: str) -> None:
    key = serialization.load_pem_public_key(pem.encode())
    ts = headers["x-mastercard-signature-timestamp"].encode()
    message = body + b"." + ts if fmt == "body.timestamp" else ts + b"." + body
    raw = headers["x-mastercard-signature"]
    sig = bytes.fromhex(raw) if text_enc == "hex" else base64.b64decode(raw)
    if sig_enc == "raw":
        assert len(sig) == 64
        sig = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    key.verify(sig, message, ec.ECDSA(hashes.SHA256()))


async def test_subscription_crud_round_trip(client, h):
    r = await client.post(SUBS, json={"url": "https://a.example/h", "events": [{"name": EVENT}]}, headers=h)
    assert r.status_code == 201
    sid = r.json()["subscriptionId"]
    assert uuid.UUID(sid) and r.json()["events"][0]["status"] == "active"
    listed = (await client.get(SUBS, headers=h)).json()
    assert listed["total"] == 1 and listed["subscriptions"][0]["subscriptionId"] == sid
    upd = await client.put(
        f"{SUBS}/{sid}", json={"url": "https://b.example/h", "events": [{"name": "x.y"}]}, headers=h
    )
    assert upd.json()["url"] == "https://b.example/h"
    assert (await client.get(f"{SUBS}/{sid}", headers=h)).json()["events"][0]["name"] == "x.y"
    assert (await client.delete(f"{SUBS}/{sid}", headers=h)).status_code == 204
    gone = await client.get(f"{SUBS}/{sid}", headers=h)
    assert gone.status_code == 404 and gone.json()["Errors"]["Error"][0]["reasonCode"] == 1501


async def test_empty_subscription_list_is_404_error_wrapper(client, h):
    r = await client.get(SUBS, headers=h)
    assert r.status_code == 404 and "Errors" in r.json()


async def test_subscription_without_events_is_400_error_wrapper(client, h):
    r = await client.post(SUBS, json={"url": "https://a.example/h", "events": []}, headers=h)
    assert r.status_code == 400 and r.json()["Errors"]["Error"][0]["reasonCode"] == 1502


async def test_subscription_without_app_key_is_401_error_wrapper(client, h):
    r = await client.get(SUBS, headers={"Finicity-App-Token": h["Finicity-App-Token"]})
    assert r.status_code == 401 and r.json()["Errors"]["Error"][0]["reasonCode"] == 1504


async def test_subscription_with_expired_token_is_401_1503(client, h):
    await client.post("/_sandbox/clock", json={"advanceSeconds": 8000})
    r = await client.get(SUBS, headers=h)
    assert r.status_code == 401 and r.json()["Errors"]["Error"][0]["reasonCode"] == 1503


async def test_public_key_endpoint_serves_pem(client):
    r = await client.get("/_sandbox/webhook-public-key")
    assert r.headers["content-type"].startswith("text/plain") and "BEGIN PUBLIC KEY" in r.text


@pytest.mark.parametrize("fmt", signing.MESSAGE_FORMATS)
@pytest.mark.parametrize("sig_enc", signing.SIGNATURE_ENCODINGS)
@pytest.mark.parametrize("text_enc", signing.TEXT_ENCODINGS)
async def test_obwms_event_signature_verifies_independently(receiver, fmt, sig_enc, text_enc):
    app = create_app(
        make_config(obwms_message_format=fmt, obwms_signature_encoding=sig_enc, obwms_text_encoding=text_enc)
    )
    path = f"/ok/obwms-{fmt}-{sig_enc}-{text_enc}"
    async with make_client(app) as client:
        h = {"Finicity-App-Key": app.state.config.app_key, "Finicity-App-Token": await get_token(client)}
        cid = await new_customer(client, h)
        info = await connect(client, h, cid)
        await client.post(SUBS, json={"url": receiver.url(path), "events": [{"name": EVENT}]}, headers=h)
        r = await client.post(
            "/_sandbox/obwms/send",
            json={"event": EVENT, "customerId": cid, "institutionLoginId": info["institutionLoginId"]},
        )
        pem = (await client.get("/_sandbox/webhook-public-key")).text
    assert r.json()["deliveries"][0]["statusCode"] == 200
    req = receiver.at(path)[0]
    independent_verify(pem, req["headers"], req["body"], fmt, sig_enc, text_enc)
    hdr = req["headers"]
    assert hdr["x-mastercard-signature-algorithm"] == "SHA256withECDSA" and uuid.UUID(
        hdr["x-mastercard-webhook-message-id"]
    )
    body = json.loads(req["body"])
    assert body["eventType"] == EVENT and body["customerId"] == cid and "authorizationEndDate" in body["data"]
    with pytest.raises(InvalidSignature):
        independent_verify(pem, hdr, req["body"] + b" ", fmt, sig_enc, text_enc)


async def test_obwms_event_goes_only_to_matching_active_subscriptions(client, h, receiver):
    await client.post(SUBS, json={"url": receiver.url("/ok/match"), "events": [{"name": EVENT}]}, headers=h)
    await client.post(
        SUBS, json={"url": receiver.url("/ok/other"), "events": [{"name": "other.event"}]}, headers=h
    )
    await client.post(
        SUBS,
        headers=h,
        json={
            "url": receiver.url("/ok/excluded"),
            "events": [
                {"name": EVENT, "condition": {"subscribeFor": "institutionId", "excludes": ["102105"]}}
            ],
        },
    )
    r = await client.post(
        "/_sandbox/obwms/send", json={"event": EVENT, "customerId": "1", "data": {"institutionId": "102105"}}
    )
    assert r.json()["targets"] == [receiver.url("/ok/match")]
    assert receiver.at("/ok/other") == [] and receiver.at("/ok/excluded") == []


def test_signing_rejects_unknown_options():
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="message_format"):
        signing.ecdsa_sign(key, b"{}", "1", message_format="nope")
    with pytest.raises(ValueError, match="signature_encoding"):
        signing.ecdsa_sign(key, b"{}", "1", signature_encoding="nope")


def test_configured_private_key_is_used_and_public_key_matches():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    app = create_app(make_config(webhook_private_key=pem.replace("\n", "\\n")))
    assert signing.public_key_pem(app.state.key) == signing.public_key_pem(key)
