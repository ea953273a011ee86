"""The webhook signature verifiers, tested against signatures made independently here with
`cryptography` (and, once, with the sandbox's signer, which must agree with the service)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.webhooks import verify
from service.webhooks.verify import (
    MessageIdMissing,
    ObwmsVerifier,
    SignatureInvalid,
    verify_connect_signature,
)

KEY_OLD = ec.generate_private_key(ec.SECP256R1())
KEY_NEW = ec.generate_private_key(ec.SECP256R1())
KEY_STRANGER = ec.generate_private_key(ec.SECP256R1())
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MESSAGE_ID = "6f1c2b9e-3d4a-4b6c-9e8f-0a1b2c3d4e5f"
BODY = b'{"eventId":"e-1","eventType":"authorization.expiration.reminder","data":{}}'
SECRET = "partner-secret-for-tests"

fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sign(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str, *,
         message_format: str = "body.timestamp", encoding: str = "der", text: str = "hex") -> str:
    ts = timestamp.encode()
    message = body + b"." + ts if message_format == "body.timestamp" else ts + b"." + body
    der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    if encoding == "raw":
        r, s = decode_dss_signature(der)
        der = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return der.hex() if text == "hex" else base64.b64encode(der).decode()


def headers_for(signature: str, timestamp: str, message_id: str | None = MESSAGE_ID) -> dict[str, str]:
    headers = {
        "X-Mastercard-Signature": signature,
        "X-Mastercard-Signature-Timestamp": timestamp,
        "X-Mastercard-Signature-Algorithm": "SHA256withECDSA",
    }
    if message_id is not None:
        headers["X-Mastercard-Webhook-Message-Id"] = message_id
    return headers


def verifier(*keys: ec.EllipticCurvePrivateKey, **options: object) -> ObwmsVerifier:
    return ObwmsVerifier([k.public_key() for k in (keys or (KEY_OLD,))], **options)  # type: ignore[arg-type]


def signed(body: bytes = BODY, ts: str = str(int(NOW)), **options: str) -> dict[str, str]:
    return headers_for(sign(KEY_OLD, body, ts, **options), ts)


def mutate(text: str, index: int, replacement: str) -> str:
    return text[:index] + replacement + text[index + 1:]


# ---- OBWMS ---------------------------------------------------------------------------------------

def test_default_scheme_verifies_and_returns_the_message_id() -> None:
    assert verifier().verify(BODY, signed(), NOW) == MESSAGE_ID


@pytest.mark.parametrize("message_format", ["body.timestamp", "timestamp.body"])
@pytest.mark.parametrize("encoding", ["der", "raw"])
@pytest.mark.parametrize("text", ["hex", "base64"])
def test_each_configured_scheme_round_trips(message_format: str, encoding: str, text: str) -> None:
    options = {"message_format": message_format, "encoding": encoding, "text": text}
    assert verifier(**options).verify(BODY, signed(**options), NOW) == MESSAGE_ID


@pytest.mark.parametrize(("signed_as", "checked_as"), [
    ({"message_format": "timestamp.body"}, {"message_format": "body.timestamp"}),
    ({"encoding": "raw"}, {"encoding": "der"}),
    ({"encoding": "der"}, {"encoding": "raw"}),
    ({"text": "base64"}, {"text": "hex"}),
    ({"text": "hex"}, {"text": "base64"}),
])
def test_a_signature_made_another_way_fails(signed_as: dict[str, str], checked_as: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        verifier(**checked_as).verify(BODY, signed(**signed_as), NOW)


@fuzz
@given(body=st.binary(min_size=1, max_size=300), data=st.data())
def test_every_single_byte_change_to_the_body_fails(body: bytes, data: st.DataObject) -> None:
    headers = signed(body)
    index = data.draw(st.integers(0, len(body) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    with pytest.raises(SignatureInvalid):
        verifier().verify(body[:index] + bytes([new]) + body[index + 1:], headers, NOW)


@fuzz
@given(data=st.data())
def test_every_single_byte_change_to_the_timestamp_fails(data: st.DataObject) -> None:
    ts = str(int(NOW) + data.draw(st.integers(-200, 200)))
    headers = signed(ts=ts)
    index = data.draw(st.integers(0, len(ts) - 1))
    char = data.draw(st.characters(min_codepoint=0, max_codepoint=255).filter(lambda c: c != ts[index]))
    headers["X-Mastercard-Signature-Timestamp"] = mutate(ts, index, char)
    with pytest.raises(SignatureInvalid):
        verifier(tolerance_seconds=10**9).verify(BODY, headers, NOW)


@fuzz
@given(data=st.data(), encoding=st.sampled_from(["der", "raw"]), text=st.sampled_from(["hex", "base64"]))
def test_every_single_byte_change_to_the_signature_fails(data: st.DataObject, encoding: str,
                                                         text: str) -> None:
    headers = signed(encoding=encoding, text=text)
    signature = headers["X-Mastercard-Signature"]
    # ECDSA signatures differ per run (random nonce, DER length varies): draw independently of them.
    index = data.draw(st.integers(0, 10**6)) % len(signature)
    char = data.draw(st.characters(min_codepoint=0, max_codepoint=255))
    assume(char != signature[index])
    headers["X-Mastercard-Signature"] = mutate(signature, index, char)
    with pytest.raises(SignatureInvalid):
        verifier(encoding=encoding, text=text).verify(BODY, headers, NOW)


@fuzz
@given(age=st.integers(301, 10**7))
def test_a_stale_timestamp_fails(age: int) -> None:
    ts = str(int(NOW) - age)
    with pytest.raises(SignatureInvalid, match="window"):
        verifier(tolerance_seconds=300).verify(BODY, signed(ts=ts), NOW)


@fuzz
@given(ahead=st.integers(301, 10**7))
def test_a_future_timestamp_fails(ahead: int) -> None:
    ts = str(int(NOW) + ahead)
    with pytest.raises(SignatureInvalid, match="window"):
        verifier(tolerance_seconds=300).verify(BODY, signed(ts=ts), NOW)


@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_at_the_edge_of_the_tolerance_verifies(offset: int) -> None:
    ts = str(int(NOW) + offset)
    assert verifier(tolerance_seconds=300).verify(BODY, signed(ts=ts), NOW) == MESSAGE_ID


def test_a_millisecond_timestamp_is_read_as_milliseconds() -> None:
    ts = str(int(NOW * 1000))
    assert verifier().verify(BODY, signed(ts=ts), NOW) == MESSAGE_ID


@pytest.mark.parametrize("signer", [KEY_OLD, KEY_NEW])
def test_either_key_verifies_during_rotation(signer: ec.EllipticCurvePrivateKey) -> None:
    ts = str(int(NOW))
    headers = headers_for(sign(signer, BODY, ts), ts)
    assert verifier(KEY_OLD, KEY_NEW).verify(BODY, headers, NOW) == MESSAGE_ID


def test_a_key_that_is_not_configured_fails() -> None:
    ts = str(int(NOW))
    headers = headers_for(sign(KEY_STRANGER, BODY, ts), ts)
    with pytest.raises(SignatureInvalid, match="any configured key"):
        verifier(KEY_OLD, KEY_NEW).verify(BODY, headers, NOW)


@pytest.mark.parametrize("header", ["X-Mastercard-Signature", "X-Mastercard-Signature-Timestamp"])
def test_a_missing_signature_header_fails(header: str) -> None:
    headers = signed()
    del headers[header]
    with pytest.raises(SignatureInvalid, match="missing"):
        verifier().verify(BODY, headers, NOW)


@pytest.mark.parametrize("timestamp", ["", "abc", "1767225600.0", "-1767225600", " 1767225600", "1e9",
                                       "17672256000000000"])
def test_a_non_numeric_timestamp_fails(timestamp: str) -> None:
    headers = signed()
    headers["X-Mastercard-Signature-Timestamp"] = timestamp
    with pytest.raises(SignatureInvalid):
        verifier(tolerance_seconds=10**9).verify(BODY, headers, NOW)


@pytest.mark.parametrize("signature", ["zz", "abc", "AB" * 35, "", "00" * 300, "3006020101020101"])
def test_an_undecodable_signature_fails(signature: str) -> None:
    headers = signed()
    headers["X-Mastercard-Signature"] = signature
    with pytest.raises(SignatureInvalid):
        verifier().verify(BODY, headers, NOW)


@pytest.mark.parametrize("signature", ["!!!!", "AAAA=", "A" * 87 + "=", "YQ"])
def test_an_undecodable_base64_signature_fails(signature: str) -> None:
    headers = signed(text="base64", encoding="raw")
    headers["X-Mastercard-Signature"] = signature
    with pytest.raises(SignatureInvalid):
        verifier(text="base64", encoding="raw").verify(BODY, headers, NOW)


def test_an_uppercase_hex_signature_is_not_accepted() -> None:
    headers = signed()
    headers["X-Mastercard-Signature"] = headers["X-Mastercard-Signature"].upper()
    with pytest.raises(SignatureInvalid, match="lowercase"):
        verifier().verify(BODY, headers, NOW)


def test_another_algorithm_is_refused() -> None:
    headers = signed()
    headers["X-Mastercard-Signature-Algorithm"] = "SHA1withRSA"
    with pytest.raises(SignatureInvalid, match="Algorithm"):
        verifier().verify(BODY, headers, NOW)


def test_a_missing_algorithm_header_is_allowed() -> None:
    headers = signed()
    del headers["X-Mastercard-Signature-Algorithm"]
    assert verifier().verify(BODY, headers, NOW) == MESSAGE_ID


@pytest.mark.parametrize("message_id", [None, "", "has space", "x" * 256])
def test_a_signed_delivery_without_a_usable_message_id_is_malformed(message_id: str | None) -> None:
    ts = str(int(NOW))
    headers = headers_for(sign(KEY_OLD, BODY, ts), ts, message_id)
    with pytest.raises(MessageIdMissing):
        verifier().verify(BODY, headers, NOW)


def test_lowercase_header_names_are_read() -> None:
    headers = {k.lower(): v for k, v in signed().items()}
    assert verifier().verify(BODY, headers, NOW) == MESSAGE_ID


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError):
        ObwmsVerifier([], 300)
    with pytest.raises(ValueError):
        ObwmsVerifier([KEY_OLD.public_key()], 300, message_format="body|timestamp")
    with pytest.raises(ValueError):
        ObwmsVerifier([KEY_OLD.public_key()], 300, encoding="p1363")
    with pytest.raises(ValueError):
        ObwmsVerifier([KEY_OLD.public_key()], 300, text="base32")
    with pytest.raises(ValueError):
        ObwmsVerifier([ec.generate_private_key(ec.SECP384R1()).public_key()], 300)


@pytest.mark.parametrize("message_format", ["body.timestamp", "timestamp.body"])
@pytest.mark.parametrize("encoding", ["der", "raw"])
@pytest.mark.parametrize("text", ["hex", "base64"])
def test_the_sandbox_signer_and_the_verifier_agree(message_format: str, encoding: str, text: str) -> None:
    from sandbox.signing import obwms_headers

    headers = obwms_headers(KEY_NEW, BODY, int(time.time()), MESSAGE_ID, message_format=message_format,
                            signature_encoding=encoding, text_encoding=text)
    check = verifier(KEY_NEW, message_format=message_format, encoding=encoding, text=text)
    assert check.verify(BODY, headers, time.time()) == MESSAGE_ID


def test_the_local_env_key_pair_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/local.env's public key (with literal \\n) matches the sandbox's private key there."""
    from pathlib import Path

    from service.settings import split_pem_keys

    env = dict(line.split("=", 1) for line in Path("scripts/local.env").read_text().splitlines()
               if line and not line.startswith("#"))
    private = serialization.load_pem_private_key(
        env["SANDBOX_WEBHOOK_PRIVATE_KEY"].strip('"').replace("\\n", "\n").encode(), password=None)
    public = serialization.load_pem_public_key(
        split_pem_keys(env["OPEN_BANKING_WEBHOOK_PUBLIC_KEY"].strip('"'))[0].encode())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    ts = str(int(NOW))
    headers = headers_for(sign(private, BODY, ts), ts)
    assert ObwmsVerifier([public], 300).verify(BODY, headers, NOW) == MESSAGE_ID


