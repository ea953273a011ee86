"""Typed errors for Mastercard Open Banking US (Finicity) calls.

Every failure a caller can see is a `FinicityError` carrying the HTTP status and Finicity's `code`
(normalised to a string: the API sends it as a number or a string), a message safe to log, and a short
`reason` a CPA can read. Messages never carry tokens or secrets: `error_from_response` redacts any
value the caller asks it to before the text is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

# 401 codes meaning "the app token is invalid / expired / missing": refresh once and retry.
# 1503 is the OBWMS spelling ("Expired (App-Token)").
TOKEN_INVALID_CODES = frozenset({"10022", "10024"})
TOKEN_EXPIRED_CODES = frozenset({"10023", "1503"})
# 404 codes of authorization-details meaning "no consent window for this login" (legacy or old grant).
NO_AUTHORIZATION_DETAILS_CODES = frozenset({"3003", "3004"})

_MAX_MESSAGE = 300
_TRACKING_HEADERS = ("x-tracking-id", "trackingid", "x-request-id", "x-correlation-id")


class FinicityError(Exception):
    """A failed call to the Mastercard Open Banking API."""

    reason: ClassVar[str] = "The bank-data provider returned an unexpected error."
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        status: int | None,
        code: str | int | None,
        message: str,
        tracking_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = normalise_code(code)
        self.message = message
        self.tracking_id = tracking_id
        # Seconds the server asked us to wait (Retry-After on 429/503), if any.
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code}): {self.message}"


class BadRequest(FinicityError):
    reason = "The request to the bank-data provider was rejected as invalid."


class AuthenticationFailed(FinicityError):
    """Partner credentials or app key refused (10001, 10021, 10026, 10027, 24302, plain-text 401s)."""

    reason = "Our credentials for the bank-data provider were refused; an operator must check them."


class TokenInvalid(FinicityError):
    """The app token was rejected (10022 invalid, 10024 missing): the client refreshes once."""

    reason = "Our session with the bank-data provider was rejected."


class TokenExpired(TokenInvalid):
    """The app token expired (10023; OBWMS 1503)."""

    reason = "Our session with the bank-data provider expired."


class Forbidden(FinicityError):
    reason = "The bank-data provider refused this operation."


class NotFound(FinicityError):
    reason = "The bank-data provider does not know this customer, account or resource."


class Conflict(FinicityError):
    """409, e.g. 110002 "Username is not available." on customer create."""

    reason = "The bank-data provider already has this record."


class RateLimited(FinicityError):
    reason = "The bank-data provider is busy; the request will be retried later."
    retryable = True


class ServerError(FinicityError):
    reason = "The bank-data provider had an internal problem; the request will be retried later."
    retryable = True


class MfaRequired(FinicityError):
    """HTTP 203: the institution wants an MFA answer; only the customer can give it (Connect Fix)."""

    reason = "The bank asks the client to confirm their identity again."


class TransportError(FinicityError):
    """No HTTP answer: timeout, refused connection, broken stream."""

    reason = "The bank-data provider could not be reached; the request will be retried later."
    retryable = True


class UnexpectedResponse(FinicityError):
    """A 2xx whose body does not match the spec."""

    reason = "The bank-data provider sent a response we could not read."


def normalise_code(code: object) -> str | None:
    """Finicity codes arrive as 14001, "14001" or 14001.0 (when floats are parsed as Decimal)."""
    if code is None or code == "":
        return None
    if isinstance(code, bool):
        return str(code).lower()
    text = str(code).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; HTTP-date forms are ignored (the backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _extract(body: bytes) -> tuple[str | None, str]:
    """(code, message) from an ErrorMessage, an OBWMS ErrorWrapper or a plain-text body."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data: Any = json.loads(text) if text else None
    except ValueError:
        return None, text
    if isinstance(data, dict):
        wrapper = data.get("Errors")
        if isinstance(wrapper, dict):
            items = wrapper.get("Error") or [{}]
            first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
            # The spec's schema says ReasonCode/Description; its examples say reasonCode/description.
            code = first.get("reasonCode", first.get("ReasonCode"))
            message = first.get("description", first.get("Description")) or ""
            return normalise_code(code), str(message)
        message = data.get("message") or data.get("user_message") or ""
        return normalise_code(data.get("code")), str(message)
    return None, text


def _classify(status: int, code: str | None, message: str) -> type[FinicityError]:
    if status == 401:
        if code in TOKEN_EXPIRED_CODES:
            return TokenExpired
        if code in TOKEN_INVALID_CODES:
            return TokenInvalid
        # Plain-text 401 bodies name the header at fault, e.g. "Invalid (Finicity-App-Token)".
        if code is None and "app-token" in message.lower():
            return TokenInvalid
        return AuthenticationFailed
    by_status: dict[int, type[FinicityError]] = {
        203: MfaRequired,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        429: RateLimited,
    }
    if status in by_status:
        return by_status[status]
    if status >= 500:
        return ServerError
    if status >= 400:
        return BadRequest
    return UnexpectedResponse


def error_from_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str] = (),
) -> FinicityError:
    """Build the typed error for a non-success response; `secrets` are scrubbed from the message."""
    code, message = _extract(body)
    message = redact(message, list(secrets))[:_MAX_MESSAGE] or f"HTTP {status}"
    tracking_id = next((headers[h] for h in _TRACKING_HEADERS if h in headers), None)
    cls = _classify(status, code, message)
    return cls(status, code, message, tracking_id, parse_retry_after(headers.get("retry-after")))
