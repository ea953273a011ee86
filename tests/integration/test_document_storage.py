"""Document storage through both stores against the real local database: the supabase-py Storage client
(storage3) over the Storage API stand-in, and the postgres-mode local store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest

from service.documents.storage import BUCKET, LocalStore, SupabaseStore
from tests.conftest import JWT_SECRET
from tests.support.postgrest import mint_jwt
from tests.support.storage import StorageTransport

PDF = b"%PDF-1.4\n% test\n%%EOF\n"


@pytest.fixture
def bucket(pg: psycopg.Connection) -> str:
    # The migration creates the bucket; tests that run before it must not depend on that.
    pg.execute(
        "insert into storage.buckets (id, name, public) values (%s, %s, false) on conflict do nothing", (BUCKET, BUCKET)
    )
    return BUCKET


@pytest.fixture
def storage_transport(authenticator_url: str, tmp_path: Path) -> StorageTransport:
    return StorageTransport(authenticator_url, JWT_SECRET, tmp_path / "storage")


@pytest.fixture(params=["supabase", "local"])
async def store(
    request: pytest.FixtureRequest, bucket: str, storage_transport: StorageTransport, database_url: str, tmp_path: Path
) -> AsyncIterator[SupabaseStore | LocalStore]:
    if request.param == "supabase":
        http = httpx.AsyncClient(transport=storage_transport)
        made: SupabaseStore | LocalStore = SupabaseStore(
            "http://supabase.test", mint_jwt(JWT_SECRET, "service_role"), http=http
        )
    else:
        made = LocalStore(database_url, tmp_path / "storage")
    yield made
    await made.close()
    await storage_transport.aclose()


def _rows(pg: psycopg.Connection, prefix: str) -> list[tuple]:
    return pg.execute(
        "select name, metadata->>'size', metadata->>'mimetype' from storage.objects "
        "where bucket_id = %s and name like %s order by name",
        (BUCKET, prefix + "%"),
    ).fetchall()


async def test_put_get_replace_and_remove_a_clients_folder(store, pg: psycopg.Connection, tmp_path: Path) -> None:
    client = str(uuid.uuid4())
    names = [f"{client}/statements/acct-1/2026-01.pdf", f"{client}/exports/r-1/all.csv", f"{client}/x.qbo"]
    for name in names:
        await store.put(name, PDF, "application/pdf")
    assert await store.get(names[0]) == PDF
    await store.put(names[0], PDF + b"v2", "application/pdf")  # a retried job replaces, never duplicates
    assert await store.get(names[0]) == PDF + b"v2"
    rows = _rows(pg, client)
    assert [r[0] for r in rows] == sorted(names)
    assert dict((r[0], r[1]) for r in rows)[names[0]] == str(len(PDF) + 2)
    other = str(uuid.uuid4())
    await store.put(f"{other}/keep.pdf", PDF, "application/pdf")
    assert await store.remove_under(client) == 3
    assert _rows(pg, client) == [] and len(_rows(pg, other)) == 1
    assert not (tmp_path / "storage" / BUCKET / client / "x.qbo").exists()
    assert (tmp_path / "storage" / BUCKET / other / "keep.pdf").read_bytes() == PDF


async def test_signed_url_downloads_without_credentials(bucket, storage_transport: StorageTransport) -> None:
    store = SupabaseStore(
        "http://supabase.test",
        mint_jwt(JWT_SECRET, "service_role"),
        http=httpx.AsyncClient(transport=storage_transport),
    )
    name = f"{uuid.uuid4()}/statements/a/2026-02.pdf"
    await store.put(name, PDF, "application/pdf")
    url = await store.signed_url(name, 60)
    assert url.startswith("http://supabase.test/storage/v1/object/sign/") and "token=" in url
    async with httpx.AsyncClient(transport=storage_transport) as anonymous:
        assert (await anonymous.get(url)).content == PDF
        forged = url.replace(name, name.replace("2026-02", "2026-03"))
        assert (await anonymous.get(forged)).status_code == 400
    await store.close()