# ---- Connect -------------------------------------------------------------------------------------

def hmac_hex(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_correct_connect_signature_verifies() -> None:
    verify_connect_signature(BODY, hmac_hex(BODY), SECRET)


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_connect_signature_fails(header: str | None) -> None:
    with pytest.raises(SignatureInvalid, match="missing"):
        verify_connect_signature(BODY, header, SECRET)


def test_a_connect_signature_made_with_another_secret_fails() -> None:
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_connect_signature(BODY, hmac_hex(BODY, "some-other-secret"), SECRET)


@fuzz
@given(body=st.binary(min_size=1, max_size=300), data=st.data())
def test_every_single_byte_change_to_a_connect_body_fails(body: bytes, data: st.DataObject) -> None:
    header = hmac_hex(body)
    index = data.draw(st.integers(0, len(body) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    with pytest.raises(SignatureInvalid):
        verify_connect_signature(body[:index] + bytes([new]) + body[index + 1:], header, SECRET)


@fuzz
@given(data=st.data())
def test_every_single_character_change_to_a_connect_signature_fails(data: st.DataObject) -> None:
    header = hmac_hex(BODY)
    index = data.draw(st.integers(0, len(header) - 1))
    char = data.draw(st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
    assume(char != header[index])
    with pytest.raises(SignatureInvalid):
        verify_connect_signature(BODY, mutate(header, index, char), SECRET)


@pytest.mark.parametrize("char", ["\ud800", "\udfff", "\udc80", "\x00", "\u00e9", "\U0010ffff"])
def test_a_connect_signature_with_a_character_no_hex_digest_has_is_invalid_not_an_error(char: str) -> None:
    with pytest.raises(SignatureInvalid):
        verify_connect_signature(BODY, mutate(hmac_hex(BODY), 7, char), SECRET)


def test_the_connect_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(verify.hmac, "compare_digest", spy)
    with pytest.raises(SignatureInvalid):
        verify_connect_signature(BODY, "0" * 64, SECRET)
    assert calls == [(hmac_hex(BODY).encode(), b"0" * 64)]


def test_a_previous_partner_secret_verifies_during_rotation() -> None:
    verify_connect_signature(BODY, hmac_hex(BODY, "old-secret-1"), ["new-secret-2", "old-secret-1"])
