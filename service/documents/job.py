"""The `produce_documents` job: one document request → statements or export files in Storage.

Per-document problems (a bank without statements, a month with none, an account type a format
cannot hold) are recorded on the document and the request ends `partial` or `failed`; the job
itself succeeds. Transient trouble (Mastercard 429/5xx/timeouts after the client's own retries,
Storage or the database unreachable) fails the job so the queue retries it with backoff; what was
already stored is then held and neither downloaded nor stored again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from service.db.port import DatabaseUnavailable
from service.documents.export_job import produce_exports
from service.documents.statements import produce_statements
from service.documents.storage import StorageUnavailable
from service.finicity.errors import FinicityError, RateLimited, ServerError, TransportError
from service.jobs.types import Job, PermanentJobError

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)

TRANSIENT = (RateLimited, ServerError, TransportError, StorageUnavailable, DatabaseUnavailable, OSError)


async def produce_documents(services: Services, job: Job) -> None:
    rpc = services.rpc
    request_id = job.payload.get("document_request_id")
    request = await rpc.call("ob_document_request_get", {"p_id": request_id}) if request_id else None
    if request is None:
        # Its client was deleted (the rows go at once; this queued job may still run): nothing to make.
        log.info("documents.request_gone", document_request_id=request_id)
        return
    if request["status"] in ("succeeded", "partial", "failed"):
        return
    await rpc.call("ob_document_request_update", {"p_id": request_id, "p_status": "running"})
    store = services.documents
    try:
        if request["kind"] == "statements":
            outcome = await produce_statements(services, store, request)
        else:
            outcome = await produce_exports(services, store, request)
    except TRANSIENT as exc:
        if job.attempts >= job.max_attempts:
            await _fail(services, request_id, f"gave up after {job.attempts} attempts: {exc}")
        raise
    except FinicityError as exc:
        await _fail(services, request_id, exc.reason)
        raise PermanentJobError(str(exc)) from exc
    status = "succeeded" if outcome.failed == 0 else "partial" if outcome.ready else "failed"
    await rpc.call(
        "ob_document_request_update",
        {
            "p_id": request_id,
            "p_status": status,
            "p_documents_ready": outcome.ready,
            "p_documents_failed": outcome.failed,
            "p_error_message": None if outcome.failed == 0 else f"{outcome.failed} document(s) could not be made",
        },
    )
    log.info("documents.request_done", kind=request["kind"], status=status, ready=outcome.ready, failed=outcome.failed)


async def _fail(services: Services, request_id: Any, message: str) -> None:
    await services.rpc.call(
        "ob_document_request_update", {"p_id": request_id, "p_status": "failed", "p_error_message": message}
    )
