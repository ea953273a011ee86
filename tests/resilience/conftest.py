"""Shared helpers for the resilience tests (issue 7): real sandbox and service processes on loopback,
the test database, and ways to break them on purpose.

Fixtures (all generic, usable by every file in tests/resilience):
  log_dir                  a per-module directory for process logs
  sandbox_factory(env)     start a sandbox process (stopped at module end)
  service_factory(url,...) start a service process (killed at test end); `Proc.kill()` is SIGKILL
  fresh_queue              mark queued/running jobs left by earlier tests dead, so a service started
                           here only sees this test's jobs (a service claims every due job)
  linked_customer_factory  a CPA + client + Mastercard customer with a completed Connect session at
                           the sandbox (customer row written through the service's own link code);
                           no sync is waited for
  restart_postgres         crash Postgres (immediate shutdown), wait, start it again (scripts/stack.sh)
Plain helpers: wait_for, as_cpa, sandbox_truth, db_truth, badge_of, complete_connect, clear_partner_token,
request_sync, jobs_for, service_events, overlapping_runs, pg_stop / pg_start / pg_is_up, connect (a fresh
superuser connection).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.e2e.conftest import as_cpa, sandbox_truth
from tests.support.judge import assert_sandbox_clean
from tests.support.processes import ROOT, Proc, abandon_leftover_jobs, start_sandbox, start_service
from tests.support.truth import Truth, db_truth_on
from tests.support.waiting import wait_for

__all__ = [
    "LinkedCustomer",
    "as_cpa",
    "badge_of",
    "clear_partner_token",
    "complete_connect",
    "connect",
    "db_truth",
    "jobs_for",
    "overlapping_runs",
    "pg_is_up",
    "pg_start",
    "pg_stop",
    "request_sync",
    "sandbox_truth",
    "service_events",
    "wait_for",
]



# ---- database -------------------------------------------------------------------------------------


@contextmanager
def connect(database_url: str, timeout: float = 3) -> Iterator[psycopg.Connection[Any]]:
    """A fresh autocommit superuser connection (survives nothing: open one per probe across restarts)."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=int(max(timeout, 1))) as conn:
        yield conn


def db_truth(database_url: str, client_id: uuid.UUID) -> Truth:
    """What the database holds for a client, in sandbox_truth's shape: account → (rows, sum, ids)."""
    with connect(database_url) as conn:
        return db_truth_on(conn, client_id)


def badge_of(database_url: str, cpa_id: uuid.UUID, client_id: uuid.UUID) -> str | None:
    """The badge the CPA sees under RLS (not_linked / pending / linked / error / needs_reauth)."""
    with as_cpa(database_url, cpa_id) as conn:
        row = conn.execute(
            "select badge from public.open_banking_client_status where platform_client_id = %s", (client_id,)
        ).fetchone()
    return row[0] if row else None


def clear_partner_token(database_url: str) -> None:
    """An empty partner-token cache. The cache is ONE row (id 1) that the token RPCs update in place:
    empty it, never delete it (without the row, every refresher is granted and nothing is stored)."""
    with connect(database_url) as conn:
        conn.execute("insert into private.ob_partner_tokens (id) values (1) on conflict (id) do nothing")
        conn.execute(
            "update private.ob_partner_tokens set token_ciphertext = null, expires_at = null, "
            "refresh_holder = null, refresh_lease_until = null where id = 1"
        )


