"""Group commit (service/db/batching.py) over the real webhook batch function and the real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import psycopg
import pytest

from service.db.batching import BatchingRpc
from service.db.port import DatabaseUnavailable, RpcError
from service.db.postgres import PostgresRpc
from tests.support.waiting import wait_for_async
from tests.unit.webhooks.support import forget_events

pytestmark = pytest.mark.asyncio


class CountingRpc:
    """The real adapter, with a count of round trips and of how many were out at once."""

    def __init__(self, rpc: PostgresRpc) -> None:
        self.rpc = rpc
        self.calls: list[int] = []
        self.alongside: list[int] = []  # for each call, how many were already out when it started
        self.out = 0
        self.most_out = 0
        self._changed = asyncio.Condition()

    async def call(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        self.calls.append(len((args or {}).get("p_events", [])))
        self.alongside.append(self.out)
        await self._count(+1)
        try:
            return await self.rpc.call(function, args)
        finally:
            await self._count(-1)

    async def _count(self, step: int) -> None:
        async with self._changed:
            self.out += step
            self.most_out = max(self.most_out, self.out)
            self._changed.notify_all()

    async def until_out(self, n: int) -> None:
        """Return once at least n writes are out at the same time."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.out >= n), 10)


@pytest.fixture
async def rpc(database_url: str) -> AsyncIterator[CountingRpc]:
    adapter = PostgresRpc(database_url, max_size=4)
    await adapter.open()
    try:
        yield CountingRpc(adapter)
    finally:
        await adapter.close()


@pytest.fixture
def stored(pg: psycopg.Connection) -> Iterator[list[int]]:
    ids: list[int] = []
    yield ids
    forget_events(pg, ids)


def event(message_id: str | None = None, payload: Any = None) -> dict[str, Any]:
    return {
        "p_source": "connect", "p_message_id": message_id or f"gc-{uuid.uuid4().hex}", "p_event_type": "added",
        "p_finicity_customer_id": "5001", "p_headers": {"content-type": "application/json"},
        "p_payload": payload if payload is not None else {"eventType": "added"}, "p_verified": True,
    }


def stored_id(pg: psycopg.Connection, message_id: str) -> int | None:
    row = pg.execute("select id from private.ob_webhook_events where source = 'connect' and message_id = %s",
                     (message_id,)).fetchone()
    return row[0] if row else None


async def test_concurrent_calls_share_round_trips_and_each_gets_its_own_row(
    rpc: CountingRpc, pg: psycopg.Connection, stored: list[int]
) -> None:
    batcher = BatchingRpc(rpc, "ob_webhook_events_ingest")
    events = [event() for _ in range(60)]
    results = await asyncio.gather(*(batcher.call(e) for e in events))
    stored.extend(r["event_id"] for r in results)

    assert sum(rpc.calls) == 60
    assert len(rpc.calls) <= 3  # the first goes alone, the rest wait for it and go together
    for e, result in zip(events, results, strict=True):
        assert result["stored"] is True
        assert result["event_id"] == stored_id(pg, e["p_message_id"])


async def test_a_message_repeated_in_one_batch_is_stored_once(
    rpc: CountingRpc, pg: psycopg.Connection, stored: list[int]
) -> None:
    batcher = BatchingRpc(rpc, "ob_webhook_events_ingest")
    twice = event()
    results = await asyncio.gather(*(batcher.call(e) for e in [event(), twice, dict(twice), event()]))
    stored.extend({r["event_id"] for r in results})

    assert [r["stored"] for r in results] == [True, True, False, True]
    assert results[1]["event_id"] == results[2]["event_id"] == stored_id(pg, twice["p_message_id"])


async def test_an_item_postgres_cannot_store_fails_alone(
    rpc: CountingRpc, pg: psycopg.Connection, stored: list[int]
) -> None:
    batcher = BatchingRpc(rpc, "ob_webhook_events_ingest")
    good = [event() for _ in range(5)]
    bad = event(payload={"text": "nul \u0000 byte"})  # jsonb has no \u0000: 22P05
    results = await asyncio.gather(*(batcher.call(e) for e in [*good[:3], bad, *good[3:]]),
                                   return_exceptions=True)
    stored.extend(r["event_id"] for r in results if isinstance(r, dict))

    assert isinstance(results[3], RpcError) and (results[3].code or "").startswith("22")
    assert all(isinstance(r, dict) and r["stored"] for i, r in enumerate(results) if i != 3)
    assert stored_id(pg, bad["p_message_id"]) is None
    assert all(stored_id(pg, e["p_message_id"]) is not None for e in good)


async def test_a_second_write_starts_only_when_enough_calls_wait_and_never_a_third(
    rpc: CountingRpc, stored: list[int]
) -> None:
    batcher = BatchingRpc(rpc, "ob_webhook_events_ingest", max_in_flight=2, pipeline_at=4)

    async def burst(i: int) -> list[Any]:
        # Arrivals keyed to the writes, not to the clock: the first burst starts a write; the next nine
        # arrive while it is out (enough wait: a second write starts); the last ten arrive while two
        # are out (a third must not start).
        if i > 0:
            await rpc.until_out(1 if i < 10 else 2)
        return list(await asyncio.gather(*(batcher.call(event()) for _ in range(10))))

    results = [r for group in await asyncio.gather(*(burst(i) for i in range(20))) for r in group]
    stored.extend(r["event_id"] for r in results)

    assert len(results) == 200 and all(r["stored"] for r in results)
    assert rpc.most_out == 2
    pipelined = [size for size, out in zip(rpc.calls, rpc.alongside, strict=True) if out > 0]
    assert pipelined and min(pipelined) >= 4


async def test_a_write_that_does_not_answer_fails_it_and_everything_queued_behind_it(
    rpc: CountingRpc, database_url: str, pg: psycopg.Connection, stored: list[int]
) -> None:
    batcher = BatchingRpc(rpc, "ob_webhook_events_ingest", timeout=1.0)
    first = event()
    with psycopg.connect(database_url) as blocker:  # holds the table: the write waits on the lock
        blocker.execute("lock table private.ob_webhook_events in exclusive mode")
        stuck = asyncio.ensure_future(batcher.call(first))
        await rpc.until_out(1)  # the first write is out, waiting on the lock
        queued = [asyncio.ensure_future(batcher.call(event())) for _ in range(5)]
        outcomes = await asyncio.wait_for(asyncio.gather(stuck, *queued, return_exceptions=True), 5)
        assert all(isinstance(o, DatabaseUnavailable) for o in outcomes)
        # One timeout failed them all: the five queued behind never made a round trip of their own.
        assert rpc.calls == [1]
        blocker.rollback()

    # The abandoned write lands once the lock is gone; Mastercard's retry is then a duplicate.
    first_id = await wait_for_async("the abandoned write to land", lambda: stored_id(pg, first["p_message_id"]), 10)
    stored.append(first_id)
    retried = await batcher.call(dict(first))
    assert retried == {"stored": False, "event_id": first_id}
