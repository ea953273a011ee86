"""sync_customer: accounts and today's balance snapshot, then every account's transactions.

Webhooks are doorbells; the API is the truth. Each page of up to 1,000 transactions is one RPC
(one transaction in Postgres). The next page is fetched while the previous one is written, so
the network and the database work at the same time, and at most two pages are held in memory.
After an account's whole window was read (the pager raises instead of handing over a partial read),
rows in that window the bank no longer has (a pending row that posted under a new id, a shadow row)
are removed: only rows whose transaction and posted dates both lie in the window, since the API may
filter on either. A row that does not parse goes to the quarantine; the rest of its page is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from service.jobs.types import Job, PermanentJobError
from service.sync.mapping import map_account, map_transaction, sync_window, to_epoch
from service.sync.quarantine import quarantine_entry

if TYPE_CHECKING:
    from service.finicity.models import TransactionPage
    from service.runtime import Services

log = structlog.get_logger(__name__)

ProgressHook = Callable[[str, int, int], None]  # account id, rows read so far, rows found
# How far past "now" the window reaches, so rows dated a little ahead (time zones) are included.
WINDOW_LEAD = dt.timedelta(days=1)
ACCOUNT_LANES = 2


@dataclass
class SyncResult:
    accounts: int = 0
    transactions: int = 0
    written: int = 0
    removed: int = 0
    pages: int = 0
    quarantined: int = 0  # rows that did not parse, kept in private.ob_transaction_quarantine
    accounts_removed: int = 0
    per_account: dict[str, int] = field(default_factory=dict)


def _parse_ts(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


async def resolve_customer(services: Services, payload: dict[str, Any]) -> dict[str, Any] | None:
    if payload.get("finicity_customer_id"):
        return await services.rpc.call("ob_customer_get", {"p_finicity_customer_id": payload["finicity_customer_id"]})
    if payload.get("platform_client_id"):
        return await services.rpc.call(
            "ob_customer_get", {"p_platform_client_id": uuid.UUID(payload["platform_client_id"])}
        )
    return None


async def sync_customer_job(services: Services, job: Job) -> None:
    request_id = job.payload.get("sync_request_id")
    customer = await resolve_customer(services, job.payload)
    if not customer or not customer.get("finicity_customer_id"):
        if request_id:
            await services.rpc.call(
                "ob_sync_request_update",
                {
                    "p_id": request_id,
                    "p_status": "failed",
                    "p_error_message": "This client has not linked a bank account yet.",
                },
            )
            return
        raise PermanentJobError("no linked Finicity customer for this job")
    if request_id:
        await services.rpc.call("ob_sync_request_update", {"p_id": request_id, "p_status": "running"})
    try:
        result = await sync_customer(services, customer["finicity_customer_id"], heartbeat=job.heartbeat)
    except Exception as exc:
        last_attempt = job.attempts >= job.max_attempts
        reason = getattr(exc, "reason", None) or "The refresh failed; it will be retried."
        await services.rpc.call(
            "ob_customer_sync_finished", {"p_finicity_customer_id": customer["finicity_customer_id"], "p_error": reason}
        )
        if request_id and last_attempt:
            await services.rpc.call(
                "ob_sync_request_update", {"p_id": request_id, "p_status": "failed", "p_error_message": reason}
            )
        raise
    if request_id:
        await services.rpc.call(
            "ob_sync_request_update",
            {
                "p_id": request_id,
                "p_status": "succeeded",
                "p_accounts": result.accounts,
                "p_transactions": result.transactions,
            },
        )


async def sync_customer(
    services: Services,
    finicity_customer_id: str,
    *,
    heartbeat: Callable[[], Any] | None = None,
    progress: ProgressHook | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> SyncResult:
    rpc, finicity, settings = services.rpc, services.finicity, services.settings
    started = time.monotonic()
    run_started_at = clock()
    result = SyncResult()

    accounts = await finicity.list_accounts(finicity_customer_id)
    await rpc.call(
        "ob_accounts_upsert",
        {
            "p_finicity_customer_id": finicity_customer_id,
            "p_accounts": [map_account(a) for a in accounts],
            "p_fetched_at": clock(),
        },
    )
    result.accounts = len(accounts)
    services.metrics.sync_rows.labels(table="accounts").inc(len(accounts))

    cursors = {
        c["account_id"]: c
        for c in await rpc.call(
            "ob_sync_cursor",
            {"p_finicity_customer_id": finicity_customer_id, "p_overlap_days": settings.open_banking_overlap_days},
        )
    }
    gone = sorted(set(cursors) - {a.id for a in accounts})
    if gone:
        deleted = await rpc.call(
            "ob_accounts_delete", {"p_finicity_customer_id": finicity_customer_id, "p_account_ids": gone}
        )
        result.accounts_removed = deleted["deleted"]

    # Two accounts at a time: the database writes one page while the other account's is parsed.
    lanes = asyncio.Semaphore(ACCOUNT_LANES)

    async def one_account(account_id: str) -> None:
        async with lanes:
            cursor = cursors.get(account_id, {})
            window_start, now = sync_window(
                run_started_at,
                last_posted_at=_parse_ts(cursor.get("last_posted_at")),
                oldest_pending_at=_parse_ts(cursor.get("oldest_pending_at")),
                earliest_recent_at=_parse_ts(cursor.get("earliest_recent_at")),
                quarantined_from=_parse_ts(cursor.get("quarantined_from")),
                backfill_months=settings.open_banking_backfill_months,
                overlap_days=settings.open_banking_overlap_days,
            )
            window_end = now + WINDOW_LEAD
            read = await _sync_account(
                services, finicity_customer_id, account_id, window_start, window_end, result, heartbeat, progress, clock
            )
            reconciled = await rpc.call(
                "ob_transactions_reconcile",
                {
                    "p_account_id": account_id,
                    "p_from": window_start,
                    "p_to": window_end,
                    "p_run_started_at": run_started_at,
                },
            )
            result.removed += reconciled["removed"]
            result.per_account[account_id] = read
            result.transactions += read

    try:
        async with asyncio.TaskGroup() as group:
            for account in accounts:
                group.create_task(one_account(account.id))
    except ExceptionGroup as failed:
        # The first account's error as itself (typed, with its `reason`), not wrapped in a group.
        raise failed.exceptions[0] from None

    await rpc.call("ob_customer_sync_finished", {"p_finicity_customer_id": finicity_customer_id})
    if accounts:
        # Accounts read from the API prove the link works, even if Connect's `done` webhook was lost.
        await rpc.call(
            "ob_customer_set_link_status",
            {"p_finicity_customer_id": finicity_customer_id, "p_status": "linked", "p_event_at": run_started_at},
        )
    services.metrics.sync_duration.observe(time.monotonic() - started)
    services.metrics.sync_rows.labels(table="transactions").inc(result.written)
    log.info(
        "sync.finished",
        finicity_customer_id=finicity_customer_id,
        accounts=result.accounts,
        rows=result.transactions,
        written=result.written,
        removed=result.removed,
        quarantined=result.quarantined,
        pages=result.pages,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    return result


async def _sync_account(
    services: Services,
    finicity_customer_id: str,
    account_id: str,
    start: dt.datetime,
    end: dt.datetime,
    result: SyncResult,
    heartbeat: Callable[[], Any] | None,
    progress: ProgressHook | None,
    clock: Callable[[], dt.datetime],
) -> int:
    # Fetch (producer) and write (consumer) overlap; the queue bound keeps memory flat.
    pages: asyncio.Queue[tuple[TransactionPage, dt.datetime] | None] = asyncio.Queue(maxsize=1)

    async def fetch() -> None:
        try:
            async for page in services.finicity.iter_account_transaction_pages(
                finicity_customer_id, account_id, to_epoch(start), to_epoch(end)
            ):
                await pages.put((page, clock()))
        finally:
            await pages.put(None)

    producer = asyncio.create_task(fetch())
    read = 0
    try:
        while (item := await pages.get()) is not None:
            page, fetched_at = item
            rows = [map_transaction(t) for t in page.transactions]
            args: dict[str, Any] = {"p_account_id": account_id, "p_transactions": rows, "p_fetched_at": fetched_at}
            if page.rejected:
                # Rows that do not parse are kept (masked) in the quarantine; the rest of the page is written.
                args["p_rejected"] = [quarantine_entry(r, start) for r in page.rejected]
                result.quarantined += len(page.rejected)
                services.metrics.transactions_quarantined.inc(len(page.rejected))
                log.warning(
                    "sync.rows_quarantined",
                    account_id=account_id,
                    rows=len(page.rejected),
                    reasons=sorted({r.reason for r in page.rejected})[:3],
                )
            written = await services.rpc.call("ob_transactions_upsert", args)
            read += len(rows)
            result.pages += 1
            result.written += written["written"]
            if progress:
                progress(account_id, read, page.found)
            if heartbeat:
                await heartbeat()
        await producer  # re-raises a fetch error: the window was not read whole, so no reconcile
    finally:
        if not producer.done():
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
    return read
