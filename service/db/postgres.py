"""The `postgres` adapter: psycopg 3 async pool, every connection `set role service_role`,
one statement per RPC call, and LISTEN ob_jobs for wake-ups."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec
import psycopg
import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from service.db.jsonargs import check_arg_name, check_function_name, dumps
from service.db.port import DatabaseUnavailable, RpcError, WakeHandler
from service.db.signatures import SIGNATURES_SQL, Signature, call_sql, parse_signatures

log = structlog.get_logger(__name__)

# Results are JSON text; numbers with a fraction become exact Decimals (msgspec: a few times faster
# than the json module on the large results of batch claims).
_decoder = msgspec.json.Decoder(float_hook=Decimal)

# SQLSTATE classes that mean "try again later", not "your call is wrong".
_TRANSIENT_PREFIXES = ("08", "53", "57P", "40001", "40P01", "55P03", "57014")


def _is_transient(exc: psycopg.Error) -> bool:
    state = exc.sqlstate or ""
    return (isinstance(exc, psycopg.OperationalError) and not state) or state.startswith(_TRANSIENT_PREFIXES)


def _to_param(value: Any, sql_type: str | None) -> Any:
    if sql_type in ("jsonb", "json"):
        return Jsonb(value, dumps=dumps)
    if isinstance(value, dict | list) and not (sql_type or "").endswith("[]"):
        return Jsonb(value, dumps=dumps)
    return value


class PostgresRpc:
    def __init__(self, dsn: str, *, max_size: int = 10, role: str = "service_role", timeout: float = 10.0) -> None:
        self._dsn = dsn
        self._role = role
        self._pool = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=timeout,
            kwargs={"autocommit": True},
            configure=self._configure,
            name="ob-rpc",
        )
        self._signatures: dict[str, Signature] | None = None

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # The service acts with exactly the rights the migrations grant service_role.
        await conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(self._role)))

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    @property
    def supports_listen(self) -> bool:
        return True

    async def _load_signatures(self) -> dict[str, Signature]:
        if self._signatures is None:
            async with self._pool.connection() as conn:
                cur = await conn.execute(SIGNATURES_SQL)
                self._signatures = parse_signatures(await cur.fetchall())
        return self._signatures

    async def call(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        check_function_name(function)
        args = dict(args or {})
        names = [check_arg_name(name) for name in args]
        for attempt in (1, 2):
            try:
                signature = (await self._load_signatures()).get(function)
                sql = call_sql(function, signature, names)
                params = [_to_param(args[n], signature.arg_types.get(n) if signature else None) for n in names]
                async with self._pool.connection() as conn:
                    cur = await conn.execute(sql, params)  # type: ignore[arg-type]
                    row = await cur.fetchone()
                break
            except PoolTimeout as exc:
                raise DatabaseUnavailable(f"{function}: no database connection available") from exc
            except psycopg.Error as exc:
                if isinstance(exc, psycopg.OperationalError) and attempt == 1 and not exc.sqlstate:
                    # A pooled connection died (the database restarted): its idle siblings are dead too.
                    # Drop them all now, rather than failing once per stale connection, and try again.
                    await self._pool.check()
                    continue
                if _is_transient(exc):
                    raise DatabaseUnavailable(f"{function}: {type(exc).__name__}") from exc
                diag = exc.diag
                raise RpcError(function, exc.sqlstate, diag.message_primary or str(exc)) from exc
        if row is None or row[0] is None:
            return None
        return _decoder.decode(row[0])

    async def ping(self) -> None:
        try:
            async with self._pool.connection(timeout=2) as conn:
                await conn.execute("select 1")
        except (psycopg.Error, PoolTimeout) as exc:
            raise DatabaseUnavailable("database unreachable") from exc

    async def listen(self, on_wake: WakeHandler) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute("listen ob_jobs")
                    delay = 0.5
                    log.info("db.listening", channel="ob_jobs")
                    async for notify in conn.notifies():
                        result = on_wake(notify.payload)
                        if asyncio.iscoroutine(result):
                            await result
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                log.warning("db.listen_lost", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
