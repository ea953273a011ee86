"""The job-queue gauges on /metrics, refreshed from the database at most every N seconds per process.

A scrape must not cost a count over the job table: Prometheus (or anyone who can reach the route)
may scrape as often as it likes, and the answer between refreshes is the last one read.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from service.db.port import DatabaseUnavailable
from service.runtime import Services

log = structlog.get_logger(__name__)
STATUSES = ("queued", "running", "succeeded", "dead")


class QueueGauges:
    def __init__(self, refresh_seconds: float) -> None:
        self.refresh_seconds = refresh_seconds
        self.refreshed_at: float | None = None  # time.monotonic() of the last read
        self.reads = 0
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self.refreshed_at is not None and time.monotonic() - self.refreshed_at < self.refresh_seconds

    async def refresh(self, services: Services) -> None:
        """Read the counts if the last read is older than the interval; concurrent scrapes share one read."""
        if self._fresh():
            return
        async with self._lock:
            if self._fresh():
                return
            try:
                overview = await services.rpc.call("ob_job_overview", {"p_limit": 0})
                auth = await services.rpc.call("ob_partner_auth_state", {})
            except DatabaseUnavailable:
                log.warning("metrics.queue_unavailable")
                return
            finally:
                # A failed read also waits out the interval: an unreachable database is not asked
                # again by every scrape.
                self.refreshed_at = time.monotonic()
            self.reads += 1
            for status in STATUSES:
                services.metrics.queue_depth.labels(status=status).set(overview["counts"].get(status, 0))
            services.metrics.queue_oldest_age.set(float(overview["oldest_due_age_seconds"]))
            # Held partner authentication is database state too: every replica reports it (alert rule).
            services.metrics.partner_auth_blocked.set(1 if auth and auth["held"] else 0)
