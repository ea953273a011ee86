"""Bank statements: which months a request means, and buying each one at most once.

The period rule (see the README, "Documents"):
- A statement belongs to the calendar month its period ends in (`statement_month`, the first day of
  that month). One account has at most one statement per month; that row is the "already held" test.
- `last_n = N` means the months 1..N before the request's month (UTC), newest first: index i at
  Mastercard ("1 = most recent, counting back by month") is the month i months before the request.
  Named months (`statement_months`) map to indexes the same way; Mastercard offers indexes 1-24.
- The period itself comes from the statement details (`description`, "MM/DD/YYYY - MM/DD/YYYY"); where
  only the PDF exists (details without an asset id), the PDF is fetched by index
  (GetCustomerAccountStatement) and its period is the whole calendar month of that index.
Held months are skipped before any call: a request for statements already held makes no Mastercard
call at all. Otherwise one details call per account (not billable), then one asset download per
missing statement (billable), each stored and recorded before the next.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from service.finicity.errors import BadRequest, NotFound
from service.finicity.models import StatementDetail

if TYPE_CHECKING:
    from service.documents.storage import DocumentStore
    from service.runtime import Services

log = structlog.get_logger(__name__)

MAX_INDEX = 24
NOT_CERTIFIED = "Statements are not available for this account: its bank is not certified for statements at Mastercard"


@dataclass(frozen=True)
class Outcome:
    ready: int = 0
    failed: int = 0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(self.ready + other.ready, self.failed + other.failed)


def month_start(day: date) -> date:
    return day.replace(day=1)


def months_back(month: date, count: int) -> date:
    for _ in range(count):
        month = (month - timedelta(days=1)).replace(day=1)
    return month


def wanted_months(request: dict[str, Any]) -> list[date]:
    """The statement months a request asks for, newest first."""
    if request.get("last_n"):
        base = month_start(_request_day(request))
        return [months_back(base, i) for i in range(1, int(request["last_n"]) + 1)]
    months = {month_start(date.fromisoformat(str(m))) for m in request.get("statement_months") or []}
    return sorted(months, reverse=True)


def index_of(month: date, request: dict[str, Any]) -> int:
    """Mastercard's statement index for `month`, counted from the request's month (0 or less: not yet)."""
    base = month_start(_request_day(request))
    return (base.year - month.year) * 12 + base.month - month.month


def _request_day(request: dict[str, Any]) -> date:
    return datetime.fromisoformat(str(request["created_at"])).astimezone(UTC).date()


def period_of(detail: StatementDetail, month: date) -> tuple[date, date]:
    """The statement's period from its details, else the calendar month."""
    if detail.description and " - " in detail.description:
        start, _, end = detail.description.partition(" - ")
        try:
            return datetime.strptime(start.strip(), "%m/%d/%Y").date(), datetime.strptime(
                end.strip(), "%m/%d/%Y"
            ).date()
        except ValueError:
            pass
    return month, _month_end(month)


def _month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def statement_path(platform_client_id: str, account_id: str, month: date) -> str:
    return f"{platform_client_id}/statements/{account_id}/{month:%Y-%m}.pdf"


async def produce_statements(services: Services, store: DocumentStore, request: dict[str, Any]) -> Outcome:
    finicity_customer_id = request.get("finicity_customer_id")
    held = {(h["account_id"], date.fromisoformat(h["statement_month"])) for h in request.get("held") or []}
    months = wanted_months(request)
    outcome = Outcome()
    for account in request.get("accounts") or []:
        missing = [m for m in months if (account["id"], m) not in held]
        outcome += Outcome(ready=len(months) - len(missing))
        if not missing:
            continue
        if not finicity_customer_id:
            outcome += await _fail_all(services, request, account, missing, "The client has no bank link")
            continue
        outcome += await _account_statements(services, store, request, account, missing, held)
    return outcome


async def _account_statements(
    services: Services,
    store: DocumentStore,
    request: dict[str, Any],
    account: dict[str, Any],
    missing: list[date],
    held: set[tuple[str, date]],
) -> Outcome:
    outcome = Outcome()
    by_index: dict[int, date] = {}
    for month in missing:
        index = index_of(month, request)
        if 1 <= index <= MAX_INDEX:
            by_index[index] = month
        else:
            why = (
                "Mastercard offers the last 24 monthly statements only"
                if index > 0
                else "That month has no statement yet"
            )
            outcome += await _record_failure(services, request, account, month, why)
    if not by_index:
        return outcome
    customer = str(request["finicity_customer_id"])
    try:
        details = await services.finicity.get_statement_details(customer, account["id"], sorted(by_index))
    except NotFound:
        return outcome + await _fail_all(services, request, account, list(by_index.values()), NOT_CERTIFIED)
    except BadRequest as exc:
        return outcome + await _fail_all(services, request, account, list(by_index.values()), exc.reason)
    for detail in details:
        requested = by_index.get(detail.index)
        if requested is None:
            continue
        if not detail.id and (detail.code or detail.message):
            why = f"No statement from the bank for this month ({detail.message or detail.code})"
            outcome += await _record_failure(services, request, account, requested, why)
            continue
        if detail.id:
            start, end = period_of(detail, requested)
            month = month_start(end)
            if (account["id"], month) in held:  # the bank's cycle put it in a month we already hold
                outcome += Outcome(ready=1)
                continue
            pdf = await services.finicity.get_asset(customer, detail.id)
        else:
            # Only the PDF exists (no asset in the details): fetch it by index; its period is the
            # calendar month of that index at request time.
            start, end = period_of(detail, requested)
            month = requested
            pdf = await services.finicity.get_statement(customer, account["id"], detail.index)
        path = statement_path(request["platform_client_id"], account["id"], month)
        await store.put(path, pdf, "application/pdf")
        await services.rpc.call(
            "ob_document_record",
            {
                "p_document": {
                    "platform_client_id": request["platform_client_id"],
                    "request_id": request["id"],
                    "account_id": account["id"],
                    "kind": "statement",
                    "format": "pdf",
                    "statement_month": month.isoformat(),
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                    "status": "ready",
                    "storage_path": path,
                    "size_bytes": len(pdf),
                    "sha256": hashlib.sha256(pdf).hexdigest(),
                }
            },
        )
        held.add((account["id"], month))
        log.info("documents.statement_stored", account_id=account["id"], month=f"{month:%Y-%m}", size=len(pdf))
        outcome += Outcome(ready=1)
    return outcome


async def _record_failure(
    services: Services, request: dict[str, Any], account: dict[str, Any], month: date, reason: str
) -> Outcome:
    await services.rpc.call(
        "ob_document_record",
        {
            "p_document": {
                "platform_client_id": request["platform_client_id"],
                "request_id": request["id"],
                "account_id": account["id"],
                "kind": "statement",
                "format": "pdf",
                "statement_month": month.isoformat(),
                "status": "failed",
                "error_message": reason,
            }
        },
    )
    return Outcome(failed=1)


async def _fail_all(
    services: Services, request: dict[str, Any], account: dict[str, Any], months: list[date], reason: str
) -> Outcome:
    outcome = Outcome()
    for month in months:
        outcome += await _record_failure(services, request, account, month, reason)
    return outcome
