"""`python -m service ...`: serve the API, and the operator commands.

Exit codes: 0 done, 1 the operation failed (API or database said no), 2 bad usage or config.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.db.port import DatabaseUnavailable, RpcError
from service.finicity.errors import FinicityError
from service.settings import Settings, SettingsError, current_environment, load_settings

console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _refuse(exc)


def _refuse(exc: SettingsError) -> NoReturn:
    # One line per problem, plain text (no wrapping), so a log collector shows each whole.
    for line in exc.lines:
        print(line, file=sys.stderr)
    sys.exit(2)


def run_async(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command; turn the errors an operator can act on into a message and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except FinicityError as exc:
            err_console.print(f"[red]Mastercard API error:[/red] {exc.reason} ({exc})")
        except RpcError as exc:
            err_console.print(f"[red]Database refused:[/red] {exc.message} (SQLSTATE {exc.code})")
        except DatabaseUnavailable as exc:
            err_console.print(f"[red]Database unreachable:[/red] {exc}")
        sys.exit(1)

    return wrapper


def _uuid(_ctx: click.Context, _param: click.Parameter, value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a UUID (platform client ids are UUIDs)") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Open Banking for CPA platforms: the service and its operator commands."""
    # Operator commands print results on stdout; their logs go to stderr (`serve` reconfigures).
    from service.observability import configure_logging

    configure_logging(os.environ.get("LOG_LEVEL", "WARNING"), json_logs=False, stream=sys.stderr)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Serve HTTP only (another process runs the jobs).")
def serve(host: str, port: int, no_worker: bool) -> None:
    """Run the HTTP service (webhooks, /internal/wake, /healthz, /readyz, /metrics) and the worker."""
    import uvicorn

    from service.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings, run_worker=not no_worker),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=15,
    )


@main.command()
@click.argument("platform_client_id", callback=_uuid)
@click.option("--email", "email_to", required=True, help="Where the client receives the link.")
@click.option("--first-name", default=None)
@click.option(
    "--fix-login",
    "fix_login",
    type=int,
    default=None,
    help="Make a Connect Fix (re-consent) link for this institution login instead.",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Run the job here and wait for the outcome.")
@run_async
async def link(
    platform_client_id: uuid.UUID, email_to: str, first_name: str | None, fix_login: int | None, wait: bool
) -> None:
    """Send (or re-send) a bank-link request to a client, as a CPA's request would."""
    from service.jobs.registry import default_handlers
    from service.jobs.worker import Worker
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        row = await services.rpc.call(
            "ob_link_request_request",
            {
                "p_platform_client_id": platform_client_id,
                "p_email_to": email_to,
                "p_first_name": first_name,
                "p_kind": "fix" if fix_login else "link",
                "p_institution_login_id": fix_login,
            },
        )
        # A request for the same client and address already in flight: this one joined it, so follow that one.
        follow = row.get("coalesced_into") or row["id"]
        if row["status"] == "coalesced":
            console.print(f"link request {row['id']} joined request {follow}, already in flight")
        else:
            console.print(f"link request {row['id']} queued")
        if not wait:
            return
        worker = Worker(services, default_handlers(), concurrency=2, poll_seconds=0.5)
        runner = asyncio.create_task(worker.run())
        try:
            for _ in range(600):
                current = await services.rpc.call("ob_link_request_get", {"p_id": follow})
                if current["status"] in ("sent", "ready", "failed"):
                    break
                await asyncio.sleep(0.2)
        finally:
            await worker.stop()
            runner.cancel()
        if current["status"] == "failed":
            err_console.print(f"[red]failed:[/red] {current['error_message']}")
            sys.exit(1)
        console.print(f"{current['status']}: {current['link']}")


@main.command()
@click.argument("platform_client_id", callback=_uuid)
@run_async
async def sync(platform_client_id: uuid.UUID) -> None:
    """Sync one client now (accounts, balances, transactions), with progress."""
    from service.sync.customer import sync_customer
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        customer = await services.rpc.call("ob_customer_get", {"p_platform_client_id": platform_client_id})
        if not customer or not customer.get("finicity_customer_id"):
            err_console.print("[red]This client has no linked Finicity customer yet.[/red]")
            sys.exit(1)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        ) as bar:
            tasks: dict[str, Any] = {}

            def progress(account_id: str, read: int, found: int) -> None:
                if account_id not in tasks:
                    tasks[account_id] = bar.add_task(f"account …{account_id[-4:]}", total=found)
                bar.update(tasks[account_id], completed=read, total=found)

            result = await sync_customer(services, customer["finicity_customer_id"], progress=progress)
        console.print(
            f"synced {result.accounts} accounts, {result.transactions} transactions "
            f"({result.written} written, {result.removed} removed, {result.quarantined} quarantined) "
            f"in {result.pages} pages"
        )


