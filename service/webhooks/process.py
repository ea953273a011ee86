"""Processing stored webhook events: what each event changes is worked out in Python
(service.webhooks.plan) and applied by one RPC, `ob_webhook_events_apply` (one transaction,
set-based statements, idempotent).

Two ways in, one meaning:
- `drain_webhook_events` (the worker's fast path): one RPC claims up to a few hundred due
  `process_webhook_event` jobs with their events, one RPC applies all their effects, marks the
  events processed and completes the jobs. After a storm or an outage Mastercard's retries arrive
  by the thousand; this is what keeps up with them.
- `process_webhook_event` (the job handler; also `webhooks replay`): the same for one event.

Outcomes: the event is marked processed (with a note for events we cannot act on: unknown customer,
no login id, a payload that does not match the spec). A database outage propagates: the batch's
jobs come back when their lease ends (the job handler's job is retried), and the events stay
unprocessed until then. If the database refuses a batch (a value it cannot store in one event), the
batch is redone event by event, so one bad event cannot hold up the others.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from service.db.port import DatabaseUnavailable, RpcError
from service.jobs.types import Job, PermanentJobError
from service.webhooks.plan import Effects, readable_reason

if TYPE_CHECKING:
    from service.runtime import Services

__all__ = ["drain_webhook_events", "process_webhook_event", "readable_reason"]

log = structlog.get_logger(__name__)

# Events claimed per batch: big enough that the per-call costs vanish, small enough that a batch's
# transaction stays short (a few hundred ms) and its JSON a few MB at most.
BATCH_SIZE = 500


def _effects(services: Services) -> Effects:
    return Effects(settings_request_fix_links=services.settings.open_banking_request_fix_links)


async def process_webhook_event(services: Services, job: Job) -> None:
    event_id = job.payload.get("event_id")
    if isinstance(event_id, bool) or not isinstance(event_id, int | str) or not str(event_id).isdigit():
        raise PermanentJobError(f"process_webhook_event needs an integer event_id, got {event_id!r}")
    event_id = int(event_id)
    rpc = services.rpc
    event = await rpc.call("ob_webhook_event_get", {"p_event_id": event_id})
    if event is None:
        log.warning("webhook.process.missing", event_id=event_id)
        return
    if event.get("processed_at") is not None:
        log.info("webhook.process.already_done", event_id=event_id)
        return
    known = False
    if event.get("finicity_customer_id"):
        known = await rpc.call("ob_customer_get", {"p_finicity_customer_id": event["finicity_customer_id"]}) is not None
    await _apply_one(services, event, known, job_id=None)


async def _apply_one(services: Services, event: dict[str, Any], known: bool, job_id: int | None) -> None:
    """One event on its own: its effects, or (if the database refuses them) just its processed mark
    with the reason, as the job handler always did."""
    effects = _effects(services)
    note = effects.add(event, known)
    if job_id is not None:
        effects.jobs.append(job_id)
    bound = log.bind(event_id=event["id"], source=event.get("source"), event_type=event.get("event_type"),
                     finicity_customer_id=event.get("finicity_customer_id"))
    try:
        await services.rpc.call("ob_webhook_events_apply", {"p_worker": services.holder_id,
                                                             "p_effects": effects.as_arg()})
    except RpcError as exc:
        note = f"{exc.function}: {exc.message}"
        bound.error("webhook.process.rpc_error", sqlstate=exc.code, error=exc.message)
        refused = Effects(events=[{"id": event["id"], "note": note}], jobs=effects.jobs)
        await services.rpc.call("ob_webhook_events_apply", {"p_worker": services.holder_id,
                                                             "p_effects": refused.as_arg()})
    if note:
        bound.warning("webhook.process.noted", note=note)
    else:
        bound.info("webhook.process.done")


async def drain_webhook_events(services: Services, *, limit: int = BATCH_SIZE, lease_seconds: int = 60) -> int:
    """Claim and process batches of due webhook jobs until none is due; returns how many jobs it
    claimed (0: none was due). Pipelined: while the database applies one batch, the next is claimed
    and planned, so neither side waits for the other; applies stay in claim order.
    Raises DatabaseUnavailable when the database cannot be reached (the caller backs off)."""
    total = 0
    applying: asyncio.Task[None] | None = None
    try:
        claimed = await _claim(services, limit, lease_seconds)
        while claimed:
            total += len(claimed)
            effects = _plan(services, claimed)
            if applying is not None:
                await applying
            applying = asyncio.create_task(_apply(services, claimed, effects))
            claimed = await _claim(services, limit, lease_seconds)
        if applying is not None:
            await applying
    finally:
        if applying is not None and not applying.done():
            applying.cancel()
            await asyncio.gather(applying, return_exceptions=True)
    return total


async def _claim(services: Services, limit: int, lease_seconds: int) -> list[dict[str, Any]]:
    return await services.rpc.call("ob_webhook_events_claim", {
        "p_worker": services.holder_id, "p_limit": limit, "p_lease_seconds": lease_seconds}) or []


def _plan(services: Services, claimed: list[dict[str, Any]]) -> Effects:
    effects = _effects(services)
    failed: list[tuple[int, BaseException]] = []
    for row in claimed:
        event = row.get("event")
        if event is None or event.get("processed_at") is not None:
            effects.jobs.append(row["job_id"])
            continue  # gone (retention) or already processed: the job has nothing left to do
        mark = len(effects.events)
        try:
            note = effects.add(event, bool(event.get("customer_known")))
        except Exception as exc:  # a bug for one event must not hold up the batch
            del effects.events[mark:]
            failed.append((row["job_id"], exc))
            continue
        effects.jobs.append(row["job_id"])
        if note:
            log.warning("webhook.process.noted", event_id=event["id"], source=event.get("source"),
                        event_type=event.get("event_type"), note=note)
    effects.failed = failed
    return effects


async def _apply(services: Services, claimed: list[dict[str, Any]], effects: Effects) -> None:
    for job_id, exc in effects.failed:
        await _fail(services, job_id, exc)
    try:
        await services.rpc.call("ob_webhook_events_apply",
                                {"p_worker": services.holder_id, "p_effects": effects.as_arg()})
    except RpcError as exc:
        log.error("webhook.batch.refused", events=len(effects.events), sqlstate=exc.code, error=exc.message)
        failed = {job_id for job_id, _ in effects.failed}
        await _one_by_one(services, [row for row in claimed if row["job_id"] not in failed])
    services.metrics.jobs.labels(kind="process_webhook_event", outcome="succeeded").inc(len(effects.jobs))


async def _one_by_one(services: Services, claimed: list[dict[str, Any]]) -> None:
    for row in claimed:
        event = row.get("event")
        try:
            if event is None or event.get("processed_at") is not None:
                await services.rpc.call("ob_webhook_events_apply", {
                    "p_worker": services.holder_id, "p_effects": Effects(jobs=[row["job_id"]]).as_arg()})
            else:
                await _apply_one(services, event, bool(event.get("customer_known")), job_id=row["job_id"])
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            await _fail(services, row["job_id"], exc)


async def _fail(services: Services, job_id: int, exc: BaseException) -> None:
    from service.jobs.worker import describe_error  # the worker imports the handlers: import late

    log.warning("job.failed", job_id=job_id, error=describe_error(exc))
    services.metrics.jobs.labels(kind="process_webhook_event", outcome="failed").inc()
    await services.rpc.call("ob_job_fail", {"p_job_id": job_id, "p_worker": services.holder_id,
                                            "p_error": describe_error(exc), "p_retry": True})
