"""`subscriptions`: manage OBWMS (OFNMS) webhook subscriptions from the operator CLI.

    python -m service subscriptions create --url URL --event NAME [--event NAME ...]
    python -m service subscriptions list [--json]
    python -m service subscriptions get ID
    python -m service subscriptions update ID [--url URL] --event NAME [--event ...]
    python -m service subscriptions delete ID

`create` without --url subscribes the service's own /webhooks/mastercard. Exit codes: 0 ok, 1 the API
refused or failed (the message names Finicity's code), 2 usage. The client is built from Settings
(partner credentials, base URL) and the partner-token cache in the database; tests pass their own
client factory in `ctx.obj["client_factory"]`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from service.finicity.client import FinicityClient
from service.finicity.errors import FinicityError
from service.finicity.models import Subscription, SubscriptionDetail, WebhookEvent

ClientFactory = Callable[[], AbstractAsyncContextManager[FinicityClient]]


@asynccontextmanager
async def client_from_settings() -> AsyncIterator[FinicityClient]:
    from service.cli import _settings
    from service.db.factory import create_rpc
    from service.finicity.tokens import PartnerTokenService, TokenCipher
    from service.runtime import finicity_timeout, process_id

    settings = _settings()
    rpc = create_rpc(settings)
    await rpc.open()
    client = FinicityClient(str(settings.open_banking_base_url), settings.open_banking_app_key,
                            settings.open_banking_partner_id, settings.open_banking_partner_secret,
                            timeout=finicity_timeout())
    client.token_provider = PartnerTokenService(rpc, client.authenticate,
                                                TokenCipher(settings.open_banking_encryption_key),
                                                holder_id=process_id(),
                                                auth_failure_limit=settings.open_banking_auth_failure_limit,
                                                auth_hold=timedelta(minutes=settings.open_banking_auth_hold_minutes))
    try:
        yield client
    finally:
        await client.aclose()
        await rpc.close()


def _default_url() -> str:
    from service.cli import _settings

    return _settings().obwms_webhook_url


def _run(ctx: click.Context, work: Callable[[FinicityClient], Awaitable[Any]]) -> Any:
    factory: ClientFactory = (ctx.obj or {}).get("client_factory", client_from_settings)

    async def main() -> Any:
        async with factory() as client:
            return await work(client)

    try:
        return asyncio.run(main())
    except FinicityError as exc:
        code = f" (code {exc.code})" if exc.code else ""
        raise click.ClickException(f"Mastercard API: {exc.reason}{code} — {exc.message}") from None


def _detail_json(detail: SubscriptionDetail) -> dict[str, Any]:
    return detail.model_dump(by_alias=True, mode="json", exclude_none=True)


def _print(ctx: click.Context, details: list[SubscriptionDetail], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([_detail_json(d) for d in details], indent=2))
        return
    table = Table("subscription id", "status", "url", "events", title="OBWMS subscriptions")
    for d in details:
        events = ", ".join(f"{e.name} ({e.status})" if e.status else e.name for e in d.events)
        table.add_row(d.subscription_id, d.status or "", d.url or "", events)
    Console(width=160).print(table)


def _subscription(url: str | None, events: tuple[str, ...]) -> Subscription:
    if not events:
        raise click.UsageError("give at least one --event")
    return Subscription(url=url, events=[WebhookEvent(name=name) for name in events])


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


@click.group("subscriptions")
def subscriptions() -> None:
    """OBWMS webhook subscriptions (create, list, get, update, delete)."""


@subscriptions.command("create")
@click.option("--url", help="where Mastercard posts (default: this service's /webhooks/mastercard)")
@click.option("--event", "events", multiple=True, metavar="NAME",
              help="event name, e.g. authorization.expiration.reminder (repeatable)")
@json_option
@click.pass_context
def create(ctx: click.Context, url: str | None, events: tuple[str, ...], as_json: bool) -> None:
    """Subscribe a URL to one or more events."""
    subscription = _subscription(url or _default_url(), events)
    detail = _run(ctx, lambda c: c.create_subscription(subscription))
    _print(ctx, [detail], as_json)


@subscriptions.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100))
@json_option
@click.pass_context
def list_(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List every subscription (all pages)."""

    async def every(client: FinicityClient) -> list[SubscriptionDetail]:
        found: list[SubscriptionDetail] = []
        offset = 1
        while True:
            page = await client.list_subscriptions(offset=offset, limit=limit)
            found.extend(page.subscriptions)
            if not page.subscriptions or len(found) >= page.total:
                return found
            offset += len(page.subscriptions)

    _print(ctx, _run(ctx, every), as_json)


@subscriptions.command("get")
@click.argument("subscription_id")
@json_option
@click.pass_context
def get(ctx: click.Context, subscription_id: str, as_json: bool) -> None:
    """Show one subscription."""
    _print(ctx, [_run(ctx, lambda c: c.get_subscription(subscription_id))], as_json)


@subscriptions.command("update")
@click.argument("subscription_id")
@click.option("--url", help="new URL (replaces the old one)")
@click.option("--event", "events", multiple=True, metavar="NAME", help="the full new event list (repeatable)")
@json_option
@click.pass_context
def update(ctx: click.Context, subscription_id: str, url: str | None, events: tuple[str, ...],
           as_json: bool) -> None:
    """Replace a subscription's URL and events."""
    subscription = _subscription(url, events)
    detail = _run(ctx, lambda c: c.update_subscription(subscription_id, subscription))
    _print(ctx, [detail], as_json)


@subscriptions.command("delete")
@click.argument("subscription_id")
@click.pass_context
def delete(ctx: click.Context, subscription_id: str) -> None:
    """Delete a subscription (exit 1 if there is no such subscription)."""
    if not _run(ctx, lambda c: c.delete_subscription(subscription_id)):
        raise click.ClickException(f"no subscription {subscription_id}")
    click.echo(f"deleted {subscription_id}")
