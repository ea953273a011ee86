"""Privacy after the real `python -m service demo` (the CPA story through the real processes):
no table holds a full account number; deleting the demo client the way the platform does (a delete
on public.clients) deletes its Mastercard customer and leaves, of everything naming it, only the
deletion's own audit line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from service.demo import DEMO_CPA_EMAIL
from tests.support.processes import ROOT, Proc, local_env
from tests.support.scan import find_in_database
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("service_proc")
DEMO_CLIENT_EMAIL = "owner@maple-bakery.test"


def _demo_clients(pg: psycopg.Connection[Any]) -> list[uuid.UUID]:
    """The demo CPA's clients (the demo signs up one per run)."""
    return [r[0] for r in pg.execute("select c.id from public.clients c join auth.users u on u.id = c.user_id "
                                     "where u.email = %s", (DEMO_CPA_EMAIL,)).fetchall()]


@pytest.fixture(scope="module")
def demo(database_url: str, sandbox_proc: Proc, service_proc: Proc) -> dict[str, Any]:
    with psycopg.connect(database_url, autocommit=True) as pg:
        # A demo run before this one on the same database: its clients go first (the same way).
        for old in _demo_clients(pg):
            pg.execute("delete from public.clients where id = %s", (old,))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPEN_BANKING_", "DATABASE_"))}
    with httpx.Client(base_url=sandbox_proc.url, timeout=60) as sandbox:
        # A small storm on the way: every Connect delivery (account-bearing `added`/`discovered`
        # included) twice, one pair reordered.
        for fault in ({"endpoint": "webhooks", "kind": "webhook_duplicate", "rate": 1.0},
                      {"endpoint": "webhooks", "kind": "webhook_reorder", "rate": 1.0, "count": 1}):
            assert sandbox.post("/_sandbox/faults", json=fault).status_code == 201
        try:
            result = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "service", "demo", "--database-url", database_url,
                 "--sandbox-url", sandbox_proc.url, "--service-url", service_proc.url],
                cwd=ROOT, env=env | local_env(), capture_output=True, text=True, timeout=600, check=False)
        finally:
            sandbox.delete("/_sandbox/faults")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with psycopg.connect(database_url, autocommit=True) as pg:
        (client,) = _demo_clients(pg)
        (finicity_customer_id,) = pg.execute(
            "select finicity_customer_id from public.open_banking_customers where platform_client_id = %s",
            (client,)).fetchone()
    with httpx.Client(base_url=sandbox_proc.url, timeout=60) as sandbox:
        accounts = sandbox.get(f"/_sandbox/customers/{finicity_customer_id}").json()["accounts"]
    assert len(accounts) == 3 and all(len(a["fullNumber"]) >= 9 for a in accounts)
    return {"client": client, "finicity_customer_id": finicity_customer_id, "accounts": accounts}


def test_no_table_holds_a_full_account_number_after_the_demo(demo: dict[str, Any], database_url: str) -> None:
    numbers = [a["fullNumber"] for a in demo["accounts"]]
    with psycopg.connect(database_url) as pg:
        # The story did store what it needed: the accounts (masked), and the `added` event.
        masked = {r[0] for r in pg.execute("select number_masked from public.open_banking_accounts "
                                           "where platform_client_id = %s", (demo["client"],)).fetchall()}
        assert masked == {"****" + n[-4:] for n in numbers}
        assert pg.execute("select count(*) from private.ob_webhook_events where finicity_customer_id = %s "
                          "and event_type = 'added'", (demo["finicity_customer_id"],)).fetchone()[0] >= 1
        assert find_in_database(pg, numbers) == {}


def test_deleting_the_demo_client_leaves_only_the_audit_line(demo: dict[str, Any], database_url: str,
                                                              sandbox_api: httpx.Client) -> None:
    client, fid = demo["client"], demo["finicity_customer_id"]
    names = {"client uuid": str(client), "Finicity customer id": fid, "email address": DEMO_CLIENT_EMAIL}
    names |= {f"account {a['id']}": a["id"] for a in demo["accounts"]}
    with psycopg.connect(database_url, autocommit=True) as pg:
        before = find_in_database(pg, names.values())
        assert set(before) == set(names.values()), "the story must have stored all of these"

        pg.execute("delete from public.clients where id = %s", (client,))  # the platform's door

        def confirmed() -> tuple[Any, ...] | None:
            row = pg.execute("select requested_by, mastercard, removed from private.ob_deletions "
                             "where platform_client_id = %s", (client,)).fetchone()
            return row if row and row[1] != "pending" else None

        requested_by, mastercard, removed = wait_for("the service to delete the Mastercard customer", confirmed)
        assert (requested_by, mastercard) == ("platform", "deleted")
        assert removed["public.open_banking_transactions"] > 0 and removed["private.ob_webhook_events"] >= 6
        assert sandbox_api.get(f"/_sandbox/customers/{fid}").status_code == 404

        found = find_in_database(pg, names.values())
        assert found == {str(client): ["private.ob_deletions"]}, found
        # The audit line itself: the client's uuid and counts, nothing that names a person or an account.
        (line,) = pg.execute("select to_jsonb(d)::text from private.ob_deletions d where platform_client_id = %s",
                             (client,)).fetchone()
        assert not any(v in line for v in (fid, DEMO_CPA_EMAIL, DEMO_CLIENT_EMAIL, "Maya"))
        assert find_in_database(pg, [a["fullNumber"] for a in demo["accounts"]]) == {}
