"""Refreshes at Mastercard (refreshTransactions), started only where the spec allows and followed to the end.

Mastercard forbids automating refresh calls (it refreshes active accounts daily), so exactly two paths
start one, and no schedule does:
- a CPA's "refresh now" (a sync request row): a `standard` refresh of the client's accounts; the row shows
  `refreshing`, then the sync runs and the row ends `succeeded` (or `failed` with the reason);
- one `historic` load per new institution login, after its first sync (standard aggregation only holds
  180 days before each account was added): the login's `history_status` goes loading → complete (then
  the older window is synced) or failed (the 180 days stay).

A refresh is followed by the `follow_refresh` job: getTransactionRefreshStatus, and while it is not final
it waits a doubling delay (short waits inside the job, longer ones as a queued successor job). The OBWMS event
`data-refresh.transaction.status-changed` queues one extra immediate check. Settling is once per refresh
(ob_institution_login_history_settle / ob_sync_request_refresh_settle only act on a row still waiting).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import structlog

from service.finicity.errors import FinicityError, RateLimited, ServerError, TransportError
from service.jobs.types import Job, PermanentJobError

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)

TRANSIENT = (RateLimited, ServerError, TransportError)
# Polls due within a few seconds wait inside the job (bounded); longer ones become a queued successor.
INLINE_WAIT_MAX = 5.0
INLINE_BUDGET = 30.0
HISTORY = "history"
SYNC_REQUEST = "sync_request"


async def start_requested_refresh(services: Services, finicity_customer_id: str, sync_request_id: str) -> bool:
    """A person asked: start a standard refresh of the client's accounts. False when there is nothing to
    refresh (no accounts yet) or Mastercard refused it outright: the sync then runs on what it holds."""
    cursors = await services.rpc.call("ob_sync_cursor", {"p_finicity_customer_id": finicity_customer_id})
    account_ids = sorted(str(c["account_id"]) for c in cursors or [])
    if not account_ids:
        return False
    try:
        refresh = await services.finicity.refresh_transactions(
            finicity_customer_id, "standard", account_ids=account_ids
        )
    except TRANSIENT:
        raise
    except FinicityError as exc:
        log.warning("refresh.refused", finicity_customer_id=finicity_customer_id, finicity_code=exc.code)
        return False
    row = await services.rpc.call(
        "ob_sync_request_refreshing", {"p_id": sync_request_id, "p_refresh_id": refresh.refresh_id}
    )
    if row is None:
        log.info("refresh.request_moved_on", sync_request_id=sync_request_id)
    await _follow(services, finicity_customer_id, refresh.refresh_id, SYNC_REQUEST, polls=0, now=True)
    log.info("refresh.started", finicity_customer_id=finicity_customer_id, mode="standard", accounts=len(account_ids))
    return True


class HistoryLoadStarting(Exception):
    """Retryable: the login's historic load is being started by another attempt."""


async def load_history_job(services: Services, job: Job) -> None:
    """One historic load for one institution login (queued by ob_institution_logins_after_sync)."""
    login_id = job.payload.get("institution_login_id")
    finicity_customer_id = job.payload.get("finicity_customer_id")
    if not login_id or not finicity_customer_id:
        raise PermanentJobError("load_history needs institution_login_id and finicity_customer_id")
    claim = await services.rpc.call("ob_institution_login_history_claim", {"p_login_id": int(login_id)})
    if claim and claim.get("starting"):
        # Another attempt took the login moments ago and may be asking Mastercard now: retry later.
        raise HistoryLoadStarting(f"login {login_id}: another worker is starting its historic load")
    if not claim or not claim.get("claimed"):
        return  # started (or settled) already: one historic load per login
    try:
        refresh = await services.finicity.refresh_transactions(
            str(finicity_customer_id), "historic", institution_login_id=int(login_id)
        )
    except TRANSIENT:
        raise
    except FinicityError as exc:
        # Unsupported or refused: the 180 days stay, and the login says why.
        await services.rpc.call(
            "ob_institution_login_history_started",
            {"p_login_id": int(login_id), "p_error": f"The bank's older history is not available: {exc.reason}"},
        )
        log.warning("history.refused", institution_login_id=login_id, finicity_code=exc.code)
        return
    await services.rpc.call(
        "ob_institution_login_history_started", {"p_login_id": int(login_id), "p_refresh_id": refresh.refresh_id}
    )
    await _follow(services, str(finicity_customer_id), refresh.refresh_id, HISTORY, polls=0, now=True)
    log.info("history.started", institution_login_id=login_id)


