"""Webhook signatures: Connect HMAC (confirmed scheme) and OBWMS ECDSA (configurable, see README)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

MESSAGE_FORMATS = ("body.timestamp", "timestamp.body")
SIGNATURE_ENCODINGS = ("der", "raw")
TEXT_ENCODINGS = ("hex", "base64")
ALGORITHM = "SHA256withECDSA"

HEADER_SIGNATURE = "X-Mastercard-Signature"
HEADER_TIMESTAMP = "X-Mastercard-Signature-Timestamp"
HEADER_ALGORITHM = "X-Mastercard-Signature-Algorithm"
HEADER_MESSAGE_ID = "X-Mastercard-Webhook-Message-Id"


def connect_signature(partner_secret: str, body: bytes) -> str:
    """`X-Finicity-Signature`: lowercase hex HMAC-SHA256 of the exact body, keyed by the partner secret."""
    return hmac.new(partner_secret.encode(), body, hashlib.sha256).hexdigest()


def signing_message(body: bytes, timestamp: str, message_format: str = "body.timestamp") -> bytes:
    if message_format == "body.timestamp":
        return body + b"." + timestamp.encode("ascii")
    if message_format == "timestamp.body":
        return timestamp.encode("ascii") + b"." + body
    raise ValueError(f"unknown message_format {message_format!r}")


def ecdsa_sign(
    private_key: ec.EllipticCurvePrivateKey,
    body: bytes,
    timestamp: str,
    *,
    message_format: str = "body.timestamp",
    signature_encoding: str = "der",
    text_encoding: str = "hex",
) -> str:
    """Sign body+timestamp with ECDSA P-256/SHA-256 and encode it as configured."""
    der = private_key.sign(signing_message(body, timestamp, message_format), ec.ECDSA(hashes.SHA256()))
    if signature_encoding == "der":
        raw = der
    elif signature_encoding == "raw":
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(f"unknown signature_encoding {signature_encoding!r}")
    if text_encoding == "hex":
        return raw.hex()
    if text_encoding == "base64":
        return base64.b64encode(raw).decode("ascii")
    raise ValueError(f"unknown text_encoding {text_encoding!r}")


def obwms_headers(
    private_key: ec.EllipticCurvePrivateKey,
    body: bytes,
    timestamp: int,
    message_id: str,
    *,
    message_format: str = "body.timestamp",
    signature_encoding: str = "der",
    text_encoding: str = "hex",
) -> dict[str, str]:
    ts = str(int(timestamp))
    return {
        HEADER_SIGNATURE: ecdsa_sign(
            private_key,
            body,
            ts,
            message_format=message_format,
            signature_encoding=signature_encoding,
            text_encoding=text_encoding,
        ),
        HEADER_TIMESTAMP: ts,
        HEADER_ALGORITHM: ALGORITHM,
        HEADER_MESSAGE_ID: message_id,
    }


def load_or_generate_key(pem: str | None) -> ec.EllipticCurvePrivateKey:
    if not pem:
        return ec.generate_private_key(ec.SECP256R1())
    key = serialization.load_pem_private_key(pem.replace("\\n", "\n").encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("SANDBOX_WEBHOOK_PRIVATE_KEY must be an EC P-256 private key")
    return key


def public_key_pem(private_key: ec.EllipticCurvePrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