@main.command()
@click.argument("platform_client_id", callback=_uuid, required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@run_async
async def status(platform_client_id: uuid.UUID | None, as_json: bool) -> None:
    """Status per client: badge, logins, consent expiry, last sync, errors."""
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        rows = await services.rpc.call("ob_status_report", {"p_platform_client_id": platform_client_id})
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    table = Table(
        "platform client", "badge", "logins", "accounts", "transactions", "quarantined", "consent expires",
        "last sync", "error",
    )
    for r in rows:
        table.add_row(
            r["platform_client_id"],
            r["badge"],
            str(r["logins"]),
            str(r["accounts"]),
            str(r["transactions"]),
            str(r.get("quarantined") or 0),
            str(r["consent_expires_at"] or "—"),
            str(r["last_synced_at"] or "never"),
            r["last_error_message"] or r["last_sync_error"] or "",
        )
    console.print(table)


@main.command()
@click.argument("platform_client_id", callback=_uuid)
@click.option("--yes", is_flag=True, help="Confirm: the Mastercard customer and every row held for the client go.")
@run_async
async def delete(platform_client_id: uuid.UUID, yes: bool) -> None:
    """Delete everything held for a client: every row naming it or its Mastercard customer (at once),
    and the Mastercard customer (now, or by a job retried until Mastercard confirms)."""
    from service.sync.delete import forget_client
    from service.wiring import services_for

    if not yes:
        err_console.print("refusing without --yes: this deletes the customer at Mastercard and all its data")
        sys.exit(2)
    async with services_for(_settings()) as services:
        try:
            result = await forget_client(services, platform_client_id)
        except FinicityError as exc:
            # Our rows are gone already; the queued job keeps trying Mastercard.
            err_console.print(f"rows deleted; Mastercard did not confirm ({exc.reason}): the delete_customer job "
                              "retries until it does (`jobs list`)")
            sys.exit(1)
    if result.get("deletion_id") is None:
        console.print("nothing was held for this client")
        return
    removed = result.get("removed") or {}
    rows = ", ".join(f"{table.split('.')[-1]}={n}" for table, n in sorted(removed.items()))
    console.print(f"deletion {result['deletion_id']}: mastercard={result['mastercard']} {rows}")


@main.group()
def jobs() -> None:
    """The job queue: failing and dead jobs, and retrying them."""


@jobs.command("list")
@click.option("--limit", default=20, show_default=True)
@run_async
async def jobs_list(limit: int) -> None:
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        overview = await services.rpc.call("ob_job_overview", {"p_limit": limit})
        held = await services.rpc.call("ob_transaction_quarantine_summary", {"p_limit": limit})
    console.print(f"counts: {overview['counts']}  oldest due: {float(overview['oldest_due_age_seconds']):.0f}s")
    if held["rows"]:
        # Rows a sync could not parse: kept (masked) in private.ob_transaction_quarantine, see the runbook.
        console.print(f"quarantined transaction rows: {held['rows']} in {held['accounts']} account(s)")
        for q in held["latest"]:
            console.print(
                f"  account …{q['account_id'][-4:]} transaction {q['transaction_id'] or '?'} "
                f"seen {q['seen_count']}x, last {q['last_seen_at']}: {q['reason'][:80]}"
            )
    table = Table("id", "kind", "status", "attempts", "next run", "last error")
    for job in overview["problems"]:
        table.add_row(
            str(job["id"]),
            job["kind"],
            job["status"],
            f"{job['attempts']}/{job['max_attempts']}",
            str(job["run_after"]),
            (job["last_error"] or "")[:80],
        )
    console.print(table)


@jobs.command("retry")
@click.argument("job_id", type=int)
@run_async
async def jobs_retry(job_id: int) -> None:
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        result = await services.rpc.call("ob_job_retry", {"p_job_id": job_id})
    if not result["retried"]:
        err_console.print(f"job {job_id} is not dead or waiting (nothing to retry)")
        sys.exit(1)
    console.print(f"job {job_id} queued again")


@main.group()
def auth() -> None:
    """The partner-authentication guard: failed authentications in a row, across every process."""


@auth.command("status")
@run_async
async def auth_status() -> None:
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        state = await services.rpc.call("ob_partner_auth_state", {})
    held = "HELD until " + str(state["held_until"]) if state["held"] else "not held"
    console.print(f"failed authentications in a row: {state['failures']} ({held})")
    if state["last_error"]:
        console.print(f"last refusal at {state['last_failure_at']}: {state['last_error']}")


@auth.command("reset")
@run_async
async def auth_reset() -> None:
    """Allow authentication again, after the partner id, secret and app key were checked (see the runbook)."""
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        result = await services.rpc.call("ob_partner_auth_reset", {})
    before = result["before"]
    console.print(f"reset: {before['failures']} failed authentication(s) in a row cleared; the next call authenticates")


@main.group()
def webhooks() -> None:
    """Stored webhook events: list and replay."""


@webhooks.command("list")
@click.option("--limit", default=20, show_default=True)
@run_async
async def webhooks_list(limit: int) -> None:
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        events = await services.rpc.call("ob_webhook_events_recent", {"p_limit": limit})
    table = Table("id", "source", "type", "customer", "received", "processed", "error")
    for e in events:
        table.add_row(
            str(e["id"]),
            e["source"],
            e["event_type"] or "",
            e["finicity_customer_id"] or "",
            str(e["received_at"]),
            str(e["processed_at"] or "—"),
            e["process_error"] or "",
        )
    console.print(table)


@webhooks.command("replay")
@click.argument("event_id", type=int)
@run_async
async def webhooks_replay(event_id: int) -> None:
    """Process a stored event again (handlers are idempotent)."""
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        job = await services.rpc.call("ob_webhook_event_replay", {"p_event_id": event_id})
    console.print(f"event {event_id} queued for processing (job {job['id']})")


@main.command()
@click.option("--database-url", envvar="DATABASE_URL", default="postgresql://postgres:postgres@127.0.0.1:54322/postgres")
@click.option("--sandbox-url", default="http://127.0.0.1:8001", show_default=True)
@click.option("--service-url", default="http://127.0.0.1:8000", show_default=True)
def demo(database_url: str, sandbox_url: str, service_url: str) -> None:
    """The whole CPA story against the running local stack (make up), printing what the CPA sees."""
    from service.demo import DemoFailed, run_demo

    try:
        environment = current_environment()
    except SettingsError as exc:
        _refuse(exc)
    if environment == "production":
        # The demo inserts users and clients into whatever DATABASE_URL names.
        print("refused in production: demo: it writes demo users and clients into DATABASE_URL; "
              "set OPEN_BANKING_ENV=local to run it against a local stack", file=sys.stderr)
        sys.exit(2)

    try:
        run_demo(database_url, sandbox_url, service_url)
    except DemoFailed as exc:
        err_console.print(f"[red]demo failed:[/red] {exc}")
        sys.exit(1)


def _attach_optional_groups() -> None:
    from service.cli_documents import documents
    from service.cli_subscriptions import subscriptions

    main.add_command(subscriptions)
    main.add_command(documents)


_attach_optional_groups()
