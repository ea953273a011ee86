"""The documents pipeline through real parts: a CPA's request rows (inserted under RLS), the real
`produce_documents` handler, the real Mastercard client against the sandbox app, the real database,
and Storage through supabase-py's client over the Storage API stand-in. Then a second CPA, with its own
token, tries to list and read the first one's files."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from service.documents.job import produce_documents
from service.documents.statements import NOT_CERTIFIED, index_of, wanted_months
from service.documents.storage import BUCKET, SupabaseStore
from service.jobs.types import Job
from service.runtime import Services
from service.sync.customer import sync_customer
from service.sync.delete import forget_client
from service.sync.link import ensure_customer
from service.wiring import services_for
from tests.conftest import JWT_SECRET, acting_as
from tests.integration.conftest import SANDBOX_URL
from tests.support.documents import db_export_rows, ofx_rows, pdf_text
from tests.support.postgrest import mint_jwt
from tests.support.storage import StorageTransport

SUPABASE_URL = "http://supabase.test"
STATEMENT_OPS = ("GetCustomerAccountStatement", "GetCustomerAccountMultipleStatement", "GetAssetByCustomerID")


class TimeoutASGITransport(httpx.ASGITransport):
    """The in-process sandbox, with the client's read timeout enforced as a socket would enforce it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        read = (request.extensions.get("timeout") or {}).get("read")
        try:
            return await asyncio.wait_for(super().handle_async_request(request), read)
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the response", request=request) from None


@pytest.fixture
def storage(authenticator_url: str, tmp_path: Path) -> StorageTransport:
    return StorageTransport(authenticator_url, JWT_SECRET, tmp_path / "storage")


@pytest.fixture
async def services(settings_factory, sandbox, storage) -> AsyncIterator[Services]:
    settings = settings_factory(open_banking_base_url=SANDBOX_URL)
    http = httpx.AsyncClient(transport=TimeoutASGITransport(app=sandbox.app), base_url=SANDBOX_URL)
    async with services_for(settings, finicity_http=http) as svc:
        svc.finicity.backoff_base = 0.001
        svc.finicity.backoff_cap = 0.01
        svc.finicity.retry_after_cap = 0.01
        # the hosted path: supabase-py's Storage client with the service-role key
        svc.document_store = SupabaseStore(
            SUPABASE_URL, mint_jwt(JWT_SECRET, "service_role"), http=httpx.AsyncClient(transport=storage)
        )
        yield svc
    await http.aclose()
    await storage.aclose()


async def _linked_client(
    services: Services, sandbox: AsyncTestClient, pg: psycopg.Connection, make_cpa, make_client, **profile: Any
) -> tuple[uuid.UUID, uuid.UUID, str]:
    cpa = make_cpa()
    client_id = make_client(cpa)
    finicity_id = await ensure_customer(services, client_id, "Dana")
    await services.finicity.generate_connect_link(finicity_id, "http://127.0.0.1:3000/done", "http://127.0.0.1:9/x")
    # historyLoaded: all 14 months served at once (these tests are about documents, not the 180-day rule)
    body = {"accounts": 3, "months": 14, "seed": 17, "transactionsPerAccountPerMonth": 12, "historyLoaded": True,
            **profile}
    response = await sandbox.post(
        "/_sandbox/connect/complete", json={"customerId": finicity_id, "wait": False, "profile": body}
    )
    assert response.status_code == 200, response.text
    await sync_customer(services, finicity_id)
    return cpa, client_id, finicity_id


def _request(database_url: str, cpa: uuid.UUID, client_id: uuid.UUID, **columns: Any) -> str:
    """The CPA's insert, under RLS, exactly as supabase-js would send it through PostgREST."""
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    with acting_as(database_url, "authenticated", cpa) as conn:
        (request_id,) = conn.execute(
            f"insert into public.open_banking_document_requests (platform_client_id, {names}) "
            f"values (%s, {marks}) returning id",
            (client_id, *columns.values()),
        ).fetchone()
        conn.commit()
    return str(request_id)


async def _run(services: Services, pg: psycopg.Connection, request_id: str, attempts: int = 1) -> None:
    (job_id,) = pg.execute(
        "select id from private.ob_jobs where dedupe_key = %s", (f"document_request:{request_id}",)
    ).fetchone()
    job = Job(
        id=job_id,
        kind="produce_documents",
        payload={"document_request_id": request_id},
        attempts=attempts,
        max_attempts=8,
    )
    await produce_documents(services, job)


async def _statement_calls(sandbox: AsyncTestClient) -> dict[str, dict[str, int]]:
    ops = (await sandbox.get("/_sandbox/stats")).json()["operations"]
    return {op: ops.get(op, {}) for op in STATEMENT_OPS}


def _documents(pg: psycopg.Connection, client_id: uuid.UUID) -> list[dict[str, Any]]:
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "select * from public.open_banking_documents where platform_client_id = %s "
            "order by kind, account_id, statement_month, format",
            (client_id,),
        ).fetchall()


