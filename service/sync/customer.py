"""sync_customer: accounts and today's balance snapshot, then every account's transactions.

Webhooks are doorbells; the API is the truth. Each page of up to 1,000 transactions is one RPC
(one transaction in Postgres). The next page is fetched while the previous one is written, so
the network and the database work at the same time, and at most two pages are held in memory.
After an account's whole window was read (the pager raises instead of handing over a partial read),
rows in that window the bank no longer has (a pending row that posted under a new id, a shadow row)
are removed: only rows whose transaction and posted dates both lie in the window, since the API may
filter on either. A row that does not parse goes to the quarantine; the rest of its page is written.

Two ways to read transactions, same result: an incremental sync (every account synced before, and
the accounts' windows together spanning at most OPEN_BANKING_CUSTOMER_WINDOW_DAYS) reads the union
window once with the customer-level call (v3: all accounts, paged) and writes each page split by
account; a backfill, a new account or a long historic window reads each account on its own (v4).
So a daily sync with little new costs two Mastercard calls (accounts, one transactions page), not
one per account, and its writes are a few RPCs whatever the number of accounts (accounts, cursor, one
per page, one reconcile, one to finish).
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
from service.sync.refresh import start_requested_refresh

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
    finicity_customer_id = customer["finicity_customer_id"]
    if (
        request_id
        and not job.payload.get("refreshed")
        and await start_requested_refresh(services, finicity_customer_id, request_id)
    ):
        return  # follow_refresh settles the row and queues the sync (payload `refreshed`)
    if request_id:
        await services.rpc.call("ob_sync_request_update", {"p_id": request_id, "p_status": "running"})
    # Logins whose historic load completed: their older window is read too (several when syncs were folded).
    history_logins = frozenset(int(login) for login in job.payload.get("history_login_ids") or ())
    try:
        result = await sync_customer(
            services, finicity_customer_id, heartbeat=job.heartbeat, full_history_logins=history_logins
        )
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
    full_history_logins: frozenset[int] = frozenset(),
) -> SyncResult:
    """`full_history_logins`: logins whose historic load just completed; their accounts are read over the
    whole backfill window (the older months were not there before)."""
    rpc, finicity, settings = services.rpc, services.finicity, services.settings
    started = time.monotonic()
    run_started_at = clock()
    result = SyncResult()

    accounts = await finicity.list_accounts(finicity_customer_id)
    written = await rpc.call(
        "ob_accounts_upsert",
        {
            "p_finicity_customer_id": finicity_customer_id,
            "p_accounts": [map_account(a) for a in accounts],
            "p_fetched_at": clock(),
        },
    )
    # Listed just before a CPA's disconnect or removal finished: not stored, and not read further.
    removed = set(written.get("removed_at_mastercard") or ())
    accounts = [a for a in accounts if a.id not in removed]
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
    # Accounts the CPA excluded from syncing (open_banking_account_requests): no transaction calls.
    excluded = {account_id for account_id, c in cursors.items() if c.get("sync_excluded")}
    if gone:
        deleted = await rpc.call(
            "ob_accounts_delete", {"p_finicity_customer_id": finicity_customer_id, "p_account_ids": gone}
        )
        result.accounts_removed = deleted["deleted"]

    windows: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for account in accounts:
        if account.id in excluded:
            continue
        # A login whose historic load just completed: its accounts are read over the whole backfill window.
        cursor = {} if account.institution_login_id in full_history_logins else cursors.get(account.id, {})
        window_start, now = sync_window(
            run_started_at,
            last_posted_at=_parse_ts(cursor.get("last_posted_at")),
            oldest_pending_at=_parse_ts(cursor.get("oldest_pending_at")),
            earliest_recent_at=_parse_ts(cursor.get("earliest_recent_at")),
            quarantined_from=_parse_ts(cursor.get("quarantined_from")),
            backfill_months=settings.open_banking_backfill_months,
            overlap_days=settings.open_banking_overlap_days,
        )
        windows[account.id] = (window_start, now + WINDOW_LEAD)

    async def reconcile(account_id: str, window: tuple[dt.datetime, dt.datetime], read: int) -> None:
        reconciled = await rpc.call(
            "ob_transactions_reconcile",
            {"p_account_id": account_id, "p_from": window[0], "p_to": window[1], "p_run_started_at": run_started_at},
        )
        result.removed += reconciled["removed"]
        result.per_account[account_id] = read
        result.transactions += read

    # A customer-level read would fetch an excluded account's transactions too: read per account then.
    union = None if excluded & {a.id for a in accounts} else _customer_window(
        windows, cursors, settings.open_banking_customer_window_days
    )
    if union is not None:
        try:
            per_account = await _sync_customer_window(
                services, finicity_customer_id, set(windows), union, result, heartbeat, progress, clock
            )
        except _Unattributable:
            union = None  # a row we cannot place: read per account instead (what was written stays)
        else:
            # Every account's rows in the union window were read, so each is reconciled over all of it (one
            # round trip for all of them).
            reconciled = await rpc.call(
                "ob_transactions_reconcile_accounts",
                {"p_account_ids": sorted(windows), "p_from": union[0], "p_to": union[1],
                 "p_run_started_at": run_started_at},
            )
            result.removed += reconciled["removed"]
            for account_id in windows:
                result.per_account[account_id] = per_account.get(account_id, 0)
                result.transactions += per_account.get(account_id, 0)
    if union is None:
        # Two accounts at a time: the database writes one page while the other account's is parsed.
        lanes = asyncio.Semaphore(ACCOUNT_LANES)

        async def one_account(account_id: str) -> None:
            async with lanes:
                window = windows[account_id]
                read = await _sync_account(
                    services, finicity_customer_id, account_id, window[0], window[1], result, heartbeat, progress,
                    clock,
                )
                await reconcile(account_id, window, read)

        try:
            async with asyncio.TaskGroup() as group:
                for account in accounts:
                    if account.id in windows:  # not excluded
                        group.create_task(one_account(account.id))
        except ExceptionGroup as failed:
            # The first account's error as itself (typed, with its `reason`), not wrapped in a group.
            raise failed.exceptions[0] from None

    # One round trip: the sync's time, each login's oldest transaction held and one historic load queued per
    # login that has none yet, and (accounts read from the API prove the link works, even if Connect's `done`
    # webhook was lost) the link status.
    await rpc.call(
        "ob_customer_sync_done",
        {"p_finicity_customer_id": finicity_customer_id, "p_linked_at": run_started_at if accounts else None},
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


class _Unattributable(Exception):
    """A customer-level page holds a row that does not parse and names no account of ours."""


def _customer_window(
    windows: dict[str, tuple[dt.datetime, dt.datetime]], cursors: dict[str, Any], max_days: int
) -> tuple[dt.datetime, dt.datetime] | None:
    """The union of the accounts' windows, when one customer-level read is the cheaper way: every
    account was synced before (a backfill or a new account reads per account, in full) and the
    union is short enough that re-reading the other accounts' overlap costs less than a call each."""
    if max_days == 0 or len(windows) < 2 or any(
        cursors.get(account_id, {}).get("last_posted_at") is None for account_id in windows
    ):
        return None
    start = min(w[0] for w in windows.values())
    end = max(w[1] for w in windows.values())
    if end - start > dt.timedelta(days=max_days):
        return None
    return start, end


