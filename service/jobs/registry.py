"""Job kind → handler. Every handler is idempotent: running a job twice leaves the same state."""

from __future__ import annotations

from service.documents.job import produce_documents
from service.jobs.types import Drain, Handler
from service.sync.account_requests import account_request_job
from service.sync.consent import check_consent_job
from service.sync.customer import sync_customer_job
from service.sync.delete import delete_customer_job
from service.sync.institutions import refresh_institutions_job
from service.sync.link import deliver_link
from service.sync.refresh import follow_refresh_job, load_history_job
from service.webhooks.process import drain_webhook_events, process_webhook_event


def default_handlers() -> dict[str, Handler]:
    return {
        "deliver_link": deliver_link,
        "sync_customer": sync_customer_job,
        "process_webhook_event": process_webhook_event,
        "check_consent": check_consent_job,
        "delete_customer": delete_customer_job,
        "produce_documents": produce_documents,
        "account_request": account_request_job,
        "refresh_institutions": refresh_institutions_job,
        "load_history": load_history_job,
        "follow_refresh": follow_refresh_job,
    }


def default_drains() -> list[Drain]:
    """Kinds also claimed and finished in batches (the one-job handler above stays for stragglers)."""
    return [drain_webhook_events]