async def test_statements_and_exports_land_in_storage_and_only_their_cpa_reads_them(
    services, sandbox, storage, pg, database_url, make_cpa, make_client
) -> None:
    cpa, client_id, _ = await _linked_client(services, sandbox, pg, make_cpa, make_client)
    accounts = pg.execute(
        "select id, name, type from public.open_banking_accounts where platform_client_id = %s order by id",
        (client_id,),
    ).fetchall()
    assert len(accounts) == 3

    # the last 3 statements of each account, and a CSV + QBO export of 12 months
    statements_id = _request(database_url, cpa, client_id, kind="statements", last_n=3)
    export_id = _request(
        database_url,
        cpa,
        client_id,
        kind="export",
        from_date=date(2025, 12, 1),
        to_date=date(2026, 11, 30),
        formats=["csv", "qbo"],
    )
    await _run(services, pg, statements_id)
    await _run(services, pg, export_id)

    status = pg.execute(
        "select id::text, status, documents_ready, documents_failed from public.open_banking_document_requests "
        "where platform_client_id = %s order by kind",
        (client_id,),
    ).fetchall()
    assert sorted(status) == sorted([(export_id, "succeeded", 4, 0), (statements_id, "succeeded", 9, 0)])
    docs = _documents(pg, client_id)
    statements = [d for d in docs if d["kind"] == "statement"]
    exports = [d for d in docs if d["kind"] == "export"]
    assert len(statements) == 9 and all(d["status"] == "ready" for d in statements)
    assert sorted((d["format"], d["account_id"]) for d in exports) == sorted(
        [("csv", None)] + [("qbo", a[0]) for a in accounts]
    )
    objects = pg.execute(
        "select name from storage.objects where bucket_id = %s and name like %s order by name",
        (BUCKET, f"{client_id}/%"),
    ).fetchall()
    assert sorted(o[0] for o in objects) == sorted(d["storage_path"] for d in docs)

    # The PDFs open and show their account and period
    request_row = {
        "created_at": pg.execute(
            "select created_at from public.open_banking_document_requests where id = %s", (statements_id,)
        )
        .fetchone()[0]
        .isoformat(),
        "last_n": 3,
    }
    months = wanted_months(request_row)
    assert [index_of(m, request_row) for m in months] == [1, 2, 3]
    for doc in statements:
        assert doc["statement_month"] in months
        pdf = await services.documents.get(doc["storage_path"])
        text = pdf_text(pdf)
        assert f"Account ID: {doc['account_id']}" in text
        assert f"Statement period: {doc['period_start']:%m/%d/%Y} - {doc['period_end']:%m/%d/%Y}" in text
        assert doc["size_bytes"] == len(pdf)

    # The QBO files parse with ofxtools and hold exactly the database's posted transactions of the range
    for doc in (d for d in exports if d["format"] == "qbo"):
        truth = db_export_rows(pg, doc["account_id"], date(2025, 12, 1), date(2026, 11, 30))
        assert truth, "the export range must hold transactions"
        assert ofx_rows(await services.documents.get(doc["storage_path"])) == truth
        assert doc["transaction_count"] == len(truth)
    csv_doc = next(d for d in exports if d["format"] == "csv")
    rows = list(
        csv.DictReader(io.StringIO((await services.documents.get(csv_doc["storage_path"])).decode(), newline=""))
    )
    assert (
        len(rows)
        == csv_doc["transaction_count"]
        == sum(d["transaction_count"] for d in exports if d["format"] == "qbo")
    )
    assert sum(Decimal(r["amount"]) for r in rows) == csv_doc["total_amount"]

    # The CPA reads its files through Storage with its own token; another CPA lists and reads none
    owner = SupabaseStore(
        SUPABASE_URL, mint_jwt(JWT_SECRET, "authenticated", str(cpa)), http=httpx.AsyncClient(transport=storage)
    )
    other = make_cpa()
    make_client(other)
    stranger = SupabaseStore(
        SUPABASE_URL, mint_jwt(JWT_SECRET, "authenticated", str(other)), http=httpx.AsyncClient(transport=storage)
    )
    some = statements[0]["storage_path"]
    assert await owner.get(some) == await services.documents.get(some)
    assert (await owner.signed_url(some, 60)).startswith(f"{SUPABASE_URL}/storage/v1/object/sign/")
    assert await stranger._bucket().list(str(client_id)) == []
    assert await stranger._names_under(str(client_id)) == []
    for doc in docs:
        with pytest.raises(Exception, match="Object not found"):
            await stranger.get(doc["storage_path"])
        with pytest.raises(Exception, match="Object not found"):
            await stranger.signed_url(doc["storage_path"], 60)
    assert len(await owner._names_under(str(client_id))) == len(docs)
    with acting_as(database_url, "authenticated", other) as conn:
        assert conn.execute("select count(*) from public.open_banking_documents").fetchone() == (0,)
    await owner.close()
    await stranger.close()

    # Asking again for statements already held makes no Mastercard call at all
    before = await _statement_calls(sandbox)
    again_id = _request(database_url, cpa, client_id, kind="statements", last_n=3)
    await _run(services, pg, again_id)
    assert await _statement_calls(sandbox) == before
    assert pg.execute(
        "select status, documents_ready from public.open_banking_document_requests where id = %s", (again_id,)
    ).fetchone() == ("succeeded", 9)
    assert len(_documents(pg, client_id)) == len(docs)

    # Deleting the client (the operator's door) removes its document rows and its Storage folder
    result = await forget_client(services, client_id)
    assert result["mastercard"] == "deleted"
    assert pg.execute("select count(*) from storage.objects where name like %s", (f"{client_id}/%",)).fetchone() == (0,)
    assert _documents(pg, client_id) == []
    assert not any((storage.objects.root / BUCKET / str(client_id)).rglob("*.*"))