async def _sync_customer_window(
    services: Services,
    finicity_customer_id: str,
    account_ids: set[str],
    window: tuple[dt.datetime, dt.datetime],
    result: SyncResult,
    heartbeat: Callable[[], Any] | None,
    progress: ProgressHook | None,
    clock: Callable[[], dt.datetime],
) -> dict[str, int]:
    """One paged customer-level read of the window; each page is written split by account, in one RPC
    (each account's rows with its quarantined rows). Rows of accounts the account list did not return
    are not ours to keep (the list is the truth) and are skipped."""
    pages: asyncio.Queue[tuple[TransactionPage, dt.datetime] | None] = asyncio.Queue(maxsize=1)

    async def fetch() -> None:
        try:
            async for page in services.finicity.iter_customer_transaction_pages(
                finicity_customer_id, to_epoch(window[0]), to_epoch(window[1])
            ):
                await pages.put((page, clock()))
        finally:
            await pages.put(None)

    producer = asyncio.create_task(fetch())
    read: dict[str, int] = {}
    try:
        while (item := await pages.get()) is not None:
            page, fetched_at = item
            rows: dict[str, list[dict[str, Any]]] = {}
            rejected: dict[str, list[dict[str, Any]]] = {}
            for tx in page.transactions:
                if str(tx.account_id) in account_ids:
                    rows.setdefault(str(tx.account_id), []).append(map_transaction(tx))
            for bad in page.rejected:
                if str(bad.account_id) not in account_ids:
                    raise _Unattributable(bad.reason)
                rejected.setdefault(str(bad.account_id), []).append(quarantine_entry(bad, window[0]))
            shares: list[dict[str, Any]] = []
            for account_id in sorted(rows.keys() | rejected.keys()):
                share: dict[str, Any] = {"account_id": account_id, "transactions": rows.get(account_id, [])}
                if account_id in rejected:
                    share["rejected"] = rejected[account_id]
                    result.quarantined += len(rejected[account_id])
                    services.metrics.transactions_quarantined.inc(len(rejected[account_id]))
                    log.warning("sync.rows_quarantined", account_id=account_id, rows=len(rejected[account_id]))
                shares.append(share)
            if shares:
                written = await services.rpc.call(
                    "ob_transactions_upsert_accounts", {"p_accounts": shares, "p_fetched_at": fetched_at})
                result.written += sum(w["written"] for w in written.values())
            for share in shares:
                account_id = share["account_id"]
                read[account_id] = read.get(account_id, 0) + len(share["transactions"])
                if progress:
                    progress(account_id, read[account_id], read[account_id])
            result.pages += 1
            if heartbeat:
                await heartbeat()
        await producer  # re-raises a fetch error: the window was not read whole, so no reconcile
    finally:
        if not producer.done():
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
    return read


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
