"""The job worker: claims due jobs through the RPC functions, runs up to N at once, and
completes, fails (backoff, `dead` after max attempts in SQL) or, on shutdown, releases them.

Woken by NOTIFY (postgres adapter), POST /internal/wake (pg_net on hosted Supabase) or a slow
poll. Leases are extended while a job runs, so a crashed process's jobs come back after one
lease, and a long backfill is never taken over while alive.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from service.db.port import DatabaseUnavailable
from service.jobs.types import Handler, Job, PermanentJobError

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)


def describe_error(exc: BaseException) -> str:
    """What goes into ob_jobs.last_error: the type and the message our own errors carry (they are
    written to be safe: no tokens, no account numbers)."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:1000]


class Worker:
    def __init__(
        self,
        services: Services,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 4,
        lease_seconds: int = 60,
        poll_seconds: float = 15.0,
        worker_id: str | None = None,
    ) -> None:
        self._services = services
        self._rpc = services.rpc
        self._handlers = dict(handlers)
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._poll = poll_seconds
        self.worker_id = worker_id or services.holder_id
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: dict[int, asyncio.Task[None]] = {}
        self.completed = 0
        self.failed = 0

    def wake(self, _reason: str | None = None) -> None:
        self._wake.set()

    @property
    def busy(self) -> int:
        return len(self._running)

    async def run(self) -> None:
        """Claim-and-run loop; returns after stop()."""
        log.info("worker.started", worker=self.worker_id, concurrency=self._concurrency)
        while not self._stopping:
            claimed = await self._claim_batch()
            if self._stopping:
                break
            if claimed:
                continue  # maybe more are due: claim again while there is room
            self._wake.clear()
            waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
            if self._running and self.busy >= self._concurrency:
                waiters |= set(self._running.values())
            await asyncio.wait(waiters, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                if waiter not in self._running.values():
                    waiter.cancel()

    async def _claim_batch(self) -> int:
        room = self._concurrency - self.busy
        if room <= 0:
            return 0
        try:
            jobs = await self._rpc.call(
                "ob_jobs_claim", {"p_worker": self.worker_id, "p_limit": room, "p_lease_seconds": self._lease}
            )
        except DatabaseUnavailable as exc:
            log.warning("worker.claim_failed", error=str(exc))
            await asyncio.sleep(1.0)
            return 0
        for row in jobs or []:
            job = Job(
                id=row["id"],
                kind=row["kind"],
                payload=row["payload"] or {},
                attempts=row["attempts"],
                max_attempts=row["max_attempts"],
                heartbeat=self._heartbeat_for(row["id"]),
            )
            task = asyncio.create_task(self._run_job(job), name=f"job-{job.id}")
            self._running[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job.id))
        return len(jobs or [])

    def _finished(self, job_id: int, _task: asyncio.Task[None] | None = None) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    def _heartbeat_for(self, job_id: int):  # type: ignore[no-untyped-def]
        last = [time.monotonic()]

        async def heartbeat() -> None:
            # Cheap to call often: extends the lease at most every third of it.
            if time.monotonic() - last[0] < self._lease / 3:
                return
            last[0] = time.monotonic()
            await self._rpc.call(
                "ob_job_heartbeat", {"p_job_id": job_id, "p_worker": self.worker_id, "p_lease_seconds": self._lease}
            )

        return heartbeat

    async def _keep_lease(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await job.heartbeat()
            except DatabaseUnavailable:
                log.warning("worker.heartbeat_failed", job_id=job.id)

    async def _run_job(self, job: Job) -> None:
        structlog.contextvars.bind_contextvars(job_id=job.id, job_kind=job.kind)
        handler = self._handlers.get(job.kind)
        started = time.monotonic()
        keeper = asyncio.create_task(self._keep_lease(job))
        try:
            if handler is None:
                raise PermanentJobError(f"no handler for job kind {job.kind!r}")
            await handler(self._services, job)
        except asyncio.CancelledError:
            keeper.cancel()
            await self._safe_call("ob_job_release", {"p_job_id": job.id, "p_worker": self.worker_id})
            log.info("job.released", job_id=job.id)
            raise
        except Exception as exc:
            keeper.cancel()
            permanent = isinstance(exc, PermanentJobError)
            self.failed += 1
            self._services.metrics.jobs.labels(kind=job.kind, outcome="failed").inc()
            log.warning(
                "job.failed", job_id=job.id, attempt=job.attempts, permanent=permanent, error=describe_error(exc)
            )
            await self._safe_call(
                "ob_job_fail",
                {
                    "p_job_id": job.id,
                    "p_worker": self.worker_id,
                    "p_error": describe_error(exc),
                    "p_retry": not permanent,
                },
            )
        else:
            keeper.cancel()
            self.completed += 1
            self._services.metrics.jobs.labels(kind=job.kind, outcome="succeeded").inc()
            log.info("job.succeeded", job_id=job.id, duration_ms=int((time.monotonic() - started) * 1000))
            await self._safe_call("ob_job_complete", {"p_job_id": job.id, "p_worker": self.worker_id})
        finally:
            structlog.contextvars.unbind_contextvars("job_id", "job_kind")

    async def _safe_call(self, function: str, args: dict[str, Any]) -> None:
        # If the database is gone, the lease expires and the job is claimed again: nothing is lost.
        try:
            await self._rpc.call(function, args)
        except DatabaseUnavailable as exc:
            log.warning("worker.outcome_not_recorded", function=function, error=str(exc))

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; let running jobs finish within the grace period, release the rest."""
        self._stopping = True
        self._wake.set()
        tasks = list(self._running.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        log.info("worker.stopped", worker=self.worker_id, completed=self.completed, failed=self.failed)