async def test_unsupported_institution_is_a_per_document_error(
    services, sandbox, pg, database_url, make_cpa, make_client
) -> None:
    cpa, client_id, _ = await _linked_client(
        services, sandbox, pg, make_cpa, make_client, accounts=1, institutionId="101732"
    )
    request_id = _request(database_url, cpa, client_id, kind="statements", last_n=2)
    await _run(services, pg, request_id)  # the job itself succeeds: nothing to retry
    assert pg.execute(
        "select status, documents_ready, documents_failed from public.open_banking_document_requests where id = %s",
        (request_id,),
    ).fetchone() == ("failed", 0, 2)
    docs = _documents(pg, client_id)
    assert [(d["status"], d["error_message"], d["storage_path"]) for d in docs] == [("failed", NOT_CERTIFIED, None)] * 2
    # a month beyond Mastercard's 24 is refused per document, without a call
    before = await _statement_calls(sandbox)
    old = _request(database_url, cpa, client_id, kind="statements", statement_months=[date(2020, 1, 1)])
    await _run(services, pg, old)
    assert await _statement_calls(sandbox) == before
    (message,) = pg.execute(
        "select error_message from public.open_banking_documents where platform_client_id = %s "
        "and statement_month = '2020-01-01'",
        (client_id,),
    ).fetchone()
    assert "last 24" in message


async def test_where_only_the_pdf_exists_it_is_fetched_by_index_for_the_calendar_month(
    services, sandbox, pg, database_url, make_cpa, make_client
) -> None:
    cpa, client_id, _ = await _linked_client(
        services, sandbox, pg, make_cpa, make_client, accounts=1, institutionId="102168"
    )
    request_id = _request(database_url, cpa, client_id, kind="statements", last_n=2)
    await _run(services, pg, request_id)
    docs = _documents(pg, client_id)
    assert [d["status"] for d in docs] == ["ready", "ready"]
    for doc in docs:
        month = doc["statement_month"]
        assert doc["period_start"] == month and doc["period_end"].month == month.month
        assert (doc["period_end"] + timedelta(days=1)).day == 1
        text = pdf_text(await services.documents.get(doc["storage_path"]))
        assert f"Statement period: {month:%m/%d/%Y} - {doc['period_end']:%m/%d/%Y}" in text
    calls = await _statement_calls(sandbox)
    assert calls["GetCustomerAccountStatement"] == {"200": 2} and calls["GetAssetByCustomerID"] == {}


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "429", "retryAfter": 0},
        {"kind": "503", "retryAfter": 0},
        {"kind": "500"},
        {"kind": "latency", "latencyMs": 400},
    ],
    ids=["429", "503", "500", "timeout"],
)
async def test_faults_during_a_statement_download_end_in_a_retried_job_and_one_file(
    fault, services, sandbox, pg, database_url, make_cpa, make_client
) -> None:
    cpa, client_id, _ = await _linked_client(services, sandbox, pg, make_cpa, make_client, accounts=1)
    services.finicity.statement_timeout = httpx.Timeout(5.0, read=0.2)
    attempts_per_call = services.finicity.max_retries + 1
    # every attempt of the first download fails: the client gives up and the job fails
    response = await sandbox.post(
        "/_sandbox/faults", json={"endpoint": "statements", "count": attempts_per_call, **fault}
    )
    assert response.status_code == 201, response.text
    request_id = _request(database_url, cpa, client_id, kind="statements", last_n=2)
    with pytest.raises(Exception) as failed:
        await _run(services, pg, request_id, attempts=1)
    assert type(failed.value).__name__ in ("RateLimited", "ServerError", "TransportError")
    assert pg.execute(
        "select status from public.open_banking_document_requests where id = %s", (request_id,)
    ).fetchone() == ("running",)
    # the queue runs the job again: now the downloads go through, each file stored once
    await _run(services, pg, request_id, attempts=2)
    docs = _documents(pg, client_id)
    assert [d["status"] for d in docs] == ["ready", "ready"]
    objects = pg.execute(
        "select name from storage.objects where name like %s order by name", (f"{client_id}/%",)
    ).fetchall()
    assert [o[0] for o in objects] == sorted(d["storage_path"] for d in docs)
    ops = (await _statement_calls(sandbox))["GetAssetByCustomerID"]
    assert ops.get("200") == 2  # one successful (billable) download per statement
