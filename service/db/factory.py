"""Choose the adapter from settings: Supabase when its URL and key are set, else DATABASE_URL."""

from __future__ import annotations

import httpx

from service.db.postgres import PostgresRpc
from service.db.supabase import SupabaseRpc
from service.settings import Settings


def create_rpc(settings: Settings, *, http: httpx.AsyncClient | None = None) -> PostgresRpc | SupabaseRpc:
    if settings.database_adapter == "supabase":
        assert settings.supabase_url is not None and settings.supabase_service_role_key is not None
        return SupabaseRpc(
            str(settings.supabase_url).rstrip("/"), settings.supabase_service_role_key.get_secret_value(), http=http
        )
    assert settings.database_url is not None
    return PostgresRpc(settings.database_url.get_secret_value(), max_size=settings.db_pool_max)
