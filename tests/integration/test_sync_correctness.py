"""Sync correctness under Mastercard's real rules (issue 13), through real parts: the real database, the
real client and the sandbox app in-process. Each rule the spec leaves open is run both ways: the range
filter on `postedDate` and on `transactionDate`; ids unique per account only; a row that does not parse.

Exact data means tests/support/truth.py: per account, the bank's posted + pending rows (ids, count and
amount sum) equal the database's; `lost` and `extra` name the difference."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from service.finicity.paging import IncompleteRead
from service.runtime import Services
from service.sync.customer import sync_customer
from service.wiring import services_for
from tests.conftest import acting_as
from tests.integration.conftest import SANDBOX_URL, in_process_sandbox
from tests.integration.test_flows import _linked_customer
from tests.support.processes import local_env
from tests.support.truth import Truth, db_truth_on, sandbox_state_truth

RULES = ["postedDate", "transactionDate"]
DAY = 86_400


@pytest.fixture(params=RULES)
def rule(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sandbox(rule: str) -> AsyncIterator[AsyncTestClient]:
    async with in_process_sandbox(transaction_date_filter=rule) as client:
        yield client


@pytest.fixture
async def services(settings_factory, sandbox) -> AsyncIterator[Services]:
    async with services_for(settings_factory(open_banking_base_url=SANDBOX_URL), finicity_http=sandbox) as svc:
        yield svc


def bank_clock(sandbox: AsyncTestClient) -> Callable[[], dt.datetime]:
    """The service's "now" is the sandbox's: the bank's days pass in the test, not in real time."""
    state = sandbox.app.state.sandbox
    return lambda: dt.datetime.fromtimestamp(state.clock.now(), dt.UTC)


def difference(bank: Truth, db: Truth) -> tuple[int, int]:
    """(lost, extra): rows the bank has that the database lacks, and the reverse, over all accounts."""
    lost = sum(len(ids - db.get(a, (0, 0, frozenset()))[2]) for a, (_, _, ids) in bank.items())
    extra = sum(len(ids - bank.get(a, (0, 0, frozenset()))[2]) for a, (_, _, ids) in db.items())
    return lost, extra


async def test_thirty_daily_syncs_with_the_bank_advancing_end_exact(
    rule: str, services: Services, sandbox: AsyncTestClient, pg: psycopg.Connection, make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    finicity_id = await _linked_customer(
        services, sandbox, client_id, {"accounts": 4, "months": 3, "idsPerAccount": True})
    clock = bank_clock(sandbox)
    await sync_customer(services, finicity_id, clock=clock)
    posted_late = 0
    for day in range(30):
        assert (await sandbox.post("/_sandbox/clock", json={"advanceSeconds": DAY})).status_code == 200
        advanced = await sandbox.post("/_sandbox/bank/advance", json={
            "customerId": finicity_id, "days": 1, "newPerAccount": 5, "holdDays": [1, 5],
            "shadow": 2, "seed": day})
        assert advanced.status_code == 200, advanced.text
        posted_late += len(advanced.json()["posted"])
        await sync_customer(services, finicity_id, clock=clock)
    bank = sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)
    db = db_truth_on(pg, client_id)
    lost, extra = difference(bank, db)
    rows = sum(n for n, _, _ in bank.values())
    # Rows whose transaction date is before the day they posted: under `transactionDate` these are the
    # ones a window by posted date misses at its start.
    state_rows = [t for a in sandbox.app.state.sandbox.customers[finicity_id].accounts.values() for t in a.txs.values()]
    straddling = sum(1 for t in state_rows if t.postedDate and t.transactionDate and t.transactionDate < t.postedDate)
    print(f"\n[30 daily syncs, filter={rule}] rows compared {rows} (pending posted late {posted_late}, "
          f"dates straddling {straddling}): lost {lost}, extra {extra}")
    assert (lost, extra) == (0, 0)
    assert db == bank


