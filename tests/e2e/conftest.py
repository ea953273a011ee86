"""End-to-end fixtures: the sandbox and the service as real processes on loopback, sharing the
test database, exactly as `make up` runs them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from tests.support.judge import assert_sandbox_clean
from tests.support.processes import Proc, abandon_leftover_jobs, start_stack
from tests.support.truth import Truth, db_truth_on

T = TypeVar("T")


# One sandbox and one service for the whole of tests/e2e (package scope: stopped after its last test,
# before other directories' tests share the database): every story runs on the same processes, as they
# would in `make up`, and the processes start once.


@pytest.fixture(scope="package")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="package")
def storage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The service's document store (the local stack's: storage.objects rows plus this folder)."""
    return tmp_path_factory.mktemp("documents")


@pytest.fixture(scope="package")
def stack(log_dir: Path, database_url: str, storage_dir: Path) -> Iterator[tuple[Proc, Proc]]:
    abandon_leftover_jobs(database_url)
    sandbox, service = start_stack(
        log_dir, database_url, {"SANDBOX_WEBHOOK_RETRY_DELAYS": "[0.2,0.4,0.8,1.6]"},
        {"LOG_LEVEL": "INFO", "OPEN_BANKING_STORAGE_DIR": str(storage_dir)},
    )
    try:
        yield sandbox, service
        # The run ends with 0 requests the official spec calls invalid (tests/support/judge.py).
        assert_sandbox_clean(sandbox.url)
    finally:
        service.stop()
        sandbox.stop()


@pytest.fixture(scope="package")
def sandbox_proc(stack: tuple[Proc, Proc]) -> Proc:
    return stack[0]


@pytest.fixture(scope="package")
def service_proc(stack: tuple[Proc, Proc]) -> Proc:
    return stack[1]


@pytest.fixture
def sandbox_api(sandbox_proc: Proc) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_proc.url, timeout=60) as client:
        yield client


@contextmanager
def as_cpa(database_url: str, cpa_id: uuid.UUID) -> Iterator[psycopg.Connection[Any]]:
    """A request from the React app: PostgREST's role and claims for a signed-in CPA."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": str(cpa_id), "role": "authenticated"}),),
        )
        yield conn


def sandbox_truth(
    sandbox_api: httpx.Client, finicity_customer_id: str
) -> dict[str, tuple[int, Decimal, frozenset[int]]]:
    body = sandbox_api.get(f"/_sandbox/customers/{finicity_customer_id}").json()
    return {
        a["id"]: (len(a["liveTransactionIds"]), Decimal(a["liveAmountTotal"]), frozenset(a["liveTransactionIds"]))
        for a in body["accounts"]
    }


def cpa_view(database_url: str, cpa_id: uuid.UUID, client_id: uuid.UUID) -> Truth:
    with as_cpa(database_url, cpa_id) as conn:
        return db_truth_on(conn, client_id)


def badge(database_url: str, cpa_id: uuid.UUID, client_id: uuid.UUID) -> str | None:
    with as_cpa(database_url, cpa_id) as conn:
        row = conn.execute(
            "select badge from public.open_banking_client_status where platform_client_id = %s", (client_id,)
        ).fetchone()
    return row[0] if row else None
