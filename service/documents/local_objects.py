"""Objects kept the way Supabase Storage keeps them: a row in `storage.objects`, the bytes in a folder.

Every row access runs as a role with `request.jwt.claims` set (as the Storage server does), so the
`storage.objects` policies decide what a caller may see. Two users: the local `postgres`-mode store
(as `service_role`) and the tests' Storage API stand-in (as the caller of each request).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import psycopg

SERVICE_CLAIMS: dict[str, Any] = {"role": "service_role"}
_INSERT = (
    "insert into storage.objects (bucket_id, name, owner, owner_id, metadata) values (%s, %s, %s, %s, %s) returning id"
)
_UPSERT = _INSERT.replace(
    "returning id",
    "on conflict (bucket_id, name) do update set metadata = excluded.metadata, updated_at = now() returning id",
)


class Duplicate(Exception):
    """An object with that name exists and the upload did not ask to replace it."""


class Denied(Exception):
    """The storage.objects policies do not let this caller write there (or the bucket is unknown)."""


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class LocalObjects:
    def __init__(self, dsn: str, root: Path) -> None:
        self._dsn = dsn
        self.root = root
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the one connection

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def _run(self, claims: dict[str, Any], sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(self._dsn)
            conn = self._conn
            async with conn.transaction():
                await conn.execute(
                    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                    (claims.get("role", "anon"), json.dumps(claims)),
                )
                cur = await conn.execute(sql.encode(), params)
                return await cur.fetchall() if cur.description else []

    def file(self, bucket: str, name: str) -> Path:
        path = (self.root / bucket / name).resolve()
        if not path.is_relative_to(self.root.resolve()) or path == self.root.resolve():
            raise ValueError("object name escapes the bucket")
        return path

    async def put(
        self, claims: dict[str, Any], bucket: str, name: str, data: bytes, content_type: str, upsert: bool
    ) -> str:
        """Store the bytes, then the row; returns the object id. The file is replaced atomically."""
        target = self.file(bucket, name)
        metadata = {
            "size": len(data),
            "mimetype": content_type,
            "eTag": f'"{hashlib.md5(data).hexdigest()}"',  # noqa: S324 (an ETag, as S3 makes it)
            "cacheControl": "max-age=3600",
            "contentLength": len(data),
            "httpStatusCode": 200,
        }
        sub = claims.get("sub")
        try:
            rows = await self._run(
                claims, _UPSERT if upsert else _INSERT, (bucket, name, sub, sub, json.dumps(metadata))
            )
        except psycopg.errors.UniqueViolation:
            raise Duplicate(f"{bucket}/{name}") from None
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ForeignKeyViolation) as exc:
            raise Denied(str(exc)) from None
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
        tmp.write_bytes(data)
        tmp.replace(target)
        return str(rows[0][0])

    async def visible(self, claims: dict[str, Any], bucket: str, name: str) -> bool:
        sql = "select 1 from storage.objects where bucket_id = %s and name = %s"
        return bool(await self._run(claims, sql, (bucket, name)))

    def read(self, bucket: str, name: str) -> bytes | None:
        path = self.file(bucket, name)
        return path.read_bytes() if path.is_file() else None

    async def under(self, claims: dict[str, Any], bucket: str, prefix: str) -> list[tuple[Any, ...]]:
        """(name, id, updated_at, created_at, metadata) of every visible object under `prefix`."""
        return await self._run(
            claims,
            "select name, id, updated_at, created_at, metadata from storage.objects "
            "where bucket_id = %s and name like %s order by name",
            (bucket, _like_prefix(prefix)),
        )

    async def remove(self, claims: dict[str, Any], bucket: str, names: list[str]) -> list[tuple[Any, ...]]:
        """Delete the visible ones among `names`: rows first, then files; returns (name, id, metadata)."""
        rows = await self._run(
            claims,
            "delete from storage.objects where bucket_id = %s and name = any(%s) returning name, id, metadata",
            (bucket, names),
        )
        for name, *_ in rows:
            self.file(bucket, name).unlink(missing_ok=True)
        return rows
