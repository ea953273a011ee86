"""The RPC port reaches the real database as service_role through both adapters, and the same
functions refuse the API roles a browser could hold."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest

from service.db import DatabaseUnavailable, RpcError
from service.db.postgres import PostgresRpc
from service.db.supabase import SupabaseRpc
from tests.conftest import JWT_SECRET
from tests.support.postgrest import PostgrestRpcTransport, mint_jwt


async def test_health_answers_through_the_adapter(rpc) -> None:
    result = await rpc.call("ob_health")
    assert result["ok"] is True


async def test_customer_upsert_round_trips_and_is_idempotent(rpc, make_cpa, make_client) -> None:
    client_id = make_client(make_cpa())
    username = f"cpa-{client_id.hex}"
    first = await rpc.call(
        "ob_customer_upsert", {"p_platform_client_id": client_id, "p_username": username, "p_customer_type": "testing"}
    )
    second = await rpc.call(
        "ob_customer_upsert",
        {
            "p_platform_client_id": client_id,
            "p_username": username,
            "p_customer_type": "testing",
            "p_finicity_customer_id": f"fc{client_id.hex[:10]}",
        },
    )
    assert first["id"] == second["id"]
    assert first["finicity_customer_id"] is None
    assert second["finicity_customer_id"] == f"fc{client_id.hex[:10]}"


async def test_money_travels_exactly_through_the_adapter(rpc, pg, make_cpa, make_client) -> None:
    client_id = make_client(make_cpa())
    finicity_customer_id = f"fc{client_id.hex[:12]}"
    await rpc.call(
        "ob_customer_upsert",
        {
            "p_platform_client_id": client_id,
            "p_username": f"u{client_id.hex}",
            "p_customer_type": "testing",
            "p_finicity_customer_id": finicity_customer_id,
        },
    )
    account_id = f"acct-{client_id.hex[:8]}"
    fetched_at = "2026-11-28T12:00:00+00:00"
    await rpc.call(
        "ob_accounts_upsert",
        {
            "p_finicity_customer_id": finicity_customer_id,
            "p_fetched_at": fetched_at,
            "p_accounts": [
                {
                    "id": account_id,
                    "institution_login_id": 990000 + client_id.int % 9999,
                    "name": "Checking",
                    "balance": Decimal("1234567.8901"),
                }
            ],
        },
    )
    result = await rpc.call(
        "ob_transactions_upsert",
        {
            "p_account_id": account_id,
            "p_fetched_at": fetched_at,
            "p_transactions": [
                {
                    "id": 7_000_000_000 + client_id.int % 1_000_000,
                    "amount": Decimal("-0.0001"),
                    "status": "posted",
                    "posted_at": fetched_at,
                    "description": "Tiny fee",
                }
            ],
        },
    )
    assert result == {"received": 1, "written": 1, "removed": 0, "quarantined": 0, "released": 0}
    balance = pg.execute("select balance from public.open_banking_accounts where id = %s", (account_id,)).fetchone()
    amount = pg.execute(
        "select amount from public.open_banking_transactions where account_id = %s", (account_id,)
    ).fetchone()
    assert balance == (Decimal("1234567.8901"),)
    assert amount == (Decimal("-0.0001"),)


async def test_database_errors_arrive_as_rpc_errors_with_their_sqlstate(rpc) -> None:
    with pytest.raises(RpcError) as caught:
        await rpc.call("ob_job_claim", {"p_worker": "", "p_limit": 1, "p_lease_seconds": 60})
    assert caught.value.code == "22023"
    assert "p_worker is required" in caught.value.message


async def test_function_names_outside_the_ob_namespace_are_refused_before_any_io(rpc) -> None:
    with pytest.raises(ValueError, match="not an RPC function name"):
        await rpc.call("pg_sleep", {"p_seconds": 1})


async def test_postgres_adapter_as_authenticated_is_refused(database_url) -> None:
    port = PostgresRpc(database_url, role="authenticated", max_size=1)
    await port.open()
    try:
        with pytest.raises(RpcError) as caught:
            await port.call("ob_health")
        assert caught.value.code == "42501"
    finally:
        await port.close()


@pytest.mark.parametrize("role", ["authenticated", "anon"])
async def test_supabase_adapter_with_a_browser_jwt_is_refused(authenticator_url, role) -> None:
    transport = PostgrestRpcTransport(authenticator_url, JWT_SECRET)
    http = httpx.AsyncClient(transport=transport, base_url="http://supabase.test")
    port = SupabaseRpc("http://supabase.test", mint_jwt(JWT_SECRET, role, sub=str(uuid.uuid4())), http=http)
    await port.open()
    try:
        with pytest.raises(RpcError) as caught:
            await port.call("ob_job_claim", {"p_worker": "intruder", "p_limit": 10, "p_lease_seconds": 60})
        assert caught.value.code == "42501"
    finally:
        await port.close()


async def test_supabase_adapter_sends_supabase_pys_real_rpc_request(authenticator_url) -> None:
    transport = PostgrestRpcTransport(authenticator_url, JWT_SECRET)
    http = httpx.AsyncClient(transport=transport, base_url="http://supabase.test")
    key = mint_jwt(JWT_SECRET, "service_role")
    port = SupabaseRpc("http://supabase.test", key, http=http)
    await port.open()
    try:
        await port.call("ob_health")
    finally:
        await port.close()
    (request,) = transport.requests
    assert request.method == "POST"
    assert request.url.path == "/rest/v1/rpc/ob_health"
    assert request.headers["apikey"] == key
    assert request.headers["authorization"] == f"Bearer {key}"


async def test_forged_jwt_is_rejected_like_postgrest(authenticator_url) -> None:
    transport = PostgrestRpcTransport(authenticator_url, JWT_SECRET)
    http = httpx.AsyncClient(transport=transport, base_url="http://supabase.test")
    port = SupabaseRpc(
        "http://supabase.test", mint_jwt("some-other-secret-of-sufficient-length!!", "service_role"), http=http
    )
    await port.open()
    try:
        with pytest.raises(RpcError) as caught:
            await port.call("ob_health")
        assert caught.value.code == "PGRST301"
    finally:
        await port.close()


async def test_unreachable_database_is_reported_as_unavailable() -> None:
    port = PostgresRpc("postgresql://postgres:postgres@127.0.0.1:9/postgres?connect_timeout=1", max_size=1, timeout=1.5)
    await port.open()
    try:
        with pytest.raises(DatabaseUnavailable):
            await port.call("ob_health")
    finally:
        await port.close()
