"""Litestar application factory for the sandbox."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.types import ASGIApp, Receive, Scope, Send

from sandbox import control
from sandbox.config import SandboxConfig
from sandbox.errors import ApiError, api_error_handler
from sandbox.routes import (
    accounts,
    connect,
    consumers,
    customers,
    institutions,
    partner,
    refreshes,
    removal,
    statements,
    subscriptions,
    transactions,
)
from sandbox.signing import load_or_generate_key
from sandbox.state import SandboxState
from sandbox.validation import JudgeLoader, judge_middleware
from sandbox.webhooks import Deliverer

API_HANDLERS = [
    partner.create_token,
    customers.add_testing_customer,
    customers.add_customer,
    customers.get_customers,
    customers.get_customer_by_id,
    customers.delete_customer,
    consumers.create_consumer,
    consumers.get_consumer_for_customer,
    connect.generate,
    connect.generate_fix,
    connect.send_email,
    accounts.get_accounts,
    accounts.refresh_accounts,
    accounts.get_account_by_id,
    accounts.authorization_details,
    removal.delete_institution_login,
    removal.delete_account,
    institutions.get_institution,
    institutions.get_institution_branding,
    institutions.branding_asset,
    transactions.customer_transactions,
    transactions.account_transactions,
    statements.account_statement,
    statements.account_statements,
    statements.asset,
    statements.certified_institutions,
    refreshes.refresh_transactions,
    refreshes.refresh_status,
    subscriptions.create_subscription,
    subscriptions.list_subscriptions,
    subscriptions.get_subscription,
    subscriptions.update_subscription,
    subscriptions.delete_subscription,
]


def _stats_middleware(app: ASGIApp) -> ASGIApp:
    """Count calls per spec operation (route handler opt "op") and response status."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        seen: dict[str, int] = {}

        async def _send(message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        try:
            await app(scope, receive, _send)
        finally:
            handler = scope.get("route_handler")
            op = handler.opt.get("op") if handler is not None else None
            if op and "status" in seen:
                scope["app"].state.sandbox.stats.record(op, seen["status"])

    return middleware


def create_app(config: SandboxConfig | None = None, state: SandboxState | None = None) -> Litestar:
    config = config or SandboxConfig()
    state = state or SandboxState()
    judge = JudgeLoader(config.strict_validation)
    deliverer = Deliverer(state, config)
    app_state = State(
        {
            "config": config,
            "sandbox": state,
            "deliverer": deliverer,
            "key": load_or_generate_key(config.webhook_private_key),
        }
    )

    async def _shutdown() -> None:
        await deliverer.close()

    return Litestar(
        route_handlers=[*API_HANDLERS, *control.HANDLERS],
        exception_handlers={ApiError: api_error_handler},
        middleware=[_stats_middleware, judge_middleware(judge)],
        state=app_state,
        on_startup=[judge.start],  # the spec loads in a thread while the sandbox already answers
        on_shutdown=[_shutdown],
        openapi_config=None,
    )
