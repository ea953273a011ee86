"""What a job handler receives and may raise."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.runtime import Services


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    heartbeat: Callable[[], Awaitable[None]] = field(default=lambda: _noop(), compare=False, repr=False)
    # Set when the worker stops: a job waiting inside itself (a short poll) ends its wait and hands
    # over to a queued successor instead of holding the shutdown for the whole grace period.
    stopping: asyncio.Event = field(default_factory=asyncio.Event, compare=False, repr=False)

    async def pause(self, seconds: float) -> bool:
        """Wait `seconds`; False when the worker began stopping meanwhile."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return True
        return False


async def _noop() -> None:
    return None


class PermanentJobError(Exception):
    """Retrying cannot help (bad payload, a row that no longer exists): the job goes `dead` now."""


Handler = Callable[["Services", Job], Awaitable[None]]

# Claims and finishes a batch of jobs itself; returns how many it claimed (0: nothing due).
Drain = Callable[["Services"], Awaitable[int]]
