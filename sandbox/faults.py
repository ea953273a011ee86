"""Fault injection: per endpoint group, with rate, count cap and a seeded RNG."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = {
    "transactions",
    "accounts",
    "auth",
    "customers",
    "connect",
    "subscriptions",
    "statements",
    "statement_details",
    "institutions",
    "refreshes",
    "webhooks",
    "*",
}
HTTP_KINDS = {"429", "500", "503", "latency", "token_expiry"}
WEBHOOK_KINDS = {"webhook_drop", "webhook_duplicate", "webhook_reorder"}
# Per served transaction row (not per call): the row is sent in a shape the spec does not allow.
ROW_KINDS = {"malformed_row"}
# Per transactions page after the first (start > 1): a page that lies. `page_empty` answers no rows before
# `found` is reached; `page_repeat` answers the first page again, whatever `start` asked for.
PAGE_KINDS = {"page_empty", "page_repeat"}
KINDS = HTTP_KINDS | WEBHOOK_KINDS | ROW_KINDS | PAGE_KINDS


@dataclass
class Fault:
    endpoint: str
    kind: str
    rate: float = 1.0
    count: int | None = None
    retry_after: int = 1
    latency_ms: int = 50
    seed: int = 1
    fired: int = 0
    id: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def matches(self, group: str) -> bool:
        if self.kind in WEBHOOK_KINDS:
            return group == "webhooks"
        if self.kind in ROW_KINDS or self.kind in PAGE_KINDS:
            return group == "transactions"
        return self.endpoint in ("*", group)

    def roll(self) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        if self.rng.random() < self.rate:
            self.fired += 1
            return True
        return False

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "kind": self.kind,
            "rate": self.rate,
            "count": self.count,
            "retryAfter": self.retry_after,
            "latencyMs": self.latency_ms,
            "seed": self.seed,
            "fired": self.fired,
        }


def parse_fault(body: dict, fault_id: int) -> Fault:
    kind = str(body.get("kind", ""))
    endpoint = str(body.get("endpoint", "*"))
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}")
    rate = float(body.get("rate", 1.0))
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be within [0, 1]")
    count = body.get("count")
    return Fault(
        endpoint=endpoint,
        kind=kind,
        rate=rate,
        count=int(count) if count is not None else None,
        retry_after=int(body.get("retryAfter", 1)),
        latency_ms=int(body.get("latencyMs", 50)),
        seed=int(body.get("seed", 1)),
        id=fault_id,
    )


# What a bank's odd row looks like: a null status, an amount that is not a number, a date that is
# not epoch seconds. Each also names the full account number in its memo, as transfer memos do.
_MALFORMATIONS: list[dict[str, Any]] = [
    {"status": None},
    {"amount": "1,234.56"},
    {"transactionDate": "2026-01-31"},
]


def corrupt_rows(state: Any, customer: Any, items: list[bytes]) -> list[bytes]:
    """Serve some rows malformed, as the `malformed_row` faults say (each row rolls each fault)."""
    faults = [f for f in state.faults if f.kind in ROW_KINDS]
    if not faults:
        return items
    out = []
    for item in items:
        fault = next((f for f in faults if f.roll()), None)
        if fault is None:
            out.append(item)
            continue
        row = json.loads(item)
        account = customer.accounts.get(str(row.get("accountId")))
        number = account.number if account is not None else "000000000000"
        row.update(_MALFORMATIONS[(fault.fired - 1) % len(_MALFORMATIONS)])
        row["memo"] = f"TRANSFER FROM ACCT {number}"
        out.append(json.dumps(row, separators=(",", ":")).encode())
    return out


def fire(faults: list[Fault], group: str, kinds: set[str]) -> list[Fault]:
    """The faults of the given kinds that fire for one call of `group` (each rolls its own dice)."""
    return [f for f in faults if f.kind in kinds and f.matches(group) and f.roll()]
