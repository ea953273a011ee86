"""What PostgREST does for `POST /rest/v1/rpc/<fn>`, and nothing more, as an httpx transport.

PostgREST cannot be installed here (not in Debian, PyPI or npm), so tests drive supabase-py's
real requests through this: verify the JWT (HS256, project secret), log in as `authenticator`,
`set_config('role', <claim>)` and `set_config('request.jwt.claims', <claims>)` in a transaction,
call the function and answer with its JSON, mapping errors as PostgREST does (SQLSTATE → HTTP
status, body {code, message, details, hint}).

It knows PostgREST's contract on its own, never through the service's code (so the supabase adapter
is checked against PostgREST, not against itself): the function is found in its own schema cache
by the body's keys (every key a parameter name, every parameter without a default given; none →
404 PGRST202, several → 300 PGRST203), and the JSON body is handed to Postgres whole, each argument
converted to its declared type by `json_to_record`, as PostgREST's generated query does:
`select public.f(p_a := a.p_a, ...) from json_to_record($body) as a(p_a <type>, ...)`.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

import httpx
import jwt
import psycopg
from psycopg import sql

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


# PostgREST's schema cache, for the functions of the exposed schema (`public`).
_FUNCTIONS_SQL = """
select p.proname, coalesce(p.proargnames, '{}'), p.pronargs, p.pronargdefaults,
       array(select pg_catalog.format_type(t, null) from unnest(p.proargtypes) t)
  from pg_catalog.pg_proc p
 where p.pronamespace = 'public'::regnamespace and p.prokind = 'f'
"""


@dataclass(frozen=True)
class _Function:
    name: str
    params: dict[str, str]  # name -> declared type, in order
    required: frozenset[str]  # parameters without a default


def _schema_cache(rows: list[tuple[str, list[str], int, int, list[str]]]) -> dict[str, list[_Function]]:
    cache: dict[str, list[_Function]] = {}
    for name, arg_names, nargs, ndefaults, arg_types in rows:
        if len(arg_names) < nargs or not all(arg_names[:nargs]):
            continue  # unnamed parameters: not callable with a JSON object of named arguments
        params = dict(zip(arg_names[:nargs], arg_types, strict=True))
        cache.setdefault(name, []).append(_Function(name, params, frozenset(list(params)[: nargs - ndefaults])))
    return cache


def _call_query(function: _Function, given: list[str]) -> sql.Composed:
    call = sql.SQL("public.{}({})").format(
        sql.Identifier(function.name),
        sql.SQL(", ").join(sql.SQL("{} := a.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in given),
    )
    if not given:
        return sql.SQL("select pg_catalog.to_jsonb({})::text").format(call)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(function.params[n])) for n in given
    )
    return sql.SQL(
        "select pg_catalog.to_jsonb({})::text from pg_catalog.json_to_record(%s::json) as a({})"
    ).format(call, columns)


def _error(status: int, code: str, message: str, details: str | None = None, hint: str | None = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "details": details, "hint": hint})


class PostgrestRpcTransport(httpx.AsyncBaseTransport):
    def __init__(self, dsn: str, jwt_secret: str) -> None:
        # PostgREST connects as `authenticator` (noinherit) and switches role per request.
        self._dsn = dsn
        self._jwt_secret = jwt_secret
        self._conn: psycopg.AsyncConnection | None = None
        self._functions: dict[str, list[_Function]] = {}
        self.requests: list[httpx.Request] = []
        self._lock = asyncio.Lock()  # one request at a time on the single connection

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn)
            cur = await self._conn.execute(_FUNCTIONS_SQL)
            self._functions = _schema_cache(await cur.fetchall())
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
        if not isinstance(args, dict):
            return _error(400, "PGRST102", "Empty or invalid json")
        async with self._lock:
            return await self._call(function, args, claims, role)

    async def _call(self, function: str, args: dict, claims: dict, role: str) -> httpx.Response:
        conn = await self._connection()
        given = list(args)
        matches = [f for f in self._functions.get(function, [])
                   if set(given) <= set(f.params) and f.required <= set(given)]
        if not matches:
            wanted = f"public.{function}({', '.join(sorted(args))})"
            return _error(404, "PGRST202", f"Could not find the function {wanted} in the schema cache")
        if len(matches) > 1:
            return _error(300, "PGRST203", f"Could not choose the best candidate function: public.{function}")
        query = _call_query(matches[0], given)
        params = [json.dumps(args)] if given else []
        try:
            async with conn.transaction():
                await conn.execute(
                    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                    (role, json.dumps(claims)),
                )
                cur = await conn.execute(query, params)
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
