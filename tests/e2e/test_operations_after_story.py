"""After the CPA story has run through the real processes: the service's logs hold no secret,
token or full account number, and /metrics exposes the named series with real values."""

from __future__ import annotations

import re
import uuid

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from service.finicity.tokens import TokenCipher
from tests.e2e.conftest import cpa_view, sandbox_truth
from tests.e2e.test_cpa_story import _complete, _customer_id, _history, _request_link, _sent_link
from tests.support.processes import Proc, local_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("service_proc")


@pytest.fixture(scope="module")
def story(database_url, sandbox_proc: Proc, service_proc: Proc) -> dict:
    """One full story (link → email → Connect → webhooks → sync) on this module's processes."""
    with psycopg.connect(database_url, autocommit=True) as pg:
        cpa, client = uuid.uuid4(), uuid.uuid4()
        pg.execute("insert into auth.users (id, aud, role, email) values (%s, 'authenticated', 'authenticated', %s)",
                   (cpa, f"ops-{cpa.hex[:8]}@example.test"))
        pg.execute("insert into public.clients (id, user_id) values (%s, %s)", (client, cpa))
        request_id = _request_link(database_url, cpa, client, "ops@client.test")
        _sent_link(database_url, cpa, request_id)
        finicity_customer_id = _customer_id(pg, client)
    with httpx.Client(base_url=sandbox_proc.url, timeout=60) as sandbox_api:
        _complete(sandbox_api, finicity_customer_id, seed=21)
        truth = sandbox_truth(sandbox_api, finicity_customer_id)
        wait_for("the sync", lambda: cpa_view(database_url, cpa, client) == truth, timeout=90)
        # The sync has finished (and logged so) once it queued the login's historic load, which has started.
        wait_for("the historic load", lambda: _history(database_url, cpa, client) is not None
                 and _history(database_url, cpa, client)[0] == "loading")
        details = sandbox_api.get(f"/_sandbox/customers/{finicity_customer_id}").json()
    return {"finicity_customer_id": finicity_customer_id, "accounts": details["accounts"]}


def test_no_secret_token_or_full_account_number_reaches_the_service_log(story, service_proc: Proc,
                                                                       database_url: str) -> None:
    env = local_env()
    secrets = {name: env[name] for name in ("OPEN_BANKING_PARTNER_SECRET", "OPEN_BANKING_APP_KEY",
                                            "OPEN_BANKING_ENCRYPTION_KEY", "OPEN_BANKING_INTERNAL_SECRET")}
    secrets |= {f"account {a['id']} number": a["fullNumber"] for a in story["accounts"]}
    # The partner token the service used (the DB keeps it encrypted; decrypt it to look for it).
    with psycopg.connect(database_url) as pg:
        (ciphertext,) = pg.execute("select token_ciphertext from private.ob_partner_tokens").fetchone()
    token = TokenCipher(SecretStr(env["OPEN_BANKING_ENCRYPTION_KEY"])).decrypt(ciphertext)
    assert len(token) >= 12
    secrets["partner token"] = token
    assert token not in ciphertext
    log = service_proc.log()
    lines = log.splitlines()
    assert len(lines) > 20 and "sync.finished" in log, "the story must have been logged"
    leaked = {name for name, value in secrets.items() if value and value in log}
    assert leaked == set(), f"found in the service log: {sorted(leaked)}"


def test_metrics_expose_the_named_series_after_the_story(story, service_proc: Proc) -> None:
    text = httpx.get(service_proc.url + "/metrics", timeout=10).text

    def value(series: str) -> float:
        pattern = re.compile(r"^" + re.escape(series).replace(r"\.\*", ".*") + r"(?:\{[^}]*\})? ([0-9.e+-]+)$", re.M)
        return sum(float(m.group(1)) for m in pattern.finditer(text))

    assert value("ob_finicity_calls_total") > 0
    assert re.search(r'ob_finicity_calls_total\{endpoint="GET /aggregation/v4/customers/\{customerId\}/accounts/'
                     r'\{accountId\}/transactions",status="200"\} [1-9]', text)
    assert value("ob_webhooks_total") >= 6
    assert re.search(r'ob_webhooks_total\{outcome="stored",source="connect"\} [1-9]', text)
    assert value("ob_jobs_total") > 0
    assert value("ob_sync_duration_seconds_count") >= 1
    assert value("ob_sync_rows_total") > 0
    assert "ob_job_queue_depth{" in text and "ob_job_queue_oldest_due_seconds " in text
    assert value("ob_partner_token_refreshes_total") >= 0 and "ob_partner_token_refreshes_total " in text
