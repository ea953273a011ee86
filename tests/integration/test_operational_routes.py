"""/metrics is cheap and private, /schema is off in production: the real app against the real database.

Scans of the job table are read from pg_stat_user_tables after the app's connections have closed
(a backend flushes its statistics when it exits), with pg_cron's jobs paused so only the app counts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.support.scheduler import scheduler_paused
from tests.support.waiting import wait_for

TOKEN = "metrics-token-for-tests-0123456789"


def job_table_scans(pg: psycopg.Connection) -> int:
    pg.execute("select pg_stat_clear_snapshot()")
    row = pg.execute(
        "select coalesce(seq_scan, 0) + coalesce(idx_scan, 0) from pg_stat_user_tables "
        "where schemaname = 'private' and relname = 'ob_jobs'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def wait_until_gone(pg: psycopg.Connection, application_name: str) -> None:
    """The app's pool has closed; its backends flush their statistics as they exit."""
    wait_for("the app's database sessions to end", lambda: pg.execute(
        "select count(*) from pg_stat_activity where application_name = %s", (application_name,)).fetchone() == (0,),
        timeout=30)


@pytest.fixture
def cron_paused(database_url: str) -> Iterator[None]:
    """pg_cron's sweeper reads the job table every minute; pause every job for the measurement."""
    with scheduler_paused(database_url):
        yield


@pytest.fixture
def tagged_url(database_url: str) -> tuple[str, str]:
    name = f"metrics-test-{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in database_url else "?"
    return f"{database_url}{sep}application_name={name}", name


@pytest.mark.soak
async def test_a_thousand_scrapes_read_the_job_table_once_per_interval(
        settings_factory, pg: psycopg.Connection, cron_paused: None, tagged_url: tuple[str, str]) -> None:
    url, name = tagged_url
    # How many scans one read of the counts costs (the positive control: the counter does move).
    before = job_table_scans(pg)
    with psycopg.connect(url, autocommit=True) as own:
        own.execute("set role service_role")
        own.execute("select public.ob_job_overview(0)")
    wait_until_gone(pg, name)
    per_read = job_table_scans(pg) - before
    assert per_read >= 1

    settings = settings_factory(database_url=url, metrics_bearer_token=TOKEN)
    app = create_app(settings, run_worker=False)
    before = job_table_scans(pg)
    started = time.monotonic()
    async with AsyncTestClient(app=app) as client:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(1000):
            answer = await client.get("/metrics", headers=headers)
            assert answer.status_code == 200
            assert "ob_job_queue_depth" in answer.text
        reads = app.state.queue_gauges.reads
    elapsed = time.monotonic() - started
    wait_until_gone(pg, name)
    scans = job_table_scans(pg) - before

    assert 1 <= reads <= 1 + int(elapsed // settings.metrics_queue_refresh_seconds)
    assert scans == reads * per_read, (scans, reads, per_read)


async def test_metrics_need_the_bearer_token_when_one_is_set(settings_factory) -> None:
    app = create_app(settings_factory(metrics_bearer_token=TOKEN), run_worker=False)
    async with AsyncTestClient(app=app) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in missing.text + wrong.text
    assert right.status_code == 200 and "ob_job_queue_depth" in right.text


def test_production_refuses_a_missing_or_short_metrics_token(settings_factory) -> None:
    local = settings_factory()
    assert ("METRICS_BEARER_TOKEN", "is required in production: /metrics must not be public") \
        in local.production_refusals()
    short = settings_factory(metrics_bearer_token="short-token")
    assert any(name == "METRICS_BEARER_TOKEN" and "32 characters" in why for name, why in short.production_refusals())
    assert not any(name == "METRICS_BEARER_TOKEN" for name, _ in settings_factory(metrics_bearer_token=TOKEN)
                   .production_refusals())


@pytest.mark.parametrize(
    ("overrides", "served"),
    [
        ({}, True),
        ({"open_banking_env": "test"}, True),
        ({"openapi_enabled": True}, True),
        ({"openapi_enabled": False}, False),
    ],
)
async def test_schema_and_swagger_are_off_in_production_unless_enabled(
        settings_factory, overrides: dict[str, object], served: bool) -> None:
    settings: Settings = settings_factory(**overrides)
    async with AsyncTestClient(app=create_app(settings, run_worker=False)) as client:
        document = await client.get("/schema/openapi.json")
        swagger = await client.get("/schema/swagger")
        health = await client.get("/healthz")
    assert health.status_code == 200
    if served:
        assert document.status_code == swagger.status_code == 200
        assert "/metrics" in document.json()["paths"]
    else:
        assert document.status_code == swagger.status_code == 404


def test_production_turns_openapi_off_unless_enabled() -> None:
    # Real production settings cannot be built from the local env (it refuses the local secrets), so
    # the rule is checked on the settings object itself; the routes above follow serves_openapi.
    assert Settings.model_construct(open_banking_env="production", openapi_enabled=None).serves_openapi is False
    assert Settings.model_construct(open_banking_env="production", openapi_enabled=True).serves_openapi is True
    assert Settings.model_construct(open_banking_env="local", openapi_enabled=None).serves_openapi is True
