"""What "exact data" means in the tests: per account, the number of transactions, the sum of their
amounts and their ids, read from the bank (the sandbox) or from the database."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import psycopg

Truth = dict[str, tuple[int, Decimal, frozenset[int]]]

_CLIENT_ROWS = (
    "select a.id, count(t.id), coalesce(sum(t.amount), 0), coalesce(array_agg(t.id) filter "
    "(where t.id is not null), '{}') from public.open_banking_accounts a left join "
    "public.open_banking_transactions t on t.account_id = a.id where a.platform_client_id = %s group by a.id"
)


def db_truth_on(conn: psycopg.Connection[Any], client_id: uuid.UUID) -> Truth:
    """What this connection may see of a client's data (under RLS when it acts as a CPA)."""
    rows = conn.execute(_CLIENT_ROWS, (client_id,)).fetchall()
    return {r[0]: (r[1], Decimal(r[2]), frozenset(r[3])) for r in rows}


def sandbox_state_truth(state: Any, finicity_customer_id: str) -> Truth:
    """What the API serves for a customer now (in-process sandbox state): shadow rows are not kept, and a
    login whose historic load has not completed serves 180 days before its accounts were added."""
    truth: Truth = {}
    for account in state.customers[finicity_customer_id].accounts.values():
        live = [t for t in account.txs.values() if t.status != "shadow" and t.effective_date >= account.history_floor]
        truth[account.id] = (
            len(live),
            sum((Decimal(repr(t.amount)) for t in live), Decimal(0)),
            frozenset(t.id for t in live),
        )
    return truth
