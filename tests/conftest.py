"""Shared fixtures: the real local Postgres (migrations applied by `make test`/`make up`), CPAs and
clients made per test, and the RPC port through both adapters."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest

from service.db.postgres import PostgresRpc
from service.db.supabase import SupabaseRpc
from tests.support.postgrest import PostgrestRpcTransport, mint_jwt

JWT_SECRET = "local-test-jwt-secret-with-at-least-32-characters"


def _database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:54329/postgres")


@pytest.fixture(scope="session")
def database_url() -> str:
    url = _database_url()
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"no database at {url}: run `make test`, or keep one for development with "
            f"`STACK_NAME=test STACK_PORT=54329 SEED=0 scripts/stack.sh db-up` — {exc}",
            returncode=3,
        )
    return url


@pytest.fixture(scope="session")
def authenticator_url(database_url: str) -> str:
    """How PostgREST logs in: as `authenticator`, which may only switch to the API roles."""
    conninfo = psycopg.conninfo.conninfo_to_dict(database_url)
    conninfo.update(user="authenticator", password="authenticator")
    return psycopg.conninfo.make_conninfo(**conninfo)


@pytest.fixture
def pg(database_url: str) -> Iterator[psycopg.Connection]:
    """A superuser connection for arranging rows and inspecting results (bypasses RLS)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def make_cpa(pg: psycopg.Connection):
    def make(email: str | None = None) -> uuid.UUID:
        user_id = uuid.uuid4()
        pg.execute(
            "insert into auth.users (id, aud, role, email) values (%s, 'authenticated', 'authenticated', %s)",
            (user_id, email or f"cpa-{user_id.hex[:8]}@example.test"),
        )
        return user_id

    return make


@pytest.fixture
def make_client(pg: psycopg.Connection):
    def make(cpa_id: uuid.UUID) -> uuid.UUID:
        # Only the host contract's columns: the migrations read nothing else of a platform's clients.
        client_id = uuid.uuid4()
        pg.execute("insert into public.clients (id, user_id) values (%s, %s)", (client_id, cpa_id))
        return client_id

    return make


@contextmanager
def acting_as(database_url: str, role: str, sub: uuid.UUID | None = None) -> Iterator[psycopg.Connection]:
    """A transaction that looks to Postgres exactly like a PostgREST request by that caller."""
    claims = {"role": role} | ({"sub": str(sub)} if sub else {})
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            (role, json.dumps(claims)),
        )
        try:
            yield conn
        finally:
            conn.rollback()


@pytest.fixture(params=["postgres", "supabase"])
async def rpc(request: pytest.FixtureRequest, database_url: str, authenticator_url: str) -> AsyncIterator[object]:
    """The RPC port through each adapter, against the same real database."""
    if request.param == "postgres":
        port: PostgresRpc | SupabaseRpc = PostgresRpc(database_url, max_size=4)
        await port.open()
    else:
        transport = PostgrestRpcTransport(authenticator_url, JWT_SECRET)
        http = httpx.AsyncClient(transport=transport, base_url="http://supabase.test")
        port = SupabaseRpc("http://supabase.test", mint_jwt(JWT_SECRET, "service_role"), http=http)
        await port.open()
    yield port
    await port.close()


LOCAL_ENV = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scripts", "local.env")


@pytest.fixture(scope="session")
def settings_factory(database_url: str):
    """Real Settings from the local env file (the values `make up` uses), with overrides."""
    from service.settings import Settings

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {"database_url": database_url, "log_json": True}
        values.update(overrides)
        return Settings(_env_file=LOCAL_ENV, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def empty_queue(pg: psycopg.Connection) -> None:
    """Worker tests own the queue: nothing waiting or running from earlier tests."""
    pg.execute("delete from private.ob_jobs where status in ('queued', 'running')")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that touches the database asks for `database_url` (directly or through another
    fixture) and is marked `database`: `make test-fast` runs the others beside them, in a second
    process that has no database to reach."""
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)
