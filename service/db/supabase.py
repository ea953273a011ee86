"""The `supabase` adapter: supabase-py `.rpc()` over PostgREST with the service-role key, as on
hosted Supabase. No LISTEN here: hosted deployments are woken by pg_net calling /internal/wake."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from postgrest.exceptions import APIError

from service.db.jsonargs import check_arg_name, check_function_name, to_jsonable
from service.db.port import DatabaseUnavailable, RpcError, WakeHandler
from supabase import AsyncClient, AsyncClientOptions, acreate_client

# PostgREST answers these when the database, not the request, is the problem.
_UNAVAILABLE_STATUSES = {502, 503, 504}
_UNAVAILABLE_CODES = {"PGRST000", "PGRST001", "PGRST002", "PGRST003", "57014", "08006", "08001"}


class SupabaseRpc:
    def __init__(
        self, url: str, service_role_key: str, *, http: httpx.AsyncClient | None = None, timeout: float = 30.0
    ) -> None:
        self._url = url
        self._key = service_role_key
        self._http = http
        self._timeout = timeout
        self._client: AsyncClient | None = None

    async def open(self) -> None:
        options = AsyncClientOptions(postgrest_client_timeout=self._timeout, httpx_client=self._http)
        self._client = await acreate_client(self._url, self._key, options=options)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    @property
    def supports_listen(self) -> bool:
        return False

    async def listen(self, on_wake: WakeHandler) -> None:
        raise NotImplementedError("the supabase adapter is woken over HTTP (POST /internal/wake)")

    async def call(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        check_function_name(function)
        params = {check_arg_name(name): value for name, value in (args or {}).items()}
        if self._client is None:
            await self.open()
        assert self._client is not None
        try:
            response = await self._client.rpc(function, to_jsonable(params)).execute()
        except APIError as exc:
            code = str(exc.code) if exc.code is not None else None
            if code in _UNAVAILABLE_CODES:
                raise DatabaseUnavailable(f"{function}: {exc.message}") from exc
            raise RpcError(function, code, exc.message or "PostgREST error") from exc
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in _UNAVAILABLE_STATUSES:
                raise DatabaseUnavailable(f"{function}: HTTP {exc.response.status_code}") from exc
            raise RpcError(function, None, f"HTTP {exc.response.status_code}") from exc
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise DatabaseUnavailable(f"{function}: {type(exc).__name__}") from exc
        return response.data

    async def ping(self) -> None:
        await self.call("ob_health")
