"""The job worker: claims due jobs through the RPC functions, runs up to N at once, and
completes, fails (backoff, `dead` after max attempts in SQL) or, on shutdown, releases them.

Woken by NOTIFY (postgres adapter), POST /internal/wake (pg_net on hosted Supabase) or a slow
poll. Kinds that are cheap and come by the thousand (webhook events) may also have a *drain*: a
function that claims and finishes a whole batch of them itself; the worker runs it in a loop of its
own beside the one-job-at-a-time claims, so a storm of events never waits behind a long backfill.
Leases are extended while a job runs, so a crashed process's jobs come back after one lease, and a
long backfill is never taken over while alive.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import structlog

from service.db.port import DatabaseUnavailable
from service.jobs.types import Drain, Handler, Job, PermanentJobError

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
        lease_seconds: int | None = None,
        poll_seconds: float = 15.0,
        worker_id: str | None = None,
        drains: Sequence[Drain] = (),
    ) -> None:
        self._services = services
        self._rpc = services.rpc
        self._handlers = dict(handlers)
        self._concurrency = concurrency
        # The lease length has one definition: WORKER_LEASE_SECONDS (settings); tests may shorten it.
        self._lease = lease_seconds or services.settings.worker_lease_seconds
        self._poll = poll_seconds
        self.worker_id = worker_id or services.holder_id
        self._wake = asyncio.Event()
        self._drains = list(drains)
        self._drain_wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()  # the jobs' view of _stopping (Job.pause)
        self._running: dict[int, asyncio.Task[None]] = {}
        self.completed = 0
        self.failed = 0
        self.claims = 0  # claim round trips made (each may find nothing)

    def wake(self, _reason: str | None = None) -> None:
        self._wake.set()
        self._drain_wake.set()

    @property
    def busy(self) -> int:
        return len(self._running)

    async def run(self) -> None:
        """Claim-and-run loop; returns after stop()."""
        log.info("worker.started", worker=self.worker_id, concurrency=self._concurrency)
        drain_loops = [asyncio.create_task(self._drain_loop(drain), name="drain") for drain in self._drains]
        try:
            await self._claim_loop()
        finally:
            for task in drain_loops:
                task.cancel()
            await asyncio.gather(*drain_loops, return_exceptions=True)

    async def _drain_loop(self, drain: Drain) -> None:
        """Run a drain until it finds nothing due, then wait for a wake-up or the poll."""
        while not self._stopping:
            self._drain_wake.clear()
            try:
                claimed = await drain(self._services)
            except DatabaseUnavailable as exc:
                log.warning("worker.drain_failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            except Exception as exc:  # a bug must not stop the loop; its jobs come back after their lease
                log.error("worker.drain_error", error=describe_error(exc))
                await asyncio.sleep(1.0)
                continue
            if claimed:
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._drain_wake.wait(), timeout=self._poll)

    async def _claim_loop(self) -> None:
        while not self._stopping:
            # Cleared before the claim, not after: a wake-up that arrives while the claim is out (a NOTIFY
            # for a job the claim just missed) makes the wait below return at once instead of being lost.
            self._wake.clear()
            claimed = await self._claim_batch()
            if self._stopping:
                break
            if claimed:
                continue  # maybe more are due: claim again while there is room
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
                "ob_job_claim", {"p_worker": self.worker_id, "p_limit": room, "p_lease_seconds": self._lease}
            )
        except DatabaseUnavailable as exc:
            log.warning("worker.claim_failed", error=str(exc))
            await asyncio.sleep(1.0)
            return 0
        self.claims += 1
        started = 0
        for row in jobs or []:
            if row["id"] in self._running:
                # Our own run's lease lapsed and came back to us: the run goes on, now re-leased.
                continue
            lease = _Lease(self, row["id"])
            job = Job(
                id=row["id"],
                kind=row["kind"],
                payload=row["payload"] or {},
                attempts=row["attempts"],
                max_attempts=row["max_attempts"],
                heartbeat=lease.extend,
                stopping=self._stopped,
            )
            task = asyncio.create_task(self._run_job(job, lease), name=f"job-{job.id}")
            self._running[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job.id))
            started += 1
        return started

    def _finished(self, job_id: int, _task: asyncio.Task[None] | None = None) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    async def _run_job(self, job: Job, lease: _Lease) -> None:
        structlog.contextvars.bind_contextvars(job_id=job.id, job_kind=job.kind)
        handler = self._handlers.get(job.kind)
        started = time.monotonic()
        work: asyncio.Task[None] | None = None
        keeper: asyncio.Task[None] | None = None
        try:
            if handler is None:
                raise PermanentJobError(f"no handler for job kind {job.kind!r}")
            work = asyncio.ensure_future(handler(self._services, job))
            keeper = asyncio.create_task(lease.keep(work))
            await asyncio.shield(work)
        except asyncio.CancelledError:
            if lease.lost:
                # Fenced off: the lease is someone else's now, so this run records no outcome.
                self._services.metrics.jobs.labels(kind=job.kind, outcome="lease_lost").inc()
                log.warning("job.lease_lost", job_id=job.id, duration_ms=int((time.monotonic() - started) * 1000))
                return
            if work is not None:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
            await self._safe_call("ob_job_release", {"p_job_id": job.id, "p_worker": self.worker_id})
            log.info("job.released", job_id=job.id)
            raise
        except LeaseLost:
            self._services.metrics.jobs.labels(kind=job.kind, outcome="lease_lost").inc()
            log.warning("job.lease_lost", job_id=job.id, duration_ms=int((time.monotonic() - started) * 1000))
        except Exception as exc:
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
            result = await self._safe_call("ob_job_complete", {"p_job_id": job.id, "p_worker": self.worker_id})
            if result is not None and not result.get("completed"):
                # The lease lapsed and another worker took the job: its run will record the outcome.
                self._services.metrics.jobs.labels(kind=job.kind, outcome="lease_lost").inc()
                log.warning("job.lease_lost", job_id=job.id, duration_ms=int((time.monotonic() - started) * 1000))
            else:
                self.completed += 1
                self._services.metrics.jobs.labels(kind=job.kind, outcome="succeeded").inc()
                log.info("job.succeeded", job_id=job.id, duration_ms=int((time.monotonic() - started) * 1000))
        finally:
            if keeper is not None:
                keeper.cancel()
            structlog.contextvars.unbind_contextvars("job_id", "job_kind")

    async def _safe_call(self, function: str, args: dict[str, Any]) -> Any:
        # If the database is gone, the lease expires and the job is claimed again: nothing is lost.
        try:
            return await self._rpc.call(function, args)
        except DatabaseUnavailable as exc:
            log.warning("worker.outcome_not_recorded", function=function, error=str(exc))
            return None

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; let running jobs finish within the grace period, release the rest."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        tasks = list(self._running.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        log.info("worker.stopped", worker=self.worker_id, completed=self.completed, failed=self.failed)


class LeaseLost(Exception):
    """This worker no longer holds the job's lease: another may be running it."""


