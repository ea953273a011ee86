"""What Supabase Storage does for the calls we use, and nothing more, as an httpx transport.

The Storage server cannot be installed here (no Docker; not in Debian, PyPI or npm), so tests drive
supabase-py's (and, by the same contract, supabase-js's) real requests through this, the way
`postgrest.py` stands in for PostgREST. Like the real server it keeps object rows in the local
database's `storage.objects` and the bytes in a folder, verifies the JWT (HS256, project secret),
and runs every row access as the JWT's role with `request.jwt.claims` set, so the `storage.objects`
policies decide what a CPA may read or write. Routes (under `/storage/v1`):

    POST   /object/{bucket}/{path}            upload (multipart `file`; `x-upsert: true` replaces)
    GET    /object/{bucket}/{path}            download (also /object/authenticated/...)
    POST   /object/sign/{bucket}/{path}       {"expiresIn"} -> {"signedURL": "/object/sign/...?token="}
    GET    /object/sign/{bucket}/{path}?token download by signed URL (no Authorization needed)
    POST   /object/list/{bucket}              {"prefix", "limit", "offset"} -> one folder level
    DELETE /object/{bucket}                   {"prefixes": [names]} -> the removed objects

Errors are Storage's JSON: {"statusCode": "404", "error": "not_found", "message": "Object not found"}.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import time
from pathlib import Path
from urllib.parse import unquote

import httpx
import jwt

from service.documents.local_objects import Denied, Duplicate, LocalObjects

_PREFIX = "/storage/v1/"
_API_ROLES = {"anon", "authenticated", "service_role"}


def _error(status: int, error: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"statusCode": str(status), "error": error, "message": message})


def _not_found() -> httpx.Response:
    return _error(404, "not_found", "Object not found")


def _multipart_file(request: httpx.Request) -> tuple[bytes, str] | None:
    """The `file` part of a multipart/form-data body: (bytes, content type)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return (request.content, ctype or "application/octet-stream") if request.content else None
    raw = b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + request.content
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload, part.get_content_type()
    return None