async def follow_refresh_job(services: Services, job: Job) -> None:
    payload = job.payload
    refresh_id, finicity_customer_id, purpose = (
        payload.get("refresh_id"), payload.get("finicity_customer_id"), payload.get("purpose"))
    if refresh_id and finicity_customer_id and purpose is None:
        # From the OBWMS event: whose refresh is it? Not ours: the data changed, sync it.
        owner = await services.rpc.call("ob_refresh_owner", {"p_refresh_id": str(refresh_id)})
        if not owner:
            await services.rpc.call("ob_job_enqueue", {
                "p_kind": "sync_customer",
                "p_payload": {"finicity_customer_id": str(finicity_customer_id), "reason": "obwms:refresh"},
                "p_dedupe_key": f"sync:{finicity_customer_id}",
            })
            return
        purpose = owner["purpose"]
    if not refresh_id or not finicity_customer_id or purpose not in (HISTORY, SYNC_REQUEST):
        raise PermanentJobError("follow_refresh needs refresh_id, finicity_customer_id and purpose")
    polls = int(payload.get("polls", 0))
    started = time.monotonic()
    while True:
        status = await services.finicity.get_transaction_refresh_status(str(finicity_customer_id), str(refresh_id))
        if status.final:
            await settle(services, purpose, str(refresh_id), status.status, status.failure_reason())
            return
        if payload.get("from_event"):
            return  # the polling chain is still running; an early event only adds a look
        polls += 1
        delay = _delay(services, polls)
        if delay > INLINE_WAIT_MAX or time.monotonic() - started + delay > INLINE_BUDGET:
            break
        # A short wait is cheaper in this job than as a queued successor the worker only sees at its next poll;
        # a stopping worker ends it at once and the successor below takes over.
        if not await job.pause(delay):
            break
        await job.heartbeat()
    await _follow(services, str(finicity_customer_id), str(refresh_id), purpose, polls=polls)


async def settle(services: Services, purpose: str, refresh_id: str, status: str, reason: str | None) -> bool:
    function = "ob_institution_login_history_settle" if purpose == HISTORY else "ob_sync_request_refresh_settle"
    error = None
    if status == "FAILED":
        error = (
            f"The historic load failed ({reason}); the last 180 days are kept."
            if purpose == HISTORY
            else f"The bank could not be refreshed now ({reason})."
        )
    settled = await services.rpc.call(function, {"p_refresh_id": refresh_id, "p_status": status, "p_error": error})
    done = bool(settled and settled.get("settled"))
    log.info("refresh.settled", purpose=purpose, status=status, changed=done)
    return done


def _delay(services: Services, polls: int) -> float:
    settings = services.settings
    return float(
        min(settings.open_banking_refresh_poll_cap_seconds, settings.open_banking_refresh_poll_seconds * 2**polls)
    )


async def _follow(
    services: Services, finicity_customer_id: str, refresh_id: str, purpose: str, polls: int, now: bool = False
) -> None:
    """Queue the next status check: at once for a refresh just started (the job then waits short delays
    itself), else after the doubling delay."""
    delay = 0.0 if now else _delay(services, polls)
    payload: dict[str, Any] = {
        "refresh_id": refresh_id, "finicity_customer_id": finicity_customer_id, "purpose": purpose, "polls": polls}
    await services.rpc.call("ob_job_enqueue", {
        "p_kind": "follow_refresh",
        "p_payload": payload,
        "p_dedupe_key": f"refresh:{refresh_id}",
        "p_run_after": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay),
    })
