"""`create_app(settings)`: the Litestar service. Nothing happens at import time; the lifespan
owns the database adapter, the Mastercard client, the token service and the job worker."""

from __future__ import annotations

import asyncio
import gc
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.config.app import AppConfig
from litestar.openapi import OpenAPIConfig
from litestar.status_codes import HTTP_202_ACCEPTED
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.db.port import DatabaseUnavailable
from service.jobs.queue_gauges import QueueGauges
from service.jobs.registry import default_drains, default_handlers
from service.jobs.worker import Worker
from service.observability import configure_logging
from service.runtime import Services
from service.settings import Settings
from service.webhooks.routes import webhook_handlers
from service.wiring import build_services

log = structlog.get_logger(__name__)


def _services(request: Request[Any, Any, Any]) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@get("/healthz", sync_to_thread=False, include_in_schema=True, tags=["operations"])
def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@get("/readyz", tags=["operations"])
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Ready: settings were valid at start and the database answers. `partner_auth` says whether partner
    authentication is held after failures in a row (webhooks are still taken, so it stays 200)."""
    services = _services(request)
    try:
        await services.rpc.ping()
        auth = await services.rpc.call("ob_partner_auth_state", {})
    except DatabaseUnavailable:
        return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
    services.metrics.partner_auth_blocked.set(1 if auth["held"] else 0)
    return Response({"status": "ok", "database": "ok", "partner_auth": "held" if auth["held"] else "ok"})


@get("/metrics", tags=["operations"], media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus metrics; job counts are at most METRICS_QUEUE_REFRESH_SECONDS old (no count per scrape)."""
    services = _services(request)
    token = services.settings.metrics_bearer_token
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), b"Bearer " + token.get_secret_value().encode()):
            return Response(
                b'{"detail":"GET /metrics needs Authorization: Bearer <METRICS_BEARER_TOKEN>"}',
                status_code=401, media_type="application/json", headers={"WWW-Authenticate": "Bearer"},
            )
    gauges: QueueGauges = request.app.state.queue_gauges
    await gauges.refresh(services)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@post("/internal/wake", tags=["operations"], status_code=HTTP_202_ACCEPTED)
async def internal_wake(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """The doorbell pg_net rings on hosted Supabase (shared secret, constant-time compare)."""
    services = _services(request)
    given = request.headers.get("x-internal-secret", "")
    expected = services.settings.open_banking_internal_secret.get_secret_value()
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return Response({"detail": "invalid or missing X-Internal-Secret"}, status_code=401)
    worker: Worker | None = request.app.state.get("worker")
    if worker is not None:
        worker.wake("http")
    return Response({"status": "woken" if worker else "no worker in this process"}, status_code=202)


def create_app(settings: Settings, *, services: Services | None = None, run_worker: bool = True) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own = services is None
        svc = services or build_services(settings)
        if own:
            opener = getattr(svc.rpc, "open", None)
            if opener is not None:
                await opener()
        app.state.services = svc
        app.state.queue_gauges = QueueGauges(settings.metrics_queue_refresh_seconds)
        app.state.worker = None
        background: list[asyncio.Task[None]] = []
        worker = None
        if run_worker:
            worker = Worker(
                svc,
                default_handlers(),
                concurrency=settings.worker_concurrency,
                poll_seconds=settings.worker_poll_seconds,
                drains=default_drains(),
            )
            app.state.worker = worker
            background.append(asyncio.create_task(worker.run(), name="worker"))
            if svc.rpc.supports_listen:
                background.append(asyncio.create_task(svc.rpc.listen(worker.wake), name="listen"))
        # Everything built so far (modules, the app, pools) lives as long as the process: move it out
        # of the collector's reach, so a full collection scans only request-time objects (otherwise
        # one pauses every request for ~100 ms under load).
        gc.collect()
        gc.freeze()
        log.info("service.started", adapter=settings.database_adapter, worker=run_worker)
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            for task in background:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            if own:
                await svc.finicity.aclose()
                await svc.close_documents()
                await svc.rpc.close()
            log.info("service.stopped")

    def configure(app_config: AppConfig) -> AppConfig:
        configure_logging(settings.log_level, settings.log_json, secrets=settings.secret_values())
        return app_config

    return Litestar(
        route_handlers=[healthz, readyz, metrics, internal_wake, *webhook_handlers],
        lifespan=[lifespan],
        on_app_init=[configure],
        # In production the route map is not published unless OPENAPI_ENABLED=true.
        openapi_config=(
            OpenAPIConfig(title="Open Banking for CPA platforms", version="0.1.0") if settings.serves_openapi else None
        ),
        debug=False,
    )
