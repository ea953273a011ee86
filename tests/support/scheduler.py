"""pg_cron writes on its own clock: the sweeper every minute, institution discovery every ten, the
daily jobs at fixed hours. A test that counts rows or reads statistics pauses it for its measurement,
so a schedule that fires meanwhile cannot pass for something the test caused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.support.waiting import wait_for


@contextmanager
def scheduler_paused(database_url: str) -> Iterator[None]:
    """Every active pg_cron job paused, and any run already started finished, until the block ends;
    then the jobs that were active are active again."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        active = [jobid for (jobid,) in conn.execute(
            "update cron.job set active = false where active returning jobid").fetchall()]
        try:
            # a run the launcher started just before the pause still writes: wait for its worker
            wait_for("pg_cron's running jobs to finish", lambda: conn.execute(
                "select count(*) = 0 from pg_stat_activity where backend_type = 'pg_cron'").fetchone()[0],
                timeout=60)
            yield
        finally:
            if active:
                conn.execute("update cron.job set active = true where jobid = any(%s)", (active,))
