"""Build and tear down a process's Services: the database adapter, the Mastercard client and the
partner-token service, with API calls counted in metrics. Used by the app lifespan and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx

from service.db.factory import create_rpc
from service.db.port import Rpc
from service.finicity.budget import CallBudget
from service.finicity.client import FinicityClient
from service.finicity.tokens import PartnerTokenService, TokenCipher
from service.observability import Metrics
from service.runtime import Services, finicity_timeout, process_id
from service.settings import Settings


def build_services(
    settings: Settings,
    *,
    rpc: Rpc | None = None,
    finicity_http: httpx.AsyncClient | None = None,
    metrics: Metrics | None = None,
) -> Services:
    metrics = metrics or Metrics()
    rpc = rpc or create_rpc(settings)
    holder = process_id()

    def on_call(method: str, path_template: str, status: int | None, duration_s: float, code: str | None) -> None:
        metrics.finicity_calls.labels(endpoint=f"{method} {path_template}", status=str(status or "error")).inc()
        metrics.finicity_latency.labels(endpoint=f"{method} {path_template}").observe(duration_s)

    finicity = FinicityClient(
        str(settings.open_banking_base_url),
        settings.open_banking_app_key,
        settings.open_banking_partner_id,
        settings.open_banking_partner_secret,
        http=finicity_http,
        timeout=finicity_timeout(),
        on_call=on_call,
        call_permit=CallBudget(rpc),
    )

    async def authenticate() -> str:
        metrics.token_refreshes.inc()
        return await finicity.authenticate()

    def auth_refused(held: bool) -> None:
        metrics.partner_auth_failures.inc()
        metrics.partner_auth_blocked.set(1 if held else 0)

    tokens = PartnerTokenService(
        rpc,
        authenticate,
        TokenCipher(settings.open_banking_encryption_key),
        holder,
        auth_failure_limit=settings.open_banking_auth_failure_limit,
        auth_hold=timedelta(minutes=settings.open_banking_auth_hold_minutes),
        on_auth_failure=auth_refused,
    )
    finicity.token_provider = tokens
    return Services(settings=settings, rpc=rpc, finicity=finicity, tokens=tokens, metrics=metrics, holder_id=holder)


@asynccontextmanager
async def services_for(settings: Settings, **kwargs: object) -> AsyncIterator[Services]:
    services = build_services(settings, **kwargs)  # type: ignore[arg-type]
    opener = getattr(services.rpc, "open", None)
    if opener is not None:
        await opener()
    try:
        yield services
    finally:
        await services.finicity.aclose()
        await services.close_documents()
        await services.rpc.close()