class _Lease:
    """A running job's lease: extended every quarter of its length (and by the handler's own
    heartbeats), and given up, cancelling the run, when the database says another worker holds it
    or when no extension has landed for a whole lease (a partition or outage: the job may already be
    someone else's). That keeps two runs of one job from overlapping for more than a heartbeat."""

    def __init__(self, worker: Worker, job_id: int) -> None:
        self._worker = worker
        self._job_id = job_id
        self._last_ok = time.monotonic()
        # The claim has just set a whole lease: the handler's first heartbeats (one per page) need no
        # round trip until a quarter of it has passed, as later ones.
        self._last_try = self._last_ok
        self.lost = False

    async def extend(self) -> None:
        """What handlers call as `job.heartbeat()`: cheap to call often; raises LeaseLost."""
        if self.lost:
            raise LeaseLost(f"job {self._job_id}")
        if time.monotonic() - self._last_try < self._worker._lease / 4:
            return
        await self._extend_now()
        if self.lost:
            raise LeaseLost(f"job {self._job_id}")

    async def _extend_now(self) -> None:
        self._last_try = time.monotonic()
        worker = self._worker
        try:
            result = await worker._rpc.call(
                "ob_job_heartbeat",
                {"p_job_id": self._job_id, "p_worker": worker.worker_id, "p_lease_seconds": worker._lease},
            )
        except DatabaseUnavailable:
            log.warning("worker.heartbeat_failed", job_id=self._job_id)
            if time.monotonic() - self._last_ok >= worker._lease:
                self.lost = True
            return
        if result and result.get("extended"):
            self._last_ok = time.monotonic()
        else:
            self.lost = True

    async def keep(self, work: asyncio.Task[None]) -> None:
        while not work.done():
            await asyncio.sleep(self._worker._lease / 4)
            await self._extend_now()
            if self.lost:
                work.cancel()
                return
