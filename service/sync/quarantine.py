"""Transaction rows that do not parse, made safe to keep: the quarantine entries `ob_transactions_upsert` stores.

A rejected row is kept whole (an operator must be able to see what the bank sent), but masked first:
every run of 5 or more digits inside a text value becomes `****` + its last four (a transfer memo often
names the full account number), and any value under a key that names a number or an account (other than
the `accountId`/`customerId` ids) is masked whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from service.finicity.models import RejectedTransaction, mask_account_number

_LONG_DIGITS = re.compile(r"\d(?:[\d -]{3,}\d)")
_ID_KEYS = frozenset({"id", "accountId", "customerId"})


def _mask_text(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return match.group(0) if len(digits) < 5 else (mask_account_number(digits) or "****")

    return _LONG_DIGITS.sub(one, text)


def _sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return key not in _ID_KEYS and ("number" in lowered or "account" in lowered)


def mask(value: Any, key: str = "") -> Any:
    """A copy of a decoded JSON value with account numbers masked."""
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if isinstance(value, str):
        return mask_account_number(value) if _sensitive_key(key) else _mask_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and _sensitive_key(key):
        return mask_account_number(value)
    return value


def _read_from(raw: Any, window_start: dt.datetime) -> dt.datetime:
    """Where a sync must start to read the row again: its earliest readable date, else the window's start."""
    dates = [raw.get(k) for k in ("transactionDate", "postedDate")] if isinstance(raw, dict) else []
    epochs = [d for d in dates if isinstance(d, int) and not isinstance(d, bool) and d > 0]
    return min([dt.datetime.fromtimestamp(min(epochs), dt.UTC)] if epochs else [window_start])


def quarantine_entry(row: RejectedTransaction, window_start: dt.datetime) -> dict[str, Any]:
    """{row_key, transaction_id, raw, reason, read_from} for `p_rejected`. `read_from` makes later syncs
    read back far enough to see the row again, so a row that parses then leaves the quarantine."""
    try:
        raw: Any = mask(json.loads(row.raw))
    except ValueError:  # not even JSON: keep its text, masked
        raw = {"unparsed": _mask_text(row.raw.decode("utf-8", errors="replace"))[:2000]}
    if row.id is not None:
        key = str(row.id)
    else:
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
        key = f"sha256:{digest[:32]}"
    return {
        "row_key": key,
        "transaction_id": row.id,
        "raw": raw,
        "reason": _mask_text(row.reason),
        "read_from": _read_from(raw, window_start),
    }
