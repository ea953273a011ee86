"""Where documents are kept: one private Supabase Storage bucket, objects under `{platform_client_id}/`.

Two stores, one interface, chosen like the database adapters:
- `SupabaseStore`: supabase-py's Storage client (storage3) with the service-role key, as on hosted
  Supabase (when `SUPABASE_URL` + `SUPABASE_SERVICE_ROLE_KEY` are set);
- `LocalStore`: the local stack has no Storage server, so objects are kept the way it keeps them, a
  row in the local database's `storage.objects` and the bytes in a folder (`OPEN_BANKING_STORAGE_DIR`).
Uploads replace (upsert), so a retried job writes the same object again rather than a second one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx
from storage3 import AsyncStorageClient
from storage3._async.file_api import AsyncBucketProxy
from storage3.exceptions import StorageApiError

from service.documents.local_objects import SERVICE_CLAIMS, LocalObjects

if TYPE_CHECKING:
    from service.settings import Settings

BUCKET = "open-banking-documents"
_REMOVE_BATCH = 1000


class StorageUnavailable(Exception):
    """Storage could not be reached or failed; the job should retry later."""


class DocumentStore(Protocol):
    async def put(self, name: str, data: bytes, content_type: str) -> None: ...

    async def get(self, name: str) -> bytes: ...

    async def signed_url(self, name: str, expires_in: int) -> str: ...

    async def remove_under(self, prefix: str) -> int:
        """Remove every object under `prefix` (a client's folder); returns how many."""
        ...

    async def close(self) -> None: ...


class SupabaseStore:
    def __init__(self, url: str, service_role_key: str, *, http: httpx.AsyncClient | None = None) -> None:
        headers = {"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"}
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))
        self._client = AsyncStorageClient(f"{url.rstrip('/')}/storage/v1/", headers, http_client=self._http)

    def _bucket(self) -> AsyncBucketProxy:
        return self._client.from_(BUCKET)

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        try:
            await self._bucket().upload(name, data, {"content-type": content_type, "upsert": "true"})
        except (StorageApiError, httpx.TransportError) as exc:
            raise StorageUnavailable(f"upload {BUCKET}/{name}: {exc}") from exc

    async def get(self, name: str) -> bytes:
        return await self._bucket().download(name)

    async def signed_url(self, name: str, expires_in: int) -> str:
        return (await self._bucket().create_signed_url(name, expires_in))["signedURL"] or ""

    async def _names_under(self, prefix: str) -> list[str]:
        names: list[str] = []
        offset = 0
        while True:
            page = await self._bucket().list(prefix, {"limit": 1000, "offset": offset})
            for entry in page:
                path = f"{prefix.rstrip('/')}/{entry['name']}"
                if entry.get("id") is None:  # a folder
                    names += await self._names_under(path)
                else:
                    names.append(path)
            if len(page) < 1000:
                return names
            offset += 1000

    async def remove_under(self, prefix: str) -> int:
        try:
            names = await self._names_under(prefix)
            for i in range(0, len(names), _REMOVE_BATCH):
                await self._bucket().remove(names[i : i + _REMOVE_BATCH])
        except (StorageApiError, httpx.TransportError) as exc:
            raise StorageUnavailable(f"remove {BUCKET}/{prefix}: {exc}") from exc
        return len(names)

    async def close(self) -> None:
        await self._http.aclose()


class LocalStore:
    def __init__(self, dsn: str, root: Path) -> None:
        self._objects = LocalObjects(dsn, root)

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        await self._objects.put(SERVICE_CLAIMS, BUCKET, name, data, content_type, upsert=True)

    async def get(self, name: str) -> bytes:
        data = self._objects.read(BUCKET, name)
        if data is None:
            raise FileNotFoundError(f"{BUCKET}/{name}")
        return data

    async def signed_url(self, name: str, expires_in: int) -> str:
        # No Storage server locally: the object's file is the download.
        return self._objects.file(BUCKET, name).as_uri()

    async def remove_under(self, prefix: str) -> int:
        rows = await self._objects.under(SERVICE_CLAIMS, BUCKET, prefix.rstrip("/") + "/")
        return len(await self._objects.remove(SERVICE_CLAIMS, BUCKET, [r[0] for r in rows]))

    async def close(self) -> None:
        await self._objects.close()


def create_store(settings: Settings) -> DocumentStore:
    """Supabase Storage when the service talks to Supabase; the local store with DATABASE_URL."""
    if settings.database_adapter == "supabase":
        assert settings.supabase_url is not None and settings.supabase_service_role_key is not None
        return SupabaseStore(str(settings.supabase_url), settings.supabase_service_role_key.get_secret_value())
    assert settings.database_url is not None
    return LocalStore(settings.database_url.get_secret_value(), settings.open_banking_storage_dir)
