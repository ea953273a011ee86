"""Documents through real processes: after the CPA story (link, Connect, webhooks, sync), the CPA asks,
under RLS, for the last 3 statements of each account and a CSV + QBO export of 12 months. The running
service (woken by the request's NOTIFY) buys the statements from the sandbox and writes every file to
its document store (the local stack's: storage.objects rows plus a folder). The files are then read
the Supabase way, through the Storage API stand-in over that same database and folder, with the CPA's
token and with another CPA's token."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from service.documents.statements import months_back
from service.documents.storage import BUCKET, SupabaseStore
from tests.conftest import JWT_SECRET
from tests.e2e.conftest import as_cpa, cpa_view, sandbox_truth
from tests.e2e.test_cpa_story import _complete, _customer_id, _request_link, _sent_link
from tests.support.documents import db_export_rows, ofx_rows, pdf_text
from tests.support.postgrest import mint_jwt
from tests.support.processes import Proc, service_env
from tests.support.storage import StorageTransport
from tests.support.waiting import wait_for

STATEMENT_OPS = ("GetCustomerAccountStatement", "GetCustomerAccountMultipleStatement", "GetAssetByCustomerID")


def _cpa_with_client(pg: psycopg.Connection, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    cpa, client = uuid.uuid4(), uuid.uuid4()
    pg.execute(
        "insert into auth.users (id, aud, role, email) values (%s, 'authenticated', 'authenticated', %s)",
        (cpa, f"{name}-{cpa.hex[:8]}@example.test"),
    )
    pg.execute("insert into public.clients (id, user_id) values (%s, %s)", (client, cpa))
    return cpa, client


def _ask(database_url: str, cpa: uuid.UUID, client: uuid.UUID, columns: dict) -> str:
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    with as_cpa(database_url, cpa) as conn:
        (request_id,) = conn.execute(
            f"insert into public.open_banking_document_requests (platform_client_id, {names}) "
            f"values (%s, {marks}) returning id",
            (client, *columns.values()),
        ).fetchone()
        conn.commit()
    return str(request_id)


def _finished(database_url: str, cpa: uuid.UUID, request_id: str) -> tuple:
    def probe() -> tuple | None:
        with as_cpa(database_url, cpa) as conn:
            row = conn.execute(
                "select status, documents_ready, documents_failed, error_message "
                "from public.open_banking_document_requests where id = %s",
                (request_id,),
            ).fetchone()
        return row if row and row[0] in ("succeeded", "partial", "failed") else None

    return wait_for(f"document request {request_id}", probe, timeout=120)


def _statement_calls(sandbox_api: httpx.Client) -> dict:
    ops = sandbox_api.get("/_sandbox/stats").json()["operations"]
    return {op: ops.get(op, {}) for op in STATEMENT_OPS}


def test_cpa_gets_statements_and_exports_and_another_cpa_reads_none(
    database_url: str, authenticator_url: str, sandbox_api: httpx.Client, storage_dir: Path, service_proc: Proc
) -> None:
    with psycopg.connect(database_url, autocommit=True) as pg:
        cpa, client = _cpa_with_client(pg, "Docs Client")
        other, _ = _cpa_with_client(pg, "Other Client")
        _sent_link(database_url, cpa, _request_link(database_url, cpa, client, "docs@client.test"))
        finicity_customer_id = _customer_id(pg, client)
    _complete(sandbox_api, finicity_customer_id, seed=29)
    truth = sandbox_truth(sandbox_api, finicity_customer_id)
    wait_for("the sync", lambda: cpa_view(database_url, cpa, client) == truth, timeout=90)

    # 12 months: the last complete month (UTC) and the 11 before it
    end = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
    start = months_back(end.replace(day=1), 11)
    statements = _ask(database_url, cpa, client, {"kind": "statements", "last_n": 3})
    export = _ask(
        database_url, cpa, client, {"kind": "export", "from_date": start, "to_date": end, "formats": ["csv", "qbo"]}
    )
    assert _finished(database_url, cpa, statements)[:3] == ("succeeded", 9, 0)
    assert _finished(database_url, cpa, export)[:3] == ("succeeded", 4, 0)

    with as_cpa(database_url, cpa) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        docs = cur.execute(
            "select * from public.open_banking_documents where platform_client_id = %s", (client,)
        ).fetchall()
    assert len(docs) == 13 and all(d["status"] == "ready" for d in docs)
    with psycopg.connect(database_url) as pg:
        objects = {
            name: size
            for name, size in pg.execute(
                "select name, (metadata ->> 'size')::bigint from storage.objects where bucket_id = %s and name like %s",
                (BUCKET, f"{client}/%"),
            ).fetchall()
        }
        assert objects == {d["storage_path"]: d["size_bytes"] for d in docs}
        qbo_truth = {
            d["account_id"]: db_export_rows(pg, d["account_id"], start, end) for d in docs if d["format"] == "qbo"
        }
    for name in objects:
        assert (storage_dir / BUCKET / name).is_file()

    async def read_back() -> None:
        transport = StorageTransport(authenticator_url, JWT_SECRET, storage_dir)

        def store(user: uuid.UUID) -> SupabaseStore:
            token = mint_jwt(JWT_SECRET, "authenticated", str(user))
            return SupabaseStore("http://supabase.test", token, http=httpx.AsyncClient(transport=transport))

        mine, theirs = store(cpa), store(other)
        try:
            for doc in docs:
                data = await mine.get(doc["storage_path"])
                assert len(data) == doc["size_bytes"]
                if doc["kind"] == "statement":
                    text = pdf_text(data)
                    assert f"Account ID: {doc['account_id']}" in text
                    assert f"Statement period: {doc['period_start']:%m/%d/%Y} - {doc['period_end']:%m/%d/%Y}" in text
                elif doc["format"] == "qbo":
                    assert qbo_truth[doc["account_id"]] and ofx_rows(data) == qbo_truth[doc["account_id"]]
                else:
                    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
                    assert len(rows) == doc["transaction_count"] == sum(len(v) for v in qbo_truth.values())
                    assert sum(Decimal(r["amount"]) for r in rows) == doc["total_amount"]
                with pytest.raises(Exception, match="Object not found"):
                    await theirs.get(doc["storage_path"])
            assert len(await mine._names_under(str(client))) == 13
            assert await theirs._names_under(str(client)) == []
        finally:
            await mine.close()
            await theirs.close()
            await transport.aclose()

    asyncio.run(read_back())
    with as_cpa(database_url, other) as conn:
        assert conn.execute("select count(*) from public.open_banking_documents").fetchone() == (0,)

    # Asking again for the statements already held: no Mastercard call
    before = _statement_calls(sandbox_api)
    again = _ask(database_url, cpa, client, {"kind": "statements", "last_n": 3})
    assert _finished(database_url, cpa, again)[:3] == ("succeeded", 9, 0)
    assert _statement_calls(sandbox_api) == before

    # The operator CLI: list, then ask for one more (older) month, run here to the end
    sandbox_url = str(sandbox_api.base_url).rstrip("/")
    env = service_env(database_url, sandbox_url, 9, {"OPEN_BANKING_STORAGE_DIR": str(storage_dir)})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "service", "documents", *args], env=env, capture_output=True, text=True, timeout=120
        )

    listed = cli("list", str(client), "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 13
    assert cli("request", str(client), "--last", "2", "--month", "2026-01").returncode == 2
    month = months_back(end.replace(day=1), 3)
    made = cli("request", str(client), "--month", f"{month:%Y-%m}")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "succeeded: 3 ready, 0 failed" in made.stdout
    assert len(cli("list", str(client), "--json").stdout.splitlines()) == 16
    banks = cli("institutions", "--search", "finbank")
    assert banks.returncode == 0, banks.stderr
    assert "FinBank Oauth" in banks.stdout and "FinBank Billable" not in banks.stdout
