"""The one way tests wait: poll a probe of database, process or HTTP state until it holds, or fail
saying what was awaited. A test never sleeps to let something happen (ruff TID251 bans
`time.sleep` and `asyncio.sleep` in tests/); the poll interval below is the only such sleep, and the
few waits that model time itself (an outage's length, a random kill point, a fake network round
trip) are marked `# noqa: TID251` with the reason.

`wait_for` polls from synchronous code; `wait_for_async` from a coroutine, without blocking the event
loop (its probe may be a plain function or a coroutine function).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.05) -> T:
    """The probe's first truthy value; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)  # noqa: TID251 - the poll interval of the one wait helper


async def wait_for_async(
    what: str, probe: Callable[[], T | None] | Callable[[], Awaitable[T | None]], limit_s: float = 30.0,
    interval: float = 0.02,
) -> T:
    """As wait_for, from a coroutine: other tasks run while it waits."""
    deadline = time.monotonic() + limit_s
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {limit_s:g} s waiting for {what}")
        await asyncio.sleep(interval)  # noqa: TID251 - the poll interval of the one wait helper
