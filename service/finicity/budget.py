"""The platform's Mastercard call budget, shared by every process and replica through the database.

Before each request the client asks `ob_api_call_permit` for a permit (at most
`mastercard_calls_per_minute` per calendar minute, a row in private.ob_settings); when the minute's
budget is spent it waits for the next minute and asks again. A job that meets the cap is slowed
down, never failed, and every other process waits its turn in the same minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from service.db.port import Rpc

log = structlog.get_logger(__name__)
MAX_WAIT_SECONDS = 60.0


class CallBudget:
    def __init__(self, rpc: Rpc, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_wait: Callable[[float], None] | None = None) -> None:
        self._rpc = rpc
        self._sleep = sleep
        self._on_wait = on_wait

    async def __call__(self) -> None:
        """Return once a permit is granted (at once, unless this minute's budget is spent)."""
        while True:
            answer = await self._rpc.call("ob_api_call_permit", {})
            if answer.get("granted"):
                return
            delay = min(float(answer.get("retry_after_seconds", 1.0)), MAX_WAIT_SECONDS)
            log.info("finicity.call_budget_wait", seconds=round(delay, 2))
            if self._on_wait is not None:
                self._on_wait(delay)
            await self._sleep(delay)