class StorageTransport(httpx.AsyncBaseTransport):
    def __init__(self, dsn: str, jwt_secret: str, root: Path) -> None:
        self._secret = jwt_secret
        self.objects = LocalObjects(dsn, root)
        self.requests: list[httpx.Request] = []

    def _claims(self, request: httpx.Request) -> dict | httpx.Response:
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return _error(400, "InvalidJWT", "invalid signature")
        if claims.get("role", "anon") not in _API_ROLES:
            return _error(400, "InvalidJWT", "unknown role")
        return claims

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await request.aread()
        path = unquote(request.url.path)
        if not path.startswith(_PREFIX):
            return _error(404, "not_found", "Route not found")
        parts = path[len(_PREFIX) :].split("/")
        if len(parts) < 2 or parts[0] != "object" or any(p in ("", ".", "..") for p in parts[1:]):
            return _error(400, "InvalidKey", "Invalid key")
        if parts[1] == "sign" and request.method == "GET" and len(parts) >= 4:
            return self._signed_download(request, parts[2], "/".join(parts[3:]))
        claims = self._claims(request)
        if isinstance(claims, httpx.Response):
            return claims
        return await self._route(request, parts[1:], claims)

    async def _route(self, request: httpx.Request, parts: list[str], claims: dict) -> httpx.Response:
        method = request.method
        if parts[0] == "sign" and method == "POST" and len(parts) >= 3:
            return await self._sign(request, parts[1], "/".join(parts[2:]), claims)
        if parts[0] == "list" and method == "POST" and len(parts) == 2:
            return await self._list(request, parts[1], claims)
        if parts[0] == "authenticated" and method == "GET" and len(parts) >= 3:
            return await self._download(parts[1], "/".join(parts[2:]), claims)
        if method == "DELETE" and len(parts) == 1:
            names = list(json.loads(request.content or b"{}").get("prefixes") or [])
            rows = await self.objects.remove(claims, parts[0], names)
            return httpx.Response(
                200, json=[{"name": n, "id": str(i), "bucket_id": parts[0], "metadata": m} for n, i, m in rows]
            )
        if len(parts) >= 2 and method == "GET":
            return await self._download(parts[0], "/".join(parts[1:]), claims)
        if len(parts) >= 2 and method in ("POST", "PUT"):
            return await self._upload(request, parts[0], "/".join(parts[1:]), claims)
        return _error(404, "not_found", "Route not found")

    async def _upload(self, request: httpx.Request, bucket: str, name: str, claims: dict) -> httpx.Response:
        part = _multipart_file(request)
        if part is None:
            return _error(400, "InvalidRequest", "No file in the request")
        upsert = request.method == "PUT" or request.headers.get("x-upsert", "false").lower() == "true"
        try:
            oid = await self.objects.put(claims, bucket, name, part[0], part[1], upsert)
        except Duplicate:
            return _error(409, "Duplicate", "The resource already exists")
        except Denied:
            return _error(403, "Unauthorized", "new row violates row-level security policy")
        return httpx.Response(200, json={"Key": f"{bucket}/{name}", "Id": oid})

    def _bytes(self, bucket: str, name: str) -> httpx.Response:
        data = self.objects.read(bucket, name)
        if data is None:
            return _not_found()
        return httpx.Response(200, content=data, headers={"content-type": "application/octet-stream"})

    async def _download(self, bucket: str, name: str, claims: dict) -> httpx.Response:
        if not await self.objects.visible(claims, bucket, name):
            return _not_found()  # invisible under RLS and absent look the same, as on Supabase
        return self._bytes(bucket, name)

    async def _sign(self, request: httpx.Request, bucket: str, name: str, claims: dict) -> httpx.Response:
        try:
            expires_in = int(json.loads(request.content or b"{}").get("expiresIn", 0))
        except (ValueError, AttributeError):
            expires_in = 0
        if expires_in < 1:
            return _error(400, "InvalidRequest", "expiresIn must be a positive number of seconds")
        if not await self.objects.visible(claims, bucket, name):
            return _not_found()
        now = int(time.time())
        token = jwt.encode({"url": f"{bucket}/{name}", "iat": now, "exp": now + expires_in}, self._secret, "HS256")
        return httpx.Response(200, json={"signedURL": f"/object/sign/{bucket}/{name}?token={token}"})

    def _signed_download(self, request: httpx.Request, bucket: str, name: str) -> httpx.Response:
        try:
            claims = jwt.decode(request.url.params.get("token", ""), self._secret, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            return _error(400, "InvalidJWT", "jwt expired")
        except jwt.PyJWTError:
            return _error(400, "InvalidJWT", "invalid signature")
        if claims.get("url") != f"{bucket}/{name}":
            return _error(400, "InvalidSignature", "The url do not match the signature")
        return self._bytes(bucket, name)

    async def _list(self, request: httpx.Request, bucket: str, claims: dict) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        prefix = str(body.get("prefix") or "").strip("/")
        limit, offset = int(body.get("limit", 100)), int(body.get("offset", 0))
        rows = await self.objects.under(claims, bucket, prefix + "/" if prefix else "")
        skip = len(prefix) + 1 if prefix else 0
        entries: dict[str, dict] = {}
        for name, oid, updated, created, metadata in rows:
            head, sep, _ = name[skip:].partition("/")
            if sep:  # a folder one level down: Storage lists it with a null id
                entries.setdefault(head, {"name": head, "id": None, "updated_at": None, "metadata": None})
            else:
                entries[head] = {
                    "name": head,
                    "id": str(oid),
                    "updated_at": updated.isoformat(),
                    "created_at": created.isoformat(),
                    "metadata": metadata,
                }
        return httpx.Response(200, json=list(entries.values())[offset : offset + limit])

    async def aclose(self) -> None:
        await self.objects.close()
