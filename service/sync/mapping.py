"""Pure mappers from Mastercard's shapes to the rows our RPC functions take.

Money stays Decimal, times become timezone-aware UTC datetimes, full account numbers never
leave the client model (only the masked form is mapped), and Finicity's transaction statuses
become ours: `active` → posted, `pending` → pending, `shadow` → shadow (removed, never stored).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from service.finicity.models import CustomerAccount, Transaction

UTC = dt.UTC


def customer_username(platform_client_id: uuid.UUID) -> str:
    """Deterministic, so a retried create finds the customer it made instead of making another
    (Finicity rule: 6-255 chars of letters, digits and a few symbols, unique per partner)."""
    return f"cpa-{platform_client_id.hex}"


def from_epoch(value: int | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(int(value), tz=UTC)


def to_epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


def map_account(account: CustomerAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "institution_login_id": account.institution_login_id,
        "institution_id": account.institution_id,
        "name": account.name or account.account_nickname,
        "type": account.type,
        "status": account.status,
        "number_masked": account.number_masked,
        "currency": account.currency or "USD",
        "balance": account.balance,
        "balance_date": from_epoch(account.balance_date),
        "last_updated_at": from_epoch(account.last_updated_date),
        "aggregation_status_code": account.aggregation_status_code,
        "display_position": account.display_position,
    }


_STATUS = {"active": "posted", "posted": "posted", "pending": "pending", "shadow": "shadow"}


def map_transaction_status(status: str) -> str:
    return _STATUS.get(status.lower(), "posted")


def map_transaction(tx: Transaction) -> dict[str, Any]:
    status = map_transaction_status(tx.status)
    categorization = tx.categorization
    return {
        "id": tx.id,
        "unique_transaction_id": tx.unique_transaction_id,
        "amount": tx.amount,
        "description": tx.description,
        "memo": tx.memo,
        "status": status,
        "transaction_at": from_epoch(tx.transaction_date),
        "posted_at": from_epoch(tx.posted_date) if status == "posted" else None,
        "category": categorization.category if categorization else None,
        "payee": categorization.normalized_payee_name if categorization else None,
        "check_number": tx.check_num,
        "type": tx.type,
    }


def sync_window(
    now: dt.datetime,
    *,
    last_posted_at: dt.datetime | None,
    oldest_pending_at: dt.datetime | None,
    backfill_months: int,
    overlap_days: int,
    earliest_recent_at: dt.datetime | None = None,
    quarantined_from: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """[from, to] for one account: a full backfill first, then from the last posted date minus an overlap
    (late-posting rows), or from the oldest pending row, or from the earliest transaction date of a row
    posted within the overlap, whichever is earliest. So every row that may still change (a pending row
    posting under a new id, a recent row turning shadow) has both its dates inside a window that is
    reconciled, whichever date the API filters on. The backfill reaches one overlap further back than
    `backfill_months`, so rows posted inside the history but transacted just before it are read too.
    While rows of the account are quarantined, the window also reaches back to them, so a row that
    parses now is read again and leaves the quarantine."""
    overlap = dt.timedelta(days=overlap_days)
    backfill_start = now - dt.timedelta(days=round(backfill_months * 30.44)) - overlap
    if last_posted_at is None:
        start = backfill_start
    else:
        start = last_posted_at - overlap
        for earlier in (oldest_pending_at, earliest_recent_at, quarantined_from):
            if earlier is not None:
                start = min(start, earlier)
        start = max(start, backfill_start)
    return start, now
