"""The partner account must not lock (issue 13): Mastercard locks it after five failed authentications
in a row. Two real service replicas with a wrong (rotated) secret, several sync jobs retrying: the
failed-authentication count in the database stops every process after two, so the sandbox sees at
most two authentication calls in all and never locks; /readyz and `auth status` say it is held, and
`auth reset` lets the next call through once the secret is fixed."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.resilience.conftest import clear_partner_token, connect, jobs_for, request_sync, wait_for
from tests.support.processes import local_env

CUSTOMERS = 4
SERVICE_ENV = {"WORKER_POLL_SECONDS": "0.5", "OPEN_BANKING_PARTNER_SECRET": "rotated-away-secret-0000000"}


def _auth_state(database_url: str) -> tuple[int, bool]:
    with connect(database_url) as conn:
        failures, held = conn.execute(
            "select auth_failures, coalesce(auth_held_until > now(), false) from private.ob_partner_tokens").fetchone()
    return failures, held


def _reset(database_url: str) -> None:
    with connect(database_url) as conn:
        conn.execute("update private.ob_partner_tokens set auth_failures = 0, auth_held_until = null")


def test_two_replicas_with_a_wrong_secret_authenticate_twice_in_all_and_never_lock_the_account(
    database_url, sandbox_factory, service_factory, linked_customer_factory, fresh_queue
) -> None:
    sandbox = sandbox_factory()
    api = httpx.Client(base_url=sandbox.url, timeout=30)
    customers = [linked_customer_factory(sandbox.url, accounts=1, months=1, per_month=5, seed=500 + i)
                 for i in range(CUSTOMERS)]
    clear_partner_token(database_url)  # the cached token is gone: the replicas must authenticate
    _reset(database_url)
    before = api.get("/_sandbox/stats").json()["partnerAuth"]
    replicas = [service_factory(sandbox.url, SERVICE_ENV), service_factory(sandbox.url, SERVICE_ENV)]
    try:
        for c in customers:
            request_sync(database_url, c.cpa_id, c.client_id)
        ids = [str(c.client_id) for c in customers]

        def every_job_failed_twice() -> bool:
            jobs = jobs_for(database_url, "kind = 'sync_customer' and payload->>'platform_client_id' = any(%s)",
                            (ids,))
            return len(jobs) == CUSTOMERS and all(j["attempts"] >= 2 and j["last_error"] for j in jobs)

        wait_for("every sync job to fail at least twice", every_job_failed_twice, timeout=90)
        stats = api.get("/_sandbox/stats").json()["partnerAuth"]
        calls = stats["count"] - before["count"]
        failures, held = _auth_state(database_url)
        ready = httpx.get(f"{replicas[1].url}/readyz", timeout=10).json()
        metrics = httpx.get(f"{replicas[1].url}/metrics", timeout=10).text
        jobs = jobs_for(database_url, "kind = 'sync_customer' and payload->>'platform_client_id' = any(%s)", (ids,))
        attempts = sum(j["attempts"] for j in jobs)
        print(f"\n[partner lockout guard] {len(replicas)} replicas, {CUSTOMERS} sync jobs, {attempts} job attempts: "
              f"{calls} partner authentication call(s) (sandbox lock at 5: locked={stats['locked']}), "
              f"failures in a row {failures}, held={held}, /readyz {ready}")
        assert calls == 2 and stats["locked"] == 0 and stats["consecutiveFailures"] == 2
        assert (failures, held) == (2, True)
        assert ready == {"status": "ok", "database": "ok", "partner_auth": "held"}
        assert "ob_partner_auth_blocked 1.0" in metrics
        assert all("failed authentications in a row" in (j["last_error"] or "") for j in jobs)
        assert all("rotated-away-secret" not in (j["last_error"] or "") for j in jobs)

        env = {**os.environ, **local_env(), "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
        status = subprocess.run([sys.executable, "-m", "service", "auth", "status"], env=env,
                                capture_output=True, text=True, timeout=60, check=True).stdout
        assert "failed authentications in a row: 2 (HELD until" in status
        for proc in replicas:  # the runbook: stop the replicas with the wrong secret, fix it, then reset
            proc.kill()
        reset = subprocess.run([sys.executable, "-m", "service", "auth", "reset"], env=env,
                               capture_output=True, text=True, timeout=60, check=True).stdout
        assert "2 failed authentication(s) in a row cleared" in reset
        assert _auth_state(database_url) == (0, False)
    finally:
        for proc in replicas:
            proc.kill()
        _reset(database_url)
        clear_partner_token(database_url)
