"""Deleting a client: every row we hold for it at once, and its Mastercard customer by a job.

Both doors (the platform deleting its `public.clients` row, the operator's `delete CLIENT --yes`)
run `private.ob_forget_client` (supabase/migrations/..1500_client_deletion.sql): it removes every
row naming the client or its customer in one transaction, writes the audit line, and queues a
`delete_customer` job {deletion_id, finicity_customer_id}. The job needs none of the removed rows;
it is retried (hourly at most, for years) until Mastercard deletes the customer or says it is
already gone, then `ob_deletion_confirm` records the outcome and strips the Mastercard id from the
job. Safe to repeat at every step.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog

from service.jobs.types import Job, PermanentJobError

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)


async def delete_at_mastercard(services: Services, deletion_id: int, finicity_customer_id: str) -> str:
    """Delete the customer at Mastercard and record the answer: `deleted` or `already_gone`."""
    existed = await services.finicity.delete_customer(finicity_customer_id)
    outcome = "deleted" if existed else "already_gone"
    await services.rpc.call("ob_deletion_confirm", {"p_deletion_id": deletion_id, "p_outcome": outcome})
    log.info("delete.mastercard_confirmed", deletion_id=deletion_id, outcome=outcome)
    return outcome


async def delete_customer_job(services: Services, job: Job) -> None:
    deletion_id = job.payload.get("deletion_id")
    finicity_customer_id = job.payload.get("finicity_customer_id")
    if isinstance(deletion_id, int) and not isinstance(deletion_id, bool):
        if not finicity_customer_id:
            return  # confirmed already (the confirmation strips the Mastercard id)
        await _remove_documents(services, job.payload.get("platform_client_id"))
        await delete_at_mastercard(services, deletion_id, str(finicity_customer_id))
        return
    if job.payload.get("platform_client_id"):
        # The older payload shape: start a deletion the current way (it queues its own job).
        await forget_client(services, uuid.UUID(str(job.payload["platform_client_id"])), run_now=False)
        return
    raise PermanentJobError("delete_customer needs deletion_id and finicity_customer_id")


async def _remove_documents(services: Services, platform_client_id: Any) -> None:
    """The client's Storage folder `{platform_client_id}/` (statements, exports), through the Storage
    API (Supabase refuses direct deletes from storage.objects). Runs once a document store is wired
    into Services as `documents` (service/documents); a failure retries the job like Mastercard's."""
    store = getattr(services, "documents", None)
    if store is not None and platform_client_id:
        removed = await store.remove_under(f"{platform_client_id}/")
        log.info("delete.documents_removed", count=removed)


async def forget_client(services: Services, platform_client_id: uuid.UUID, *, run_now: bool = True) -> dict[str, Any]:
    """The operator's door. Our rows go at once; with run_now the Mastercard deletion is tried here
    too (the queued job finishes it if Mastercard cannot be reached now). Returns the RPC's result
    plus `mastercard`: the outcome, `pending` (left to the job) or `none` (no customer was created)."""
    result: dict[str, Any] = await services.rpc.call("ob_client_forget", {"p_platform_client_id": platform_client_id})
    finicity_customer_id = result.get("finicity_customer_id")
    result["mastercard"] = "none" if not finicity_customer_id else "pending"
    if finicity_customer_id and run_now:
        await _remove_documents(services, platform_client_id)
        result["mastercard"] = await delete_at_mastercard(services, int(result["deletion_id"]), finicity_customer_id)
    return result
