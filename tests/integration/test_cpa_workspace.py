"""The CPA's workspace through real parts (the real database with its RLS, the real Mastercard
client, the sandbox serving the official API in-process): annotations that survive syncs and a
pending row posting, disconnecting one of two banks, excluding an account, institution names."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from service.jobs.types import Job
from service.runtime import Services
from service.sync.account_requests import account_request_job
from service.sync.customer import sync_customer
from service.sync.institutions import refresh_institutions_job
from service.sync.link import ensure_customer
from service.wiring import services_for
from tests.conftest import acting_as
from tests.integration.conftest import SANDBOX_URL
from tests.support.truth import db_truth_on, sandbox_state_truth


@pytest.fixture
async def services(settings_factory, sandbox) -> AsyncIterator[Services]:
    async with services_for(settings_factory(open_banking_base_url=SANDBOX_URL), finicity_http=sandbox) as svc:
        yield svc


@pytest.fixture
def calls(sandbox) -> list[str]:
    """Every Mastercard path the service called (recorded at the HTTP boundary)."""
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    sandbox.event_hooks["request"].append(record)
    return seen


async def _connect(services: Services, sandbox: AsyncTestClient, finicity_customer_id: str, **profile: Any) -> dict:
    link = await services.finicity.generate_connect_link(
        finicity_customer_id, "http://127.0.0.1:3000/done", "http://127.0.0.1:9/webhooks/connect"
    )
    assert link.link
    response = await sandbox.post(
        "/_sandbox/connect/complete",
        json={
            "customerId": finicity_customer_id,
            "wait": False,
            "profile": {"accounts": 2, "months": 3, "seed": 5, "transactionsPerAccountPerMonth": 20, **profile},
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _run_request(services: Services, pg: psycopg.Connection, database_url: str, cpa: uuid.UUID,
                       row: dict[str, Any]) -> dict[str, Any]:
    """The CPA inserts a request row (as PostgREST would); the worker runs the job its trigger queued."""
    cols = ", ".join(row)
    with acting_as(database_url, "authenticated", cpa) as conn:
        (request_id,) = conn.execute(
            f"insert into public.open_banking_account_requests ({cols}) values ({', '.join(['%s'] * len(row))}) "
            "returning id",
            list(row.values()),
        ).fetchone()
        conn.commit()
    (payload,) = pg.execute(
        "select payload from private.ob_jobs where kind = 'account_request' and payload ->> 'account_request_id' = %s",
        (str(request_id),),
    ).fetchone()
    await account_request_job(services, Job(id=0, kind="account_request", payload=payload, attempts=1, max_attempts=8))
    status, removed, error = pg.execute(
        "select status, accounts_removed, error_message from public.open_banking_account_requests where id = %s",
        (request_id,),
    ).fetchone()
    return {"status": status, "accounts_removed": removed, "error_message": error}


# An account row with the ids of its transactions: what "not touched" means for an excluded account.
FROZEN = (
    "select a.*, (select array_agg(t.id order by t.id) from public.open_banking_transactions t "
    "where t.account_id = a.id) from public.open_banking_accounts a where a.id = %s"
)


def _rows(pg: psycopg.Connection, sql: str, *args: Any) -> list[tuple]:
    return pg.execute(sql, args).fetchall()


async def test_an_annotation_survives_30_daily_syncs_and_its_pending_row_posting(
    services, sandbox, pg, database_url, make_cpa, make_client
) -> None:
    cpa = make_cpa()
    client_id = make_client(cpa)
    finicity_id = await ensure_customer(services, client_id, "Olive")
    await _connect(services, sandbox, finicity_id)
    await sync_customer(services, finicity_id)
    pending_id, account_id, amount, description, transacted = pg.execute(
        "select id, account_id, amount, description, transaction_at from public.open_banking_transactions "
        "where platform_client_id = %s and status = 'pending' order by id limit 1",
        (client_id,),
    ).fetchone()
    (posted_id,) = pg.execute(
        "select id from public.open_banking_transactions where account_id = %s and status = 'posted' "
        "order by effective_at desc, id limit 1",
        (account_id,),
    ).fetchone()
    with acting_as(database_url, "authenticated", cpa) as conn:
        conn.execute(
            "insert into public.open_banking_transaction_annotations "
            "(account_id, transaction_id, category, tax_line, note, reviewed) values "
            "(%s, %s, 'Meals', 'Sch C 24b', 'client lunch', true), (%s, %s, 'Rent', 'Sch C 20b', 'office', false)",
            (account_id, pending_id, account_id, posted_id),
        )
        conn.commit()

    for day in range(30):
        advanced = await sandbox.post(
            "/_sandbox/bank/advance",
            json={"customerId": finicity_id, "days": 1, "newPerAccount": 2, "postPending": True, "seed": day},
        )
        assert advanced.status_code == 200, advanced.text
        await sync_customer(services, finicity_id)

    assert db_truth_on(pg, client_id) == sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)
    assert not _rows(pg, "select 1 from public.open_banking_transactions where account_id = %s and id = %s",
                     account_id, pending_id), "the pending row posted under a new id"
    with acting_as(database_url, "authenticated", cpa) as conn:
        notes = conn.execute(
            "select id, status, amount, description, transaction_at, cpa_category, tax_line, note, reviewed "
            "from public.open_banking_transactions_annotated where account_id = %s and note is not null order by note",
            (account_id,),
        ).fetchall()
    assert len(notes) == 2
    (moved, kept) = notes
    assert moved[0] != pending_id and moved[1:5] == ("posted", amount, description, transacted)
    assert moved[5:] == ("Meals", "Sch C 24b", "client lunch", True)
    assert kept == (posted_id, "posted", *kept[2:5], "Rent", "Sch C 20b", "office", False)


async def test_disconnecting_one_of_two_banks_leaves_the_other_exactly_as_before(
    services, sandbox, pg, database_url, make_cpa, make_client, calls
) -> None:
    cpa = make_cpa()
    client_id = make_client(cpa)
    finicity_id = await ensure_customer(services, client_id, "Olive")
    first = await _connect(services, sandbox, finicity_id, institutionId="102105")
    second = await _connect(services, sandbox, finicity_id, institutionId="102176", seed=6)
    await sync_customer(services, finicity_id)
    kept = second["accounts"]

    def other_bank() -> dict[str, list[tuple]]:
        return {
            "accounts": _rows(pg, "select * from public.open_banking_accounts where id = any(%s) order by id", kept),
            "transactions": _rows(pg, "select * from public.open_banking_transactions where account_id = any(%s) "
                                      "order by account_id, id", kept),
            "snapshots": _rows(pg, "select * from public.open_banking_balance_snapshots where account_id = any(%s) "
                                   "order by account_id, snapshot_date", kept),
            "login": _rows(pg, "select * from public.open_banking_institution_logins where id = %s",
                           second["institutionLoginId"]),
        }

    before = other_bank()
    assert before["transactions"] and len(before["accounts"]) == 2
    outcome = await _run_request(services, pg, database_url, cpa,
                                 {"platform_client_id": client_id, "action": "disconnect_login",
                                  "institution_login_id": first["institutionLoginId"]})

    assert outcome == {"status": "succeeded", "accounts_removed": 2, "error_message": None}
    assert f"DELETE /aggregation/v1/customers/{finicity_id}/institutionLogins/{first['institutionLoginId']}" in calls
    assert other_bank() == before
    assert not _rows(pg, "select 1 from public.open_banking_accounts where id = any(%s)", first["accounts"])
    assert not _rows(pg, "select 1 from public.open_banking_transactions where account_id = any(%s)", first["accounts"])
    assert not _rows(pg, "select 1 from public.open_banking_institution_logins where id = %s",
                     first["institutionLoginId"])
    # Mastercard agrees: the next sync finds the same two accounts and nothing to remove.
    result = await sync_customer(services, finicity_id)
    assert result.accounts == 2 and result.accounts_removed == 0
    assert db_truth_on(pg, client_id) == sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)


async def test_a_sync_that_listed_the_accounts_just_before_a_disconnect_brings_none_of_them_back(
    services, sandbox, pg, database_url, make_cpa, make_client, monkeypatch, calls
) -> None:
    """The sync reads the account list, then the CPA's disconnect runs to the end (Mastercard and our
    rows), then the sync writes: the disconnected bank's accounts are not stored again, their
    transactions are not read, and the sync ends exactly where Mastercard is."""
    cpa = make_cpa()
    client_id = make_client(cpa)
    finicity_id = await ensure_customer(services, client_id, "Olive")
    first = await _connect(services, sandbox, finicity_id, institutionId="102105")
    await _connect(services, sandbox, finicity_id, institutionId="102176", seed=6)
    await sync_customer(services, finicity_id)
    list_accounts = services.finicity.list_accounts
    outcomes: list[dict[str, Any]] = []

    async def list_then_disconnect(*args: Any, **kwargs: Any) -> Any:
        listed = await list_accounts(*args, **kwargs)
        if not outcomes:
            outcomes.append(await _run_request(services, pg, database_url, cpa, {
                "platform_client_id": client_id, "action": "disconnect_login",
                "institution_login_id": first["institutionLoginId"]}))
        return listed

    monkeypatch.setattr(services.finicity, "list_accounts", list_then_disconnect)
    start = len(calls)
    result = await sync_customer(services, finicity_id)

    assert outcomes == [{"status": "succeeded", "accounts_removed": 2, "error_message": None}]
    assert result.accounts == 2
    assert not _rows(pg, "select 1 from public.open_banking_accounts where id = any(%s)", first["accounts"])
    assert not _rows(pg, "select 1 from public.open_banking_institution_logins where id = %s",
                     first["institutionLoginId"])
    assert not [call for call in calls[start:] if "/transactions" in call
                and any(f"/accounts/{account}/" in call for account in first["accounts"])]
    assert db_truth_on(pg, client_id) == sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)


async def test_an_excluded_account_gets_no_new_transactions_and_no_transaction_calls(
    services, sandbox, pg, database_url, make_cpa, make_client, calls
) -> None:
    cpa = make_cpa()
    client_id = make_client(cpa)
    finicity_id = await ensure_customer(services, client_id, "Olive")
    info = await _connect(services, sandbox, finicity_id, accounts=3)
    await sync_customer(services, finicity_id)
    excluded, *others = info["accounts"]
    outcome = await _run_request(services, pg, database_url, cpa,
                                 {"platform_client_id": client_id, "action": "exclude_account", "account_id": excluded})
    assert outcome["status"] == "succeeded"
    frozen = _rows(pg, FROZEN, excluded)

    calls.clear()
    advanced = await sandbox.post(
        "/_sandbox/bank/advance", json={"customerId": finicity_id, "days": 2, "newPerAccount": 5, "postPending": True}
    )
    assert advanced.status_code == 200
    await sync_customer(services, finicity_id)

    transaction_calls = [c for c in calls if c.endswith("/transactions")]
    assert transaction_calls and not [c for c in transaction_calls if f"/accounts/{excluded}/" in c]
    assert not [c for c in transaction_calls if "/accounts/" not in c], "no customer-wide read covers it either"
    assert _rows(pg, FROZEN, excluded) == frozen
    truth = sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)
    mine = db_truth_on(pg, client_id)
    assert {a: mine[a] for a in others} == {a: truth[a] for a in others}
    assert mine[excluded] != truth[excluded], "the bank has new rows for it that we did not take"

    outcome = await _run_request(services, pg, database_url, cpa,
                                 {"platform_client_id": client_id, "action": "include_account", "account_id": excluded})
    assert outcome["status"] == "succeeded"
    (queued,) = pg.execute(
        "select count(*) from private.ob_jobs where kind = 'sync_customer' "
        "and payload ->> 'reason' = 'include_account' and payload ->> 'platform_client_id' = %s",
        (str(client_id),),
    ).fetchone()
    assert queued == 1
    await sync_customer(services, finicity_id)
    assert db_truth_on(pg, client_id) == sandbox_state_truth(sandbox.app.state.sandbox, finicity_id)


async def test_removing_an_account_gone_at_mastercard_is_confirmed_and_another_cpa_cannot_ask(
    services, sandbox, pg, database_url, make_cpa, make_client
) -> None:
    cpa, stranger = make_cpa(), make_cpa()
    client_id = make_client(cpa)
    finicity_id = await ensure_customer(services, client_id, "Olive")
    info = await _connect(services, sandbox, finicity_id, accounts=2)
    await sync_customer(services, finicity_id)
    gone, stays = info["accounts"]
    assert (await services.finicity.delete_account(finicity_id, gone)) is True  # removed at the bank already
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="no account"):
        await _run_request(services, pg, database_url, stranger,
                           {"platform_client_id": client_id, "action": "remove_account", "account_id": stays})
    outcome = await _run_request(services, pg, database_url, cpa,
                                 {"platform_client_id": client_id, "action": "remove_account", "account_id": gone})
    assert outcome == {"status": "succeeded", "accounts_removed": 1, "error_message": None}
    assert [r[0] for r in _rows(pg, "select id from public.open_banking_accounts where platform_client_id = %s",
                                client_id)] == [stays]


async def test_institution_names_and_logos_reach_accounts_and_the_status_view(
    services, sandbox, pg, database_url, make_cpa, make_client, calls
) -> None:
    cpa = make_cpa()
    client_id = make_client(cpa)
    finicity_id = await ensure_customer(services, client_id, "Olive")
    await _connect(services, sandbox, finicity_id, institutionId="102176")
    await sync_customer(services, finicity_id)
    pg.execute("select private.ob_schedule_institutions_discover()")  # what pg_cron runs every 10 minutes
    (payload,) = pg.execute(
        "select payload from private.ob_jobs "
        "where kind = 'refresh_institutions' and payload -> 'institution_ids' ? '102176'"
    ).fetchone()
    await refresh_institutions_job(services, Job(id=0, kind="refresh_institutions", payload=payload, attempts=1,
                                                 max_attempts=8))
    assert "GET /institution/v2/institutions/102176" in calls
    assert "GET /institution/v2/institutions/102176/branding" in calls
    with acting_as(database_url, "authenticated", cpa) as conn:
        names = conn.execute(
            "select distinct institution_name from public.open_banking_accounts where platform_client_id = %s",
            (client_id,),
        ).fetchall()
        (badge_names,) = conn.execute(
            "select institution_names from public.open_banking_client_status where platform_client_id = %s",
            (client_id,),
        ).fetchone()
        logo, color = conn.execute(
            "select logo_url, primary_color from public.open_banking_institutions where id = '102176'"
        ).fetchone()
    assert names == [("FinBank Profiles - A",)] and badge_names == ["FinBank Profiles - A"]
    assert logo == f"{SANDBOX_URL}/_sandbox/branding/102176/logo.svg" and color == "#1B7F3B"
