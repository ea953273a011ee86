"""Group commit for one RPC: calls that arrive while earlier ones are in flight are sent together
as one call of the set-taking variant of the function, and each caller gets its own result.

Idle, a call goes out at once (no added latency); under load, 50 concurrent webhooks become a few
round trips instead of 50, and the answer to each still waits for its durable write. While a write
is out, the next one starts only when `max_in_flight` allows and `pipeline_at` calls are waiting,
so that round trips stay worth their fixed cost.

A write that has not answered within `timeout` seconds fails its callers with DatabaseUnavailable,
and so do the calls queued behind it: one timer per batch, not one per caller. The late write is
abandoned, not cancelled (it may still land; a retry is then a duplicate, which the function
absorbs), and no longer holds a slot, so the next batch can try a fresh connection.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from service.db.port import DatabaseUnavailable, Rpc, RpcError

_Item = tuple[Mapping[str, Any], asyncio.Future[Any]]


class BatchingRpc:
    def __init__(self, rpc: Rpc, batch_function: str, *, arg_name: str = "p_events", max_batch: int = 100,
                 max_in_flight: int = 1, pipeline_at: int | None = None, timeout: float = 3.0) -> None:
        self._rpc = rpc
        self._function = batch_function
        self._arg = arg_name
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pipeline_at = pipeline_at if pipeline_at is not None else max_batch
        self._timeout = timeout
        self._pending: list[_Item] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def call(self, args: Mapping[str, Any]) -> Any:
        """The result for these args, as the single-item function would return it."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((args, future))
        self._flush()
        return await future

    def _flush(self) -> None:
        while self._pending and (
            not self._in_flight
            or (len(self._in_flight) < self._max_in_flight and len(self._pending) >= self._pipeline_at)
        ):
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            task = asyncio.create_task(self._send(batch))
            self._in_flight.add(task)
            timer = asyncio.get_running_loop().call_later(self._timeout, self._expire, task, batch)
            task.add_done_callback(functools.partial(self._sent, timer=timer))

    def _sent(self, task: asyncio.Task[None], *, timer: asyncio.TimerHandle) -> None:
        timer.cancel()
        if task in self._in_flight:
            self._in_flight.discard(task)
            self._flush()

    def _expire(self, task: asyncio.Task[None], batch: list[_Item]) -> None:
        unavailable = DatabaseUnavailable(f"{self._function}: no answer within {self._timeout:g} s")
        self._in_flight.discard(task)
        queued, self._pending = self._pending, []
        self._fail(batch, unavailable)
        self._fail(queued, unavailable)

    async def _send(self, batch: list[_Item]) -> None:
        try:
            results = await self._rpc.call(self._function, {self._arg: [args for args, _ in batch]})
        except RpcError as exc:
            if len(batch) > 1 and (exc.code or "").startswith("22"):
                # One item the database cannot even parse spoils the batch: send each on its own.
                for item in batch:
                    await self._send([item])
                return
            self._fail(batch, exc)
            return
        except Exception as exc:
            self._fail(batch, exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # expired, or the caller went away
                continue
            error = result.get("error") if isinstance(result, dict) else None
            if error:
                future.set_exception(RpcError(self._function, error.get("code"), error.get("message", "")))
            else:
                future.set_result(result)

    @staticmethod
    def _fail(batch: list[_Item], exc: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