def _cli(database_url: str, *args: str) -> str:
    env = {**os.environ, **local_env(), "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_row_that_does_not_parse_is_quarantined_and_the_other_999_are_stored(
    rule: str, services: Services, sandbox: AsyncTestClient, pg: psycopg.Connection, database_url: str,
    make_cpa, make_client
) -> None:
    client_id = make_client(make_cpa())
    # One account of exactly 1,000 rows: the whole history is one full page.
    finicity_id = await _linked_customer(
        services, sandbox, client_id, {"accounts": 1, "months": 10, "transactionsPerAccountPerMonth": 100})
    (account,) = sandbox.app.state.sandbox.customers[finicity_id].accounts.values()
    assert len(account.txs) == 1000
    fault = {"endpoint": "transactions", "kind": "malformed_row", "count": 1, "rate": 1.0}
    assert (await sandbox.post("/_sandbox/faults", json=fault)).status_code == 201
    before = services.metrics.transactions_quarantined._value.get()

    result = await sync_customer(services, finicity_id)

    held = pg.execute("select transaction_id, raw, reason, platform_client_id from private.ob_transaction_quarantine "
                      "where account_id = %s", (account.id,)).fetchall()
    bank = sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)
    stored = db_truth_on(pg, client_id)[account.id][2]
    assert result.quarantined == 1 and result.pages == 1
    assert services.metrics.transactions_quarantined._value.get() == before + 1
    assert len(held) == 1 and held[0][3] == client_id
    transaction_id, raw, reason, _ = held[0]
    assert stored == bank[account.id][2] - {transaction_id} and len(stored) == 999
    assert "$.status" in reason and raw["status"] is None and raw["id"] == transaction_id
    assert account.number not in json.dumps(raw) and account.number[-4:] in raw["memo"]
    if rule == "postedDate":  # what an operator sees (once is enough)
        status = json.loads(_cli(database_url, "status", str(client_id), "--json"))
        assert status[0]["quarantined"] == 1
        listing = _cli(database_url, "jobs", "list")
        assert "quarantined transaction rows:" in listing and "$.status" in listing
        assert account.number not in listing
    # The bank's next answer parses: the row is stored and leaves the quarantine.
    await sync_customer(services, finicity_id)
    assert db_truth_on(pg, client_id) == sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)
    assert pg.execute("select count(*) from private.ob_transaction_quarantine where account_id = %s",
                      (account.id,)).fetchone() == (0,)


async def test_the_same_ids_in_accounts_of_two_cpas_are_both_stored_and_each_sees_only_its_own(
    rule: str, services: Services, sandbox: AsyncTestClient, pg: psycopg.Connection, database_url: str,
    make_cpa, make_client
) -> None:
    cpas = [make_cpa(), make_cpa()]
    clients = [make_client(cpa) for cpa in cpas]
    # Same seed, ids per account: every account of both customers numbers its rows from the same base.
    profile = {"accounts": 2, "months": 2, "seed": 21, "idsPerAccount": True}
    customers = [await _linked_customer(services, sandbox, c, profile) for c in clients]
    for finicity_id in customers:
        await sync_customer(services, finicity_id)
    truths = [sandbox_state_truth(sandbox.app.state.sandbox, f) for f in customers]
    id_sets = [ids for truth in truths for _, _, ids in truth.values()]
    shared = frozenset.intersection(*id_sets)
    assert len(shared) >= 10  # the same ids in all four accounts (two per customer)
    for cpa, client_id, truth in zip(cpas, clients, truths, strict=True):
        with acting_as(database_url, "authenticated", cpa) as conn:
            assert db_truth_on(conn, client_id) == truth
            other = next(c for c in clients if c != client_id)
            assert db_truth_on(conn, other) == {}
    (rows,) = pg.execute("select count(*) from public.open_banking_transactions where id = any(%s) "
                         "and platform_client_id = any(%s)", (list(shared), clients)).fetchone()
    assert rows == 4 * len(shared)


@pytest.mark.parametrize("lie", ["page_empty", "page_repeat"])
async def test_a_page_that_lies_fails_the_sync_before_anything_is_reconciled(
    rule: str, lie: str, settings_factory, sandbox: AsyncTestClient, pg: psycopg.Connection, make_cpa, make_client
) -> None:
    # A 90-day overlap makes the second sync's window two pages long (about 1,200 rows).
    settings = settings_factory(open_banking_base_url=SANDBOX_URL, open_banking_overlap_days=90)
    async with services_for(settings, finicity_http=sandbox) as services:
        client_id = make_client(make_cpa())
        finicity_id = await _linked_customer(
            services, sandbox, client_id, {"accounts": 1, "months": 4, "transactionsPerAccountPerMonth": 400})
        await sync_customer(services, finicity_id)
        moved = (await sandbox.post("/_sandbox/bank/advance", json={
            "customerId": finicity_id, "days": 1, "newPerAccount": 0, "postPending": True})).json()
        assert moved["removedPending"]  # rows only a reconcile would remove
        fault = {"endpoint": "transactions", "kind": lie, "count": 1}
        assert (await sandbox.post("/_sandbox/faults", json=fault)).status_code == 201

        with pytest.raises(IncompleteRead):
            await sync_customer(services, finicity_id)
        held = db_truth_on(pg, client_id)
        assert all(set(moved["removedPending"]) <= ids for _, _, ids in held.values())  # nothing reconciled

        await sync_customer(services, finicity_id)  # the job's retry: the server tells the truth again
        assert db_truth_on(pg, client_id) == sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)
