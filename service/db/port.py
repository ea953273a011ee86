"""The one small interface the service uses to reach Postgres, and its errors.

Two adapters implement it: `postgres` (psycopg 3, direct) and `supabase` (supabase-py `.rpc()`
over PostgREST). Callers never know which one they have.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol


class RpcError(Exception):
    """The function ran and raised (bad input, a constraint, permission): retrying won't help."""

    def __init__(self, function: str, code: str | None, message: str) -> None:
        super().__init__(f"{function}: {message} (SQLSTATE {code})")
        self.function = function
        self.code = code
        self.message = message


class DatabaseUnavailable(Exception):
    """The database could not be reached or the call could not complete; safe to retry later."""


WakeHandler = Callable[[str], Awaitable[None] | None]


class Rpc(Protocol):
    async def call(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        """Call `public.<function>(name => value, ...)` and return its JSON result (parsed)."""
        ...

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""
        ...

    async def close(self) -> None: ...

    @property
    def supports_listen(self) -> bool: ...

    async def listen(self, on_wake: WakeHandler) -> None:
        """Run until cancelled, calling on_wake(payload) for each `ob_jobs` NOTIFY (postgres only)."""
        ...
