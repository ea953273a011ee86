"""Two claimers on two real connections never get the same job."""

from __future__ import annotations

import threading
import uuid

import psycopg


def _claim_all(database_url: str, worker: str, kind_marker: str, claimed: list[int]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set role service_role")
        while True:
            (jobs,) = conn.execute("select public.ob_job_claim(%s, 7, 300)", (worker,)).fetchone()
            ours = [job["id"] for job in jobs if job["payload"].get("race") == kind_marker]
            claimed.extend(ours)
            for job in jobs:
                conn.execute("select public.ob_job_complete(%s, %s)", (job["id"], worker))
            if not jobs:
                return


def test_two_claimers_racing_for_1000_jobs_never_double_claim(pg: psycopg.Connection, database_url: str) -> None:
    marker = uuid.uuid4().hex
    pg.execute(
        """insert into private.ob_jobs (kind, payload)
           select 'sync_customer', jsonb_build_object('race', %s::text, 'n', n) from generate_series(1, 1000) n""",
        (marker,),
    )
    first: list[int] = []
    second: list[int] = []
    threads = [
        threading.Thread(target=_claim_all, args=(database_url, "racer-1", marker, first)),
        threading.Thread(target=_claim_all, args=(database_url, "racer-2", marker, second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(first) + len(second) == 1000
    assert set(first).isdisjoint(second)
    assert len(set(first) | set(second)) == 1000
    assert first and second, "both claimers should have won some jobs"
    (succeeded,) = pg.execute(
        "select count(*) from private.ob_jobs where payload->>'race' = %s and status = 'succeeded'", (marker,)
    ).fetchone()
    assert succeeded == 1000
