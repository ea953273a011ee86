"""The 100k-transaction backfill under both date-filter rules (issue 13): a first sync of 10 accounts x 24
months (about 100,800 rows, ids per account only, rows transacted before the history's first day and
posted inside it, month-end straddles) ends with exactly the bank's posted + pending rows, then a day of
bank activity and an incremental sync keep it exact. In-process sandbox, real database, real client.
make test runs it under `transactionDate`; make soak under both (RESILIENCE_DATE_FILTERS)."""

from __future__ import annotations

import time

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from service.runtime import Services
from service.sync.customer import sync_customer
from tests.integration.test_flows import _linked_customer
from tests.integration.test_sync_correctness import (  # noqa: F401 (fixtures)
    bank_clock,
    difference,
    sandbox,
    services,
)
from tests.resilience.conftest import date_filter_rules
from tests.support.truth import db_truth_on, sandbox_state_truth

PROFILE = {"accounts": 10, "months": 24, "transactionsPerAccountPerMonth": 420, "seed": 13, "idsPerAccount": True}


@pytest.fixture(params=date_filter_rules())
def rule(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_100k_backfill_and_the_next_day_end_exact_under_either_filter_rule(
    rule: str, services: Services, sandbox: AsyncTestClient, pg: psycopg.Connection,  # noqa: F811
    make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    finicity_id = await _linked_customer(services, sandbox, client_id, PROFILE)
    clock = bank_clock(sandbox)
    started = time.monotonic()
    first = await sync_customer(services, finicity_id, clock=clock)
    backfill_s = time.monotonic() - started
    bank = sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)
    lost, extra = difference(bank, db_truth_on(pg, client_id))
    rows = sum(n for n, _, _ in bank.values())

    await sandbox.post("/_sandbox/clock", json={"advanceSeconds": 86_400})
    await sandbox.post("/_sandbox/bank/advance", json={
        "customerId": finicity_id, "days": 1, "newPerAccount": 20, "holdDays": [1, 4], "shadow": 5})
    await sync_customer(services, finicity_id, clock=clock)
    bank_after = sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)
    lost_after, extra_after = difference(bank_after, db_truth_on(pg, client_id))
    print(f"\n[100k backfill, filter={rule}] rows compared {rows} in {first.pages} pages, {backfill_s:.1f} s: "
          f"lost {lost}, extra {extra}; next day rows compared {sum(n for n, _, _ in bank_after.values())}: "
          f"lost {lost_after}, extra {extra_after}")
    assert rows >= 100_000 and first.transactions == rows
    assert (lost, extra, lost_after, extra_after) == (0, 0, 0, 0)
    assert db_truth_on(pg, client_id) == bank_after
