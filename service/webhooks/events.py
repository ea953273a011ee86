"""Reading the two webhook envelopes: what intake stores and what processing acts on."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

UTC = dt.UTC

CONNECT = "connect"
OBWMS = "obwms"

# Connect eventId: "<13-digit epoch ms>-<24 hex>" (observed format).
_EVENT_ID_MS = re.compile(r"^([0-9]{13})-")
# Plausible event times: after 2001-09-09 and before 2100 (anything else is not a timestamp).
_MIN_MS, _MAX_MS = 1_000_000_000_000, 4_102_444_800_000

# Headers never stored: credentials and signatures (whatever their spelling), and transport noise.
# (X-Mastercard-Signature-Timestamp / -Algorithm are kept: they say how a signature was made, not what it is.)
_NEVER_STORE = re.compile(
    r"(signature$|authori[sz]ation|cookie|secret|token|passw|api[-_]?key|app[-_]?key|session|x-internal)",
    re.IGNORECASE,
)
_TRANSPORT = frozenset({
    "host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
    "accept-encoding", "expect", "proxy-connection",
})
_MAX_HEADERS = 40
_MAX_HEADER_VALUE = 512


_storable_names: dict[str, bool] = {}


def _storable(lname: str) -> bool:
    # Senders repeat the same few header names: decide each once (bounded: names are untrusted).
    known = _storable_names.get(lname)
    if known is None:
        known = lname not in _TRANSPORT and not _NEVER_STORE.search(lname)
        if len(_storable_names) < 1024:
            _storable_names[lname] = known
    return known


def safe_headers(headers: Mapping[str, str] | Any) -> dict[str, str]:
    """The headers worth keeping with an event (content-type, user-agent, X-Mastercard-* other than
    the signature, tracing, custom webhook headers), never a signature or any credential."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        if not _storable(lname):
            continue
        kept[lname] = value[:_MAX_HEADER_VALUE]
        if len(kept) >= _MAX_HEADERS:
            break
    return kept


def as_id(value: Any) -> str | None:
    """Mastercard ids may arrive as strings or numbers; booleans and objects are not ids."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text[:64] or None
    return None


def connect_event_time(event_id: Any) -> dt.datetime | None:
    if not isinstance(event_id, str):
        return None
    match = _EVENT_ID_MS.match(event_id)
    if not match:
        return None
    ms = int(match.group(1))
    if not _MIN_MS <= ms <= _MAX_MS:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=UTC)


def parse_iso(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def obwms_customer_id(body: Mapping[str, Any]) -> str | None:
    for container in (body, body.get("data"), body.get("payload")):
        if isinstance(container, Mapping):
            found = as_id(container.get("customerId"))
            if found:
                return found
    return None


def obwms_login_id(body: Mapping[str, Any]) -> int | None:
    for container in (body, body.get("data"), body.get("payload")):
        if isinstance(container, Mapping):
            value = container.get("institutionLoginId")
            text = as_id(value)
            if text and text.isdigit() and len(text) <= 18:
                return int(text)
    return None


def obwms_event_type(body: Mapping[str, Any]) -> Any:
    for key in ("eventType", "eventName", "event"):
        if key in body:
            return body[key]
    return None


# ---- event types and what they mean --------------------------------------------------------------

# Session progress: the client is mid-link (Pending), never undoing Linked (the SQL guards that).
CONNECT_PENDING_TYPES = frozenset({
    "started", "institutionSelected", "institutionSupported", "adding", "processing", "credentialsUpdated",
})
CONNECT_ACCOUNT_TYPES = frozenset({"added", "discovered"})
CONNECT_DONE_TYPES = frozenset({"done"})
CONNECT_DELETED_TYPES = frozenset({"accountsDeleted"})
CONNECT_FAILURE_TYPES = frozenset({
    "unableToConnect", "institutionNotSupported", "institutionNotFound", "invalidCredentials",
})
KNOWN_CONNECT_TYPES = frozenset({"ping"} | CONNECT_PENDING_TYPES | CONNECT_ACCOUNT_TYPES | CONNECT_DONE_TYPES
                                | CONNECT_DELETED_TYPES | CONNECT_FAILURE_TYPES)

OBWMS_REAUTH_TYPES = frozenset({"authorization.expiration.reminder", "authorization.accesstoken.expiry"})
OBWMS_SYNC_TYPES = frozenset({"data-refresh.transaction.status-changed"})
KNOWN_OBWMS_TYPES = OBWMS_REAUTH_TYPES | OBWMS_SYNC_TYPES
