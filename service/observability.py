"""Structured JSON logs with secrets redacted, and the Prometheus metrics the service exposes.

Redaction happens in a structlog processor, so it holds for every log call, including those
that bind whole payloads by mistake: values of sensitive keys are replaced, and any configured
secret value or long digit run (an account number) found inside a string is masked.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REDACTED = "[redacted]"
_SENSITIVE_KEYS = re.compile(
    r"(secret|token|password|authorization|app[-_]?key|signature|encryption|apikey|api_key|^number$|account_?number|"
    r"ssn|cookie|service_role_key)",
    re.IGNORECASE,
)
# Account numbers: runs of 6+ digits keep only their last 4 (ids of Mastercard objects are not
# logged as free text; they travel as their own fields, e.g. finicity_customer_id, which are allowed).
_DIGIT_RUN = re.compile(r"\d{6,}")
_ALLOWED_ID_KEYS = {
    "customer_id",
    "finicity_customer_id",
    "account_id",
    "institution_login_id",
    "job_id",
    "event_id",
    "transaction_id",
    "tracking_id",
    "request_id",
    "status",
    "duration_ms",
    "attempt",
    "rows",
    "count",
    "code",
    "finicity_code",
    "port",
    "pid",
}


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Every configured secret, however short (production refuses short ones; elsewhere a short
        # secret costs some over-masking, never a leak). Longest first, so no secret is left half-masked.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def _scrub_text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _DIGIT_RUN.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], text)

    def scrub(self, key: str, value: Any) -> Any:
        if _SENSITIVE_KEYS.search(key):
            return REDACTED
        if isinstance(value, str):
            return value if key in _ALLOWED_ID_KEYS else self._scrub_text(value)
        if isinstance(value, dict):
            return {k: self.scrub(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(key, v) for v in value]
        return value

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self.scrub(key, event_dict[key])
        return event_dict


def configure_logging(
    level: str = "INFO", json_logs: bool = True, secrets: Iterable[str] = (), stream: Any = None
) -> Redactor:
    redactor = Redactor(secrets)
    renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            redactor,  # before the timestamp and level are added: those are never secrets
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
    # httpx logs every request URL at INFO through the standard library: keep that quiet (our client
    # logs each call itself, with path templates), and let warnings through.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor


class Metrics:
    """One registry per app, so tests and several apps in one process never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.finicity_calls = Counter(
            "ob_finicity_calls_total", "Mastercard API calls", ["endpoint", "status"], registry=r
        )
        self.finicity_latency = Histogram(
            "ob_finicity_call_seconds", "Mastercard API call latency", ["endpoint"], registry=r
        )
        self.webhooks = Counter(
            "ob_webhooks_total", "Webhook deliveries by source and outcome", ["source", "outcome"], registry=r
        )
        self.jobs = Counter("ob_jobs_total", "Jobs run by kind and outcome", ["kind", "outcome"], registry=r)
        self.queue_depth = Gauge("ob_job_queue_depth", "Jobs by status", ["status"], registry=r)
        self.queue_oldest_age = Gauge("ob_job_queue_oldest_due_seconds", "Age of the oldest due job", registry=r)
        self.sync_duration = Histogram(
            "ob_sync_duration_seconds",
            "sync_customer duration",
            registry=r,
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
        )
        self.sync_rows = Counter("ob_sync_rows_total", "Rows written by syncs", ["table"], registry=r)
        self.token_refreshes = Counter("ob_partner_token_refreshes_total", "Partner authentications", registry=r)
        self.transactions_quarantined = Counter(
            "ob_transactions_quarantined_total", "Transaction rows that did not parse, kept in quarantine", registry=r
        )
        self.partner_auth_failures = Counter(
            "ob_partner_auth_failures_total", "Refused partner authentications made by this process", registry=r
        )
        self.partner_auth_blocked = Gauge(
            "ob_partner_auth_blocked",
            "1 while partner authentication is held after failures in a row (any process); see /readyz",
            registry=r,
        )
        self._webhook_children: dict[tuple[str, str], Any] = {}

    def webhook_outcome(self, source: str, outcome: str) -> Any:
        """The labelled counter, looked up once (webhook intake is the hot path)."""
        key = (source, outcome)
        child = self._webhook_children.get(key)
        if child is None:
            child = self._webhook_children[key] = self.webhooks.labels(source=source, outcome=outcome)
        return child
