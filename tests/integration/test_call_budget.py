"""The Mastercard call budget against the real database: permits up to mastercard_calls_per_minute,
then a wait for the next minute (the caller is slowed, not failed). The minute passing is simulated
by moving the counted window into the past from inside the injected sleep."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from service.db.postgres import PostgresRpc
from service.finicity.budget import CallBudget


@pytest.fixture
def cap_of_two(pg: psycopg.Connection) -> Iterator[None]:
    row = pg.execute("select value from private.ob_settings where key = 'mastercard_calls_per_minute'").fetchone()
    assert row is not None
    (before,) = row
    pg.execute("delete from private.ob_api_call_windows")
    pg.execute("update private.ob_settings set value = '2' where key = 'mastercard_calls_per_minute'")
    try:
        yield
    finally:
        pg.execute("update private.ob_settings set value = %s where key = 'mastercard_calls_per_minute'", (before,))
        pg.execute("delete from private.ob_api_call_windows")


async def test_the_third_call_in_a_minute_waits_for_the_next_minute(
        database_url: str, pg: psycopg.Connection, cap_of_two: None) -> None:
    waits: list[float] = []

    async def next_minute(seconds: float) -> None:
        waits.append(seconds)
        pg.execute("update private.ob_api_call_windows set window_start = window_start - interval '1 minute'")

    rpc = PostgresRpc(database_url, max_size=2)
    await rpc.open()
    try:
        budget = CallBudget(rpc, sleep=next_minute)
        await budget()
        await budget()
        assert waits == []
        await budget()
    finally:
        await rpc.close()
    assert len(waits) == 1 and 0 < waits[0] <= 60
    rows = pg.execute("select calls from private.ob_api_call_windows order by window_start").fetchall()
    assert rows == [(2,), (1,)]  # the full minute, and the new one that granted the third permit