def jobs_for(database_url: str, where: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of private.ob_jobs matching `where` (SQL written by the test, never user input)."""
    with connect(database_url) as conn:
        cur = conn.execute(
            "select id, kind, payload, status, attempts, max_attempts, locked_by, last_error, created_at, "
            f"finished_at from private.ob_jobs where {where} order by id",
            params,
        )
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def request_sync(database_url: str, cpa_id: uuid.UUID, client_id: uuid.UUID) -> str:
    """The CPA's 'refresh now' button: a sync request row inserted under RLS (its trigger queues the job)."""
    with as_cpa(database_url, cpa_id) as conn:
        (request_id,) = conn.execute(
            "insert into public.open_banking_sync_requests (platform_client_id) values (%s) returning id",
            (client_id,),
        ).fetchone()
        conn.commit()
    return str(request_id)


def _stack_env(database_url: str) -> dict[str, str]:
    port = os.environ.get("TEST_STACK_PORT") or str(urlsplit(database_url).port or 54329)
    return {**os.environ, "STACK_NAME": os.environ.get("TEST_STACK_NAME", "test"), "STACK_PORT": port}


def _stack(database_url: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [str(ROOT / "scripts" / "stack.sh"), command],
        env=_stack_env(database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def pg_is_up(database_url: str) -> bool:
    try:
        psycopg.connect(database_url, connect_timeout=1).close()
    except psycopg.OperationalError:
        return False
    return True


def pg_stop(database_url: str) -> None:
    """Crash Postgres: immediate shutdown (no checkpoint, connections cut), data kept."""
    done = _stack(database_url, "pg-stop")
    assert done.returncode == 0, f"pg-stop failed: {done.stderr}"
    assert not pg_is_up(database_url)


def pg_start(database_url: str) -> None:
    done = _stack(database_url, "pg-start")
    assert done.returncode == 0, f"pg-start failed: {done.stderr}"
    wait_for("Postgres to accept connections", lambda: pg_is_up(database_url), timeout=30)


@pytest.fixture
def restart_postgres(database_url: str) -> Iterator[Callable[[float], float]]:
    """restart_postgres(down_seconds) → seconds it was down. Fails when the test cluster is not one
    scripts/stack.sh manages (STACK_NAME/STACK_PORT from TEST_STACK_NAME/TEST_STACK_PORT); always
    leaves Postgres running."""
    if _stack(database_url, "status").returncode != 0:
        pytest.fail("the test database is not a cluster scripts/stack.sh manages: set TEST_STACK_NAME/PORT "
                    "(scripts/test.sh does)")
    # The throwaway test cluster runs with synchronous_commit=off (scripts/stack.sh), so a crash would
    # lose commits the service was told were durable. Production (Supabase) commits synchronously:
    # crash the way production would.
    with connect(database_url) as conn:
        conn.execute("alter system set synchronous_commit = on")
        conn.execute("select pg_reload_conf()")

    def restart(down_seconds: float = 3.0) -> float:
        started = time.monotonic()
        pg_stop(database_url)
        time.sleep(down_seconds)  # noqa: TID251 - the outage's length itself, not synchronisation
        pg_start(database_url)
        return time.monotonic() - started

    yield restart
    if not pg_is_up(database_url):
        pg_start(database_url)
    with connect(database_url) as conn:
        conn.execute("alter system reset synchronous_commit")
        conn.execute("select pg_reload_conf()")


def overlapping_runs(records: list[dict[str, Any]]) -> list[tuple[Any, str, str]]:
    """From job.succeeded log records (timestamp = end, duration_ms): job ids that had two runs at the
    same time, with the first run's end and the second's start. Runs of one job in sequence (a retry) are fine."""
    import datetime as dt

    spans: dict[Any, list[tuple[dt.datetime, dt.datetime]]] = {}
    for r in records:
        end = dt.datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
        spans.setdefault(r["job_id"], []).append((end - dt.timedelta(milliseconds=r["duration_ms"]), end))
    out = []
    for job_id, runs in spans.items():
        runs.sort()
        for (_s1, e1), (s2, _e2) in itertools.pairwise(runs):
            if s2 < e1:
                out.append((job_id, e1.isoformat(), s2.isoformat()))
    return out


@pytest.fixture
def fresh_queue(database_url: str) -> None:
    """Jobs left by other tests belong to nobody here: a service started now would claim them all."""
    abandon_leftover_jobs(database_url)


# ---- processes ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("resilience-logs")


@pytest.fixture(scope="module")
def sandbox_factory(log_dir: Path) -> Iterator[Callable[..., Proc]]:
    """sandbox_factory(extra_env) → a sandbox process for this module (its state is its own)."""
    procs: list[Proc] = []

    def make(extra_env: Mapping[str, str] | None = None) -> Proc:
        proc = start_sandbox(log_dir, {"SANDBOX_WEBHOOK_RETRY_DELAYS": "[0.2,0.4,0.8,1.6]", **(extra_env or {})})
        procs.append(proc)
        return proc

    try:
        yield make
        # However the service was broken, it never sent a request the official spec calls invalid.
        for proc in procs:
            if proc.popen.poll() is None:
                assert_sandbox_clean(proc.url)
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture
def service_factory(log_dir: Path, database_url: str) -> Iterator[Callable[..., Proc]]:
    """service_factory(sandbox_url, extra_env=None, port=None) → a service process; every one still
    running is SIGKILLed at the end of the test (the queue's leases clean up after it)."""
    procs: list[Proc] = []

    def make(sandbox_url: str, extra_env: Mapping[str, str] | None = None, port: int | None = None) -> Proc:
        env = {"LOG_LEVEL": "INFO", "LOG_JSON": "true", **(extra_env or {})}
        proc = start_service(log_dir, database_url, sandbox_url, env, port=port)
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        proc.kill()


def service_events(proc: Proc, event: str | None = None) -> list[dict[str, Any]]:
    """The service's JSON log lines (optionally only one event name). A log file is per port, so a
    restarted service on the same port overwrites it: read it before restarting if you need it."""
    out = []
    for line in proc.log().splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if event is None or record.get("event") == event:
            out.append(record)
    return out


# ---- customers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedCustomer:
    cpa_id: uuid.UUID
    client_id: uuid.UUID
    finicity_customer_id: str  # the Finicity customer id
    completed: dict[str, Any]  # /_sandbox/connect/complete's answer


def complete_connect(
    sandbox_url: str, finicity_customer_id: str, *, accounts: int = 2, months: int = 3, per_month: int = 10,
    seed: int = 1, oauth: bool = True, wait: bool = True, history_loaded: bool = True,
) -> dict[str, Any]:
    """The client finishes Connect at the sandbox (FinBank profile); with wait=False the webhooks are
    delivered (and retried) in the background. `history_loaded`: the bank serves every month at once
    (these tests break the backfill, not the 180-day rule, which tests/integration and tests/e2e cover)."""
    profile = {"oauth": oauth, "accounts": accounts, "months": months, "seed": seed,
               "transactionsPerAccountPerMonth": per_month, "historyLoaded": history_loaded}
    response = httpx.post(
        f"{sandbox_url}/_sandbox/connect/complete",
        json={"customerId": finicity_customer_id, "wait": wait, "profile": profile},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def linked_customer_factory(database_url: str, make_cpa, make_client, settings_factory):  # type: ignore[no-untyped-def]
    """linked_customer_factory(sandbox_url, months=..., accounts=..., per_month=..., seed=...,
    webhook_url=None, wait=True, complete=True) → LinkedCustomer.

    The customer is created the way the link flow creates it (service.sync.link.ensure_customer: the
    `open_banking_customers` row and the sandbox customer), a Connect link is generated (with
    `webhook_url` as its webhook, or none: then no webhooks are sent), and Connect is completed at the
    sandbox with a FinBank profile. Nothing is synced: queue a sync (request_sync) or let the webhooks
    do it. Uses the shared partner-token cache in the database, like any service process."""
    from service.sync.link import ensure_customer
    from service.wiring import services_for

    def make(
        sandbox_url: str,
        *,
        accounts: int = 2,
        months: int = 3,
        per_month: int = 10,
        seed: int = 1,
        oauth: bool = True,
        webhook_url: str | None = None,
        wait: bool = True,
        complete: bool = True,
    ) -> LinkedCustomer:
        cpa = make_cpa()
        client = make_client(cpa)
        settings = settings_factory(open_banking_base_url=sandbox_url, log_level="WARNING")

        async def link() -> str:
            async with services_for(settings) as services:
                finicity_customer_id = await ensure_customer(services, client, "Maya")
                await services.finicity.generate_connect_link(
                    finicity_customer_id, str(settings.open_banking_redirect_uri),
                    webhook_url, webhook_data={"platformClientId": str(client)} if webhook_url else None,
                )
                return finicity_customer_id

        finicity_customer_id = asyncio.run(link())
        if not complete:
            return LinkedCustomer(cpa, client, finicity_customer_id, {})
        done = complete_connect(sandbox_url, finicity_customer_id, accounts=accounts, months=months,
                                per_month=per_month, seed=seed, oauth=oauth, wait=wait)
        return LinkedCustomer(cpa, client, finicity_customer_id, done)

    return make


@pytest.fixture
def override_setting(database_url: str) -> Iterator[Callable[[str, str], None]]:
    """override_setting(key, value): change a private.ob_settings value for this test only."""
    saved: dict[str, str | None] = {}

    def override(key: str, value: str) -> None:
        with connect(database_url) as conn:
            if key not in saved:
                row = conn.execute("select value from private.ob_settings where key = %s", (key,)).fetchone()
                saved[key] = row[0] if row else None
            conn.execute(
                "insert into private.ob_settings (key, value) values (%s, %s) "
                "on conflict (key) do update set value = excluded.value",
                (key, value),
            )

    yield override
    wait_for("the database (to restore settings)", lambda: pg_is_up(database_url), timeout=30)
    with connect(database_url) as conn:
        for key, value in saved.items():
            if value is None:
                conn.execute("delete from private.ob_settings where key = %s", (key,))
            else:
                conn.execute("update private.ob_settings set value = %s where key = %s", (value, key))


def date_filter_rules() -> list[str]:
    """The sandbox date-filter rules the heavy tests run under: `transactionDate` (the one a window by
    posted date gets wrong) in make test, both in make soak (RESILIENCE_DATE_FILTERS)."""
    return os.environ.get("RESILIENCE_DATE_FILTERS", "transactionDate").split(",")
