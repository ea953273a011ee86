"""The job worker against the real queue: claim, run, complete, fail with backoff, die, release
on shutdown, and wake on NOTIFY without waiting for the poll."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from service.jobs.types import Job, PermanentJobError
from service.jobs.worker import Worker
from service.wiring import services_for
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.usefixtures("empty_queue")


def _enqueue(
    pg: psycopg.Connection, kind: str = "check_consent", payload: str = '{"n": 1}', max_attempts: int = 3
) -> int:
    (job_id,) = pg.execute(
        "insert into private.ob_jobs (kind, payload, max_attempts) values (%s, %s::jsonb, %s) returning id",
        (kind, payload, max_attempts),
    ).fetchone()
    return job_id


def _job(pg: psycopg.Connection, job_id: int) -> dict:
    row = pg.execute(
        "select status, attempts, last_error, run_after > now() as later from private.ob_jobs where id = %s", (job_id,)
    ).fetchone()
    return {"status": row[0], "attempts": row[1], "last_error": row[2], "later": row[3]}


async def _run_until(worker: Worker, what: str, condition, limit_s: float = 10.0) -> None:
    runner = asyncio.create_task(worker.run())
    try:
        await wait_for_async(what, condition, limit_s)
    finally:
        await worker.stop(grace_seconds=2)
        await runner


async def test_a_due_job_runs_once_and_is_completed(pg, settings_factory) -> None:
    job_id = _enqueue(pg, payload='{"client": "a"}')
    seen: list[Job] = []

    async def handler(_services, job: Job) -> None:
        seen.append(job)

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=0.2)
        await _run_until(worker, "the job to succeed", lambda: _job(pg, job_id)["status"] == "succeeded")
    assert [(j.id, j.payload, j.attempts) for j in seen] == [(job_id, {"client": "a"}, 1)]


async def test_a_failing_job_is_retried_later_with_its_error_recorded(pg, settings_factory) -> None:
    job_id = _enqueue(pg)

    async def handler(_services, _job: Job) -> None:
        raise RuntimeError("bank said no")

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=0.2)
        await _run_until(worker, "a failed run", lambda: worker.failed >= 1)
    state = _job(pg, job_id)
    assert state["status"] == "queued" and state["attempts"] == 1 and state["later"]
    assert state["last_error"] == "RuntimeError: bank said no"


async def test_a_permanent_error_makes_the_job_dead_at_once(pg, settings_factory) -> None:
    job_id = _enqueue(pg)

    async def handler(_services, _job: Job) -> None:
        raise PermanentJobError("the request row is gone")

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=0.2)
        await _run_until(worker, "the job to die", lambda: _job(pg, job_id)["status"] == "dead")
    assert _job(pg, job_id)["attempts"] == 1


async def test_a_job_of_an_unknown_kind_dies_instead_of_looping(pg, settings_factory) -> None:
    job_id = _enqueue(pg, kind="delete_customer")
    async with services_for(settings_factory()) as services:
        worker = Worker(services, {}, poll_seconds=0.2)
        await _run_until(worker, "the job to die", lambda: _job(pg, job_id)["status"] == "dead")
    assert "no handler" in _job(pg, job_id)["last_error"]


async def test_no_more_than_the_configured_number_of_jobs_run_at_once(pg, settings_factory) -> None:
    ids = [_enqueue(pg, payload=f'{{"n": {n}}}') for n in range(7)]
    running = 0
    peak = 0
    three_at_once = asyncio.Event()

    async def handler(_services, _job: Job) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            three_at_once.set()
        await three_at_once.wait()  # the first runs hold their slots until three run together
        running -= 1

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, concurrency=3, poll_seconds=0.2)
        await _run_until(worker, "all seven jobs to succeed",
                         lambda: all(_job(pg, i)["status"] == "succeeded" for i in ids))
    assert peak == 3


async def test_shutdown_releases_a_job_still_running_with_its_attempt_given_back(pg, settings_factory) -> None:
    job_id = _enqueue(pg)
    started = asyncio.Event()

    async def handler(_services, _job: Job) -> None:
        started.set()
        await asyncio.Event().wait()  # runs until cancelled

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=0.2)
        runner = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), 5)
        await worker.stop(grace_seconds=0.1)
        await runner
    state = _job(pg, job_id)
    assert state["status"] == "queued" and state["attempts"] == 0


def _listeners(pg: psycopg.Connection) -> int:
    (n,) = pg.execute("select count(*) from pg_stat_activity where query = 'listen ob_jobs'").fetchone()
    return n


async def test_notify_wakes_an_idle_worker_long_before_its_poll(pg, settings_factory) -> None:
    done = asyncio.Event()
    claims_when_started: list[int] = []

    async def handler(_services, _job: Job) -> None:
        # Read here, not after `done`: once the job ends the worker claims again at once.
        claims_when_started.append(worker.claims)
        done.set()

    listeners_before = _listeners(pg)
    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=3600)
        runner = asyncio.create_task(worker.run())
        listener = asyncio.create_task(services.rpc.listen(worker.wake))
        # Idle and listening, as the database sees it: our LISTEN is in place and the worker's first
        # claim came back empty, so only the NOTIFY (not a claim, not the hour-long poll) can start the job.
        await wait_for_async("the LISTEN to be in place", lambda: _listeners(pg) > listeners_before, 10)
        await wait_for_async("the worker's first (empty) claim", lambda: worker.claims >= 1, 10)
        pg.execute("select public.ob_job_enqueue('check_consent', '{}'::jsonb)")
        await asyncio.wait_for(done.wait(), 10)
        listener.cancel()
        await worker.stop()
        await runner
    assert claims_when_started == [2]  # the empty first claim, then the one the NOTIFY rang for


async def test_a_crashed_workers_job_runs_again_after_its_lease_expires(pg, settings_factory) -> None:
    job_id = _enqueue(pg)
    # A worker that claimed the job and died: its lease simply runs out.
    pg.execute(
        "update private.ob_jobs set status = 'running', attempts = 1, locked_by = 'dead-worker', "
        "locked_until = now() - interval '1 second' where id = %s",
        (job_id,),
    )
    runs: list[int] = []

    async def handler(_services, job: Job) -> None:
        runs.append(job.attempts)

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=0.2)
        await _run_until(worker, "the job to succeed", lambda: _job(pg, job_id)["status"] == "succeeded")
    assert runs == [2]


async def test_a_run_whose_lease_was_taken_by_another_worker_stops_and_records_nothing(pg, settings_factory) -> None:
    job_id = _enqueue(pg)
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(_services, _job: Job) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # runs until cancelled
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=60, lease_seconds=2)
        runner = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), 5)
        # The lease lapsed (a pause, a partition) and another worker claimed the job.
        pg.execute(
            "update private.ob_jobs set locked_by = 'other-worker', locked_until = now() + interval '1 minute' "
            "where id = %s",
            (job_id,),
        )
        await asyncio.wait_for(cancelled.wait(), 5)
        await worker.stop()
        await runner
    row = pg.execute("select status, locked_by from private.ob_jobs where id = %s", (job_id,)).fetchone()
    assert row == ("running", "other-worker")
    assert worker.completed == 0 and worker.failed == 0


async def test_a_worker_never_starts_a_second_run_of_a_job_it_is_still_running(pg, settings_factory) -> None:
    job_id = _enqueue(pg)
    runs = 0
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(_services, _job: Job) -> None:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()

    def attempts() -> int:
        return _job(pg, job_id)["attempts"]

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=3600, lease_seconds=30)
        runner = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), 10)
        assert attempts() == 1
        # Its lease lapsed while it ran (heartbeats lost), and the claim loop meets the job again.
        pg.execute("update private.ob_jobs set locked_until = now() - interval '1 second' where id = %s", (job_id,))
        worker.wake()
        # The lease path, proven by the database: the worker's own claim took the lapsed job back
        # (a claim counts an attempt and renews the lease to this worker)...
        await wait_for_async("the worker to reclaim its lapsed job", lambda: attempts() == 2, 10)
        row = pg.execute(
            "select locked_by, locked_until > now() from private.ob_jobs where id = %s", (job_id,)
        ).fetchone()
        assert row == (worker.worker_id, True)
        # ...and the run already going on was kept: no second run started.
        release.set()
        await wait_for_async("the job to succeed", lambda: _job(pg, job_id)["status"] == "succeeded", 10)
        await worker.stop()
        await runner
    assert runs == 1
    assert worker.completed == 1


async def test_a_job_pausing_inside_itself_ends_its_pause_when_the_worker_stops(pg, settings_factory) -> None:
    paused = asyncio.Event()
    outcomes: list[bool] = []

    async def handler(_services, job: Job) -> None:
        paused.set()
        outcomes.append(await job.pause(3600))

    async with services_for(settings_factory()) as services:
        worker = Worker(services, {"check_consent": handler}, poll_seconds=0.2)
        pg.execute("select public.ob_job_enqueue('check_consent', '{}'::jsonb)")
        runner = asyncio.create_task(worker.run())
        await asyncio.wait_for(paused.wait(), 10)
        # A long grace: were the pause not ended, the job would be cancelled after it and record nothing.
        await worker.stop(grace_seconds=60)
        await runner
    assert outcomes == [False]
