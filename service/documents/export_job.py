"""Exports from the database's transactions: CSV (one file for the request's accounts), OFX and QBO
(one file per account). Each file's count and total are recorded with it, so they can be checked
against the database for the same range."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from service.documents.exports import (
    ExportAccount,
    ExportTransaction,
    UnsupportedAccount,
    client_amount,
    write_csv,
    write_ofx,
    write_qbo,
)
from service.documents.statements import Outcome

if TYPE_CHECKING:
    from service.documents.storage import DocumentStore
    from service.runtime import Services

log = structlog.get_logger(__name__)

CONTENT_TYPES = {"csv": "text/csv", "ofx": "application/x-ofx", "qbo": "application/vnd.intu.qbo"}


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)).astimezone(UTC) if value else None


def _account(row: dict[str, Any]) -> ExportAccount:
    return ExportAccount(
        id=row["id"],
        name=row.get("name"),
        type=row.get("type"),
        currency=row.get("currency") or "USD",
        institution_id=row.get("institution_id"),
        balance=Decimal(str(row["balance"])) if row.get("balance") is not None else None,
        balance_date=_when(row.get("balance_date")),
    )


def _transaction(row: dict[str, Any]) -> ExportTransaction:
    effective = _when(row["effective_at"])
    assert effective is not None
    return ExportTransaction(
        id=int(row["id"]),
        account_id=row["account_id"],
        amount=Decimal(row["amount"]),
        status=row["status"],
        effective_at=effective,
        description=row.get("description"),
        memo=row.get("memo"),
        payee=row.get("payee"),
        category=row.get("category"),
        check_number=row.get("check_number"),
        type=row.get("type"),
        posted_at=_when(row.get("posted_at")),
        transaction_at=_when(row.get("transaction_at")),
    )


def export_path(platform_client_id: str, request_id: str, name: str, fmt: str) -> str:
    return f"{platform_client_id}/exports/{request_id}/{name}.{fmt}"


async def produce_exports(services: Services, store: DocumentStore, request: dict[str, Any]) -> Outcome:
    start, end = date.fromisoformat(request["from_date"]), date.fromisoformat(request["to_date"])
    accounts = [_account(a) for a in request.get("accounts") or []]
    rows: dict[str, list[ExportTransaction]] = {}
    for acct in accounts:
        found = await services.rpc.call(
            "ob_export_transactions",
            {"p_account_id": acct.id, "p_from": start, "p_to": end, "p_include_pending": request["include_pending"]},
        )
        rows[acct.id] = [_transaction(r) for r in found or []]
    generated_at = _when(request.get("created_at")) or datetime.now(UTC)
    outcome = Outcome()
    for fmt in request["formats"]:
        if fmt == "csv":
            every = sorted((t for acct in accounts for t in rows[acct.id]), key=lambda t: (t.effective_at, t.id))
            data = write_csv(accounts, every)
            outcome += await _store(services, store, request, fmt, None, "transactions", data, every, accounts)
            continue
        for acct in accounts:
            try:
                writer = write_ofx if fmt == "ofx" else write_qbo
                data = writer(acct, rows[acct.id], start, end, generated_at)
            except UnsupportedAccount as exc:
                outcome += await _record(
                    services, request, fmt, acct.id, {"status": "failed", "error_message": str(exc)}
                )
                continue
            outcome += await _store(services, store, request, fmt, acct.id, acct.id, data, rows[acct.id], [acct])
    return outcome


async def _store(
    services: Services,
    store: DocumentStore,
    request: dict[str, Any],
    fmt: str,
    account_id: str | None,
    name: str,
    data: bytes,
    rows: list[ExportTransaction],
    accounts: list[ExportAccount],
) -> Outcome:
    path = export_path(request["platform_client_id"], request["id"], name, fmt)
    await store.put(path, data, CONTENT_TYPES[fmt])
    types = {a.id: a.type for a in accounts}
    total = sum((client_amount(t.amount, types[t.account_id]) for t in rows), Decimal(0))
    fields = {
        "status": "ready",
        "storage_path": path,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "transaction_count": len(rows),
        "total_amount": str(total),
    }
    log.info("documents.export_stored", format=fmt, transactions=len(rows), size=len(data))
    return await _record(services, request, fmt, account_id, fields)


async def _record(
    services: Services, request: dict[str, Any], fmt: str, account_id: str | None, fields: dict[str, Any]
) -> Outcome:
    document = {
        "platform_client_id": request["platform_client_id"],
        "request_id": request["id"],
        "account_id": account_id,
        "kind": "export",
        "format": fmt,
        "period_start": request["from_date"],
        "period_end": request["to_date"],
        **fields,
    }
    await services.rpc.call("ob_document_record", {"p_document": document})
    return Outcome(ready=1) if fields["status"] == "ready" else Outcome(failed=1)
