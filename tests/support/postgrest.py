"""What PostgREST does for `POST /rest/v1/rpc/<fn>`, and nothing more, as an httpx transport.

PostgREST cannot be installed here (not in Debian, PyPI or npm), so tests drive supabase-py's
real requests through this: verify the JWT (HS256, project secret), log in as `authenticator`,
`set_config('role', <claim>)` and `set_config('request.jwt.claims', <claims>)` in a transaction,
call `public.<fn>(name => value::type, ...)` and answer with its JSON, mapping errors as PostgREST
does (SQLSTATE → HTTP status, body {code, message, details, hint}).
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import jwt
import psycopg
from psycopg.types.json import Jsonb

from service.db.signatures import SIGNATURES_SQL, call_sql, parse_signatures

_RPC_PATH = re.compile(r"^/rest/v1/rpc/([a-z_][a-z0-9_]*)$")
_API_ROLES = {"anon", "authenticated", "service_role"}


def _status_for(sqlstate: str, role: str) -> int:
    if sqlstate == "42501":
        return 401 if role == "anon" else 403
    if sqlstate in ("23505", "23503"):
        return 409
    if sqlstate == "42883":
        return 404
    if sqlstate.startswith("08") or sqlstate in ("57P01", "57P03", "53300"):
        return 503
    if sqlstate.startswith(("22", "23", "P0", "42")):
        return 400
    return 500


def _error(status: int, code: str, message: str, details: str | None = None, hint: str | None = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "details": details, "hint": hint})


class PostgrestRpcTransport(httpx.AsyncBaseTransport):
    def __init__(self, dsn: str, jwt_secret: str) -> None:
        # PostgREST connects as `authenticator` (noinherit) and switches role per request.
        self._dsn = dsn
        self._jwt_secret = jwt_secret
        self._conn: psycopg.AsyncConnection | None = None
        self._signatures = None
        self.requests: list[httpx.Request] = []
        self._lock = asyncio.Lock()  # one request at a time on the single connection

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn)
            cur = await self._conn.execute(SIGNATURES_SQL)
            self._signatures = parse_signatures(await cur.fetchall())
            await self._conn.rollback()
        return self._conn

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        match = _RPC_PATH.match(request.url.path)
        if request.method != "POST" or match is None:
            return _error(404, "PGRST125", "Invalid path specified in request URL")
        if request.headers.get("content-profile", "public") != "public":
            return _error(406, "PGRST106", "The schema must be one of the following: public")
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        try:
            claims = jwt.decode(token, self._jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.ExpiredSignatureError:
            return _error(401, "PGRST303", "JWT expired")
        except jwt.PyJWTError:
            return _error(401, "PGRST301", "JWT could not be decoded")
        role = claims.get("role", "anon")
        if role not in _API_ROLES:
            return _error(401, "PGRST303", f'role "{role}" does not exist')
        function = match.group(1)
        try:
            args = json.loads(request.content or b"{}")
        except json.JSONDecodeError:
            return _error(400, "PGRST102", "Empty or invalid json")
        async with self._lock:
            return await self._call(function, args, claims, role)

    async def _call(self, function: str, args: dict, claims: dict, role: str) -> httpx.Response:
        conn = await self._connection()
        assert self._signatures is not None
        signature = self._signatures.get(function)
        if signature is None or not set(args) <= set(signature.arg_types):
            return _error(404, "PGRST202", f"Could not find the function public.{function}({', '.join(sorted(args))})")
        names = list(args)
        params = [
            Jsonb(args[n])
            if signature.arg_types[n] in ("jsonb", "json")
            else (
                args[n]
                if args[n] is None or isinstance(args[n], list)
                else str(args[n]).lower()
                if isinstance(args[n], bool)
                else str(args[n])
            )
            for n in names
        ]
        try:
            async with conn.transaction():
                await conn.execute(
                    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                    (role, json.dumps(claims)),
                )
                cur = await conn.execute(call_sql(function, signature, names), params)
                row = await cur.fetchone()
        except psycopg.Error as exc:
            state = exc.sqlstate or "08006"
            diag = exc.diag
            return _error(
                _status_for(state, role),
                state,
                diag.message_primary or str(exc),
                diag.message_detail,
                diag.message_hint,
            )
        body = row[0] if row and row[0] is not None else "null"
        return httpx.Response(200, content=body.encode(), headers={"content-type": "application/json"})

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()


def mint_jwt(secret: str, role: str, sub: str | None = None, ttl: int = 3600) -> str:
    import time

    now = int(time.time())
    claims = {"role": role, "iat": now, "exp": now + ttl, "iss": "supabase-local"}
    if sub:
        claims["sub"] = sub
    return jwt.encode(claims, secret, algorithm="HS256")
