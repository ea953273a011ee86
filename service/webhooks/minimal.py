"""What of a webhook body is stored: only what processing, replay and audit need.

Connect `added`/`discovered` bodies carry every account's full number, and envelopes carry the
consumer id and our own `webhookData`; none of that is needed after the signature is checked. So
the body is cut down to an allow-list before it is written (service/webhooks/README.md lists it):
a field not listed here is dropped, and an account's `number` becomes `numberMasked` ("****1234").
An allow-list rather than a deny-list, so that a field Mastercard adds tomorrow is not kept by default.

A body that is already minimal is stored as its raw bytes (the common case costs nothing); one that
is cut is re-encoded with its numbers' exact text (decoded as Decimal, encoded as JSON numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from service.finicity.models import mask_account_number

# ---- Connect -------------------------------------------------------------------------------------
CONNECT_ENVELOPE_KEYS = frozenset({"customerId", "eventType", "eventId", "payload"})
CONNECT_PAYLOAD_KEYS = frozenset({"institutionId", "institutionLoginId", "oauth", "code", "accounts"})
# What `process_webhook_event` maps into open_banking_accounts (service/sync/mapping.py), and no more.
ACCOUNT_KEYS = frozenset({
    "id", "customerId", "institutionId", "institutionLoginId", "name", "accountNickname", "type", "status",
    "balance", "currency", "balanceDate", "lastUpdatedDate", "aggregationStatusCode", "displayPosition",
    "numberMasked",
})
_NUMBER_KEYS = ("number", "accountNumber", "fullNumber")

# ---- OBWMS ---------------------------------------------------------------------------------------
OBWMS_KEYS = frozenset({
    "eventId", "eventType", "eventName", "event", "eventTime", "customerId", "institutionLoginId", "data",
    "payload",
})
OBWMS_DATA_KEYS = frozenset({
    "customerId", "institutionLoginId", "institutionId", "accountId", "status", "authorizationStartDate",
    "authorizationEndDate", "daysUntilExpiration",
    "refreshId", "mode",  # data-refresh.transaction.status-changed: which refresh, standard or historic
})

_decoder = msgspec.json.Decoder(float_hook=Decimal)
_encoder = msgspec.json.Encoder(decimal_format="number")


def _pick(obj: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k in keys}


def minimal_account(account: Any) -> Any:
    """An account object cut to what processing maps, its number masked; a bare id stays as it is."""
    if isinstance(account, str | int) and not isinstance(account, bool):
        return account
    if not isinstance(account, Mapping):
        return None
    kept = _pick(account, ACCOUNT_KEYS)
    if "numberMasked" not in kept:
        for key in _NUMBER_KEYS:
            if account.get(key) is not None:
                kept["numberMasked"] = mask_account_number(account[key])
                break
    masked = kept.get("numberMasked")
    if masked is not None and (not isinstance(masked, str) or sum(c.isdigit() for c in masked) > 4):
        kept["numberMasked"] = mask_account_number(masked)  # a "mask" showing more than the last four
    return kept


def minimal_connect(envelope: Mapping[str, Any]) -> dict[str, Any]:
    kept = _pick(envelope, CONNECT_ENVELOPE_KEYS)
    inner = kept.get("payload")
    if isinstance(inner, Mapping):
        inner = _pick(inner, CONNECT_PAYLOAD_KEYS)
        if isinstance(inner.get("accounts"), list):
            inner["accounts"] = [a for a in map(minimal_account, inner["accounts"]) if a is not None]
        kept["payload"] = inner
    elif "payload" in kept:
        del kept["payload"]
    return kept


def minimal_obwms(body: Mapping[str, Any]) -> dict[str, Any]:
    kept = _pick(body, OBWMS_KEYS)
    for key in ("data", "payload"):
        if isinstance(kept.get(key), Mapping):
            kept[key] = _pick(kept[key], OBWMS_DATA_KEYS)
        elif key in kept:
            del kept[key]
    return kept


_CUTS = {"connect": minimal_connect, "obwms": minimal_obwms}


def storable(source: str, parsed: Mapping[str, Any], raw: bytes) -> msgspec.Raw:
    """The bytes to store: the raw body when nothing is cut, else the cut body with exact numbers."""
    cut = _CUTS[source]
    if cut(parsed) == parsed:
        return msgspec.Raw(raw)
    # Cut again from an exact reading (the routing parse read numbers as floats).
    return msgspec.Raw(_encoder.encode(cut(_decoder.decode(raw))))
