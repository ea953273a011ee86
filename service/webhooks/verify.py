"""Webhook signature verification: pure functions, no I/O, the clock passed in.

Connect (Data Connect) webhooks — the confirmed scheme:
    X-Finicity-Signature = lowercase hex( HMAC-SHA256(key = partner secret, msg = raw request body) )
compared in constant time (`hmac.compare_digest`) against the exact bytes received (never a
re-serialisation of the parsed JSON). There is no timestamp; replays are absorbed by storing each
`eventId` once.

OBWMS (OFNMS) webhooks — the official "Message Verification" text was not available to us, so every
uncertain choice is configuration (Settings.webhook_signature_*), and the sandbox signs the same way:

    headers   X-Mastercard-Signature            the signature (text, see below)
              X-Mastercard-Signature-Timestamp  epoch seconds, ASCII digits (13 digits = milliseconds)
              X-Mastercard-Signature-Algorithm  optional; when present it must be SHA256withECDSA
              X-Mastercard-Webhook-Message-Id   idempotency key, required
    message   "body.timestamp" (default):  raw_body + b"." + timestamp_header_bytes
              "timestamp.body":            timestamp_header_bytes + b"." + raw_body
    algorithm ECDSA over P-256 with SHA-256, against ANY configured public key (rotation: old and new
              keys are both configured during the overlap)
    encoding  "der" (default, what Java's SHA256withECDSA emits) or "raw" (r || s, 32 bytes each, P1363)
    text      "hex" (default; lowercase only) or "base64" (standard alphabet, padded, canonical)
    freshness |now - timestamp| <= tolerance seconds (default 300), stale and future alike

Signature text must be canonical (lowercase hex; canonical base64), so that no byte of the header can
change while the signature still verifies.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

CONNECT_SIGNATURE_HEADER = "X-Finicity-Signature"
OBWMS_SIGNATURE_HEADER = "X-Mastercard-Signature"
OBWMS_TIMESTAMP_HEADER = "X-Mastercard-Signature-Timestamp"
OBWMS_ALGORITHM_HEADER = "X-Mastercard-Signature-Algorithm"
OBWMS_MESSAGE_ID_HEADER = "X-Mastercard-Webhook-Message-Id"
OBWMS_ALGORITHM = "SHA256withECDSA"

MESSAGE_FORMATS = ("body.timestamp", "timestamp.body")
SIGNATURE_ENCODINGS = ("der", "raw")
TEXT_ENCODINGS = ("hex", "base64")

_MAX_SIGNATURE_TEXT = 400  # a DER P-256 signature is at most 72 bytes (144 hex chars)
_TIMESTAMP = re.compile(r"[0-9]{1,13}")
_LOWER_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,255}")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class SignatureInvalid(Exception):
    """The request is not provably from Mastercard: answer 401, store nothing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageIdMissing(ValueError):
    """Signed correctly but without a usable X-Mastercard-Webhook-Message-Id: answer 400."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def connect_signature(body: bytes, secret: str) -> str:
    return hmac.digest(secret.encode(), body, "sha256").hex()


def verify_connect_signature(body: bytes, header: str | None, secret: str | Sequence[str]) -> None:
    """Raise SignatureInvalid unless `header` is the hex HMAC-SHA256 of `body` under the secret
    (or under any of several secrets, for a partner-secret rotation grace period)."""
    if not header:
        raise SignatureInvalid(f"missing {CONNECT_SIGNATURE_HEADER}")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    # "surrogatepass": any str (even a lone surrogate) is compared and found invalid, never an error.
    given = header.encode("utf-8", "surrogatepass")
    ok = False
    for candidate in secrets:
        expected = connect_signature(body, candidate).encode("ascii")
        # Compare against every secret (no early exit) so timing says nothing about which matched.
        ok |= hmac.compare_digest(expected, given)
    if not ok:
        raise SignatureInvalid(f"{CONNECT_SIGNATURE_HEADER} does not match the body")


def signing_message(body: bytes, timestamp: str, message_format: str) -> bytes:
    if message_format == "body.timestamp":
        return body + b"." + timestamp.encode("ascii")
    if message_format == "timestamp.body":
        return timestamp.encode("ascii") + b"." + body
    raise ValueError(f"unknown message format {message_format!r}")


class ObwmsVerifier:
    def __init__(
        self,
        public_keys: Iterable[ec.EllipticCurvePublicKey],
        tolerance_seconds: float = 300,
        message_format: str = "body.timestamp",
        encoding: str = "der",
        text: str = "hex",
    ) -> None:
        self.public_keys = list(public_keys)
        if not self.public_keys:
            raise ValueError("at least one public key is required")
        for key in self.public_keys:
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                raise ValueError("OBWMS public keys must be EC P-256")
        if message_format not in MESSAGE_FORMATS:
            raise ValueError(f"message_format must be one of {MESSAGE_FORMATS}")
        if encoding not in SIGNATURE_ENCODINGS:
            raise ValueError(f"encoding must be one of {SIGNATURE_ENCODINGS}")
        if text not in TEXT_ENCODINGS:
            raise ValueError(f"text must be one of {TEXT_ENCODINGS}")
        if tolerance_seconds <= 0:
            raise ValueError("tolerance_seconds must be positive")
        self.tolerance_seconds = tolerance_seconds
        self.message_format = message_format
        self.encoding = encoding
        self.text = text

    @classmethod
    def from_settings(cls, settings: object) -> ObwmsVerifier:
        return cls(
            settings.webhook_public_keys,  # type: ignore[attr-defined]
            settings.webhook_signature_tolerance_seconds,  # type: ignore[attr-defined]
            settings.webhook_signature_message_format,  # type: ignore[attr-defined]
            settings.webhook_signature_encoding,  # type: ignore[attr-defined]
            settings.webhook_signature_text,  # type: ignore[attr-defined]
        )

    def _decode_text(self, value: str) -> bytes:
        if len(value) > _MAX_SIGNATURE_TEXT:
            raise SignatureInvalid("signature too long")
        if self.text == "hex":
            if not _LOWER_HEX.fullmatch(value):
                raise SignatureInvalid("signature is not lowercase hex")
            return bytes.fromhex(value)
        try:
            raw = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise SignatureInvalid("signature is not base64") from None
        if base64.b64encode(raw).decode("ascii") != value:
            raise SignatureInvalid("signature is not canonical base64")
        return raw

    def _to_der(self, raw: bytes) -> bytes:
        if self.encoding == "der":
            return raw
        if len(raw) != 64:
            raise SignatureInvalid("raw signature must be 64 bytes (r || s)")
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        if r == 0 or s == 0:
            raise SignatureInvalid("raw signature has a zero component")
        return encode_dss_signature(r, s)

    def verify(self, body: bytes, headers: Mapping[str, str], now: float) -> str:
        """Return the message id of a correctly signed, fresh delivery; raise SignatureInvalid
        (→ 401) otherwise, or MessageIdMissing (→ 400) if it is signed but carries no message id."""
        signature = _header(headers, OBWMS_SIGNATURE_HEADER)
        timestamp = _header(headers, OBWMS_TIMESTAMP_HEADER)
        if not signature:
            raise SignatureInvalid(f"missing {OBWMS_SIGNATURE_HEADER}")
        if not timestamp:
            raise SignatureInvalid(f"missing {OBWMS_TIMESTAMP_HEADER}")
        algorithm = _header(headers, OBWMS_ALGORITHM_HEADER)
        if algorithm is not None and algorithm.strip().lower() != OBWMS_ALGORITHM.lower():
            raise SignatureInvalid(f"unsupported {OBWMS_ALGORITHM_HEADER}")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise SignatureInvalid(f"{OBWMS_TIMESTAMP_HEADER} is not epoch seconds")
        when = int(timestamp)
        if len(timestamp) == 13:  # epoch milliseconds
            when = when / 1000  # type: ignore[assignment]
        if abs(now - when) > self.tolerance_seconds:
            raise SignatureInvalid(f"{OBWMS_TIMESTAMP_HEADER} outside the allowed window")
        der = self._to_der(self._decode_text(signature))
        message = signing_message(body, timestamp, self.message_format)
        for key in self.public_keys:
            try:
                key.verify(der, message, _ECDSA_SHA256)
            except InvalidSignature:
                continue
            except ValueError:  # malformed DER
                raise SignatureInvalid("signature is not valid DER") from None
            break
        else:
            raise SignatureInvalid("signature does not verify with any configured key")
        message_id = _header(headers, OBWMS_MESSAGE_ID_HEADER)
        if message_id is None or not _MESSAGE_ID.fullmatch(message_id):
            raise MessageIdMissing(f"missing or malformed {OBWMS_MESSAGE_ID_HEADER}")
        return message_id
