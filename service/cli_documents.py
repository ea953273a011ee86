"""`documents`: a client's statements and exports from the operator CLI.

    python -m service documents list CLIENT_ID [--json]
    python -m service documents institutions [--search NAME]       # banks that offer statements
    python -m service documents request CLIENT_ID --last N            # the last N monthly statements
    python -m service documents request CLIENT_ID --month 2026-09 ...   # named months
    python -m service documents request CLIENT_ID --export csv,qbo --from 2025-12-01 --to 2026-11-30
        [--account ID ...] [--include-pending] [--no-wait]

`request` inserts a request row exactly as the CPA's app would (its trigger queues the job) and, unless
--no-wait, runs the job here and prints the documents. Exit codes: 0 done (every document made),
1 some or all documents could not be made (each one's error is printed), 2 bad usage.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import date
from typing import Any

import click
from rich.table import Table

from service.cli import _uuid, console, err_console, run_async


@click.group()
def documents() -> None:
    """Bank statements (PDF) and accountant exports (CSV, OFX, QBO) in the documents bucket."""


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("created", "kind", "format", "account", "period", "status", "size", "path / error")
    for d in rows:
        period = d.get("statement_month") or ""
        if d.get("period_start"):
            period = f"{d['period_start']} .. {d['period_end']}"
        table.add_row(
            str(d["created_at"])[:19],
            d["kind"],
            d["format"],
            d.get("account_id") or "all",
            str(period),
            d["status"],
            str(d.get("size_bytes") or ""),
            d.get("storage_path") or d.get("error_message") or "",
        )
    return table


@documents.command("list")
@click.argument("platform_client_id", callback=_uuid)
@click.option("--json", "as_json", is_flag=True, help="One JSON document per line.")
@run_async
async def list_documents(platform_client_id: uuid.UUID, as_json: bool) -> None:
    """A client's documents, newest first."""
    from service.cli import _settings
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        rows = await services.rpc.call("ob_documents_list", {"p_platform_client_id": platform_client_id})
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    console.print(_table(rows))


@documents.command("institutions")
@click.option("--search", default=None, help="Part of the institution's name.")
@run_async
async def institutions(search: str | None) -> None:
    """Institutions certified for statements at Mastercard (GetCertifiedInstitutions, not billable)."""
    from service.cli import _settings
    from service.wiring import services_for

    async with services_for(_settings()) as services:
        found = await services.finicity.get_certified_institutions("stateAgg", search=search)
    table = Table("id", "name", "statements")
    for inst in found.institutions:
        table.add_row(str(inst.id), inst.name, "yes" if inst.state_agg else "no")
    console.print(table)
    console.print(f"{found.found} found" + (" (more: narrow --search)" if found.more_available else ""))


def _month(value: str) -> str:
    try:
        return date.fromisoformat(f"{value}-01").isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month (YYYY-MM)") from None


@documents.command("request")
@click.argument("platform_client_id", callback=_uuid)
@click.option("--last", "last_n", type=click.IntRange(1, 24), help="The last N monthly statements.")
@click.option("--month", "months", multiple=True, help="A statement month, YYYY-MM (repeatable).")
@click.option("--export", "formats", help="Export formats, comma-separated: csv, ofx, qbo.")
@click.option("--from", "from_date", type=click.DateTime(["%Y-%m-%d"]), help="Export range start (inclusive).")
@click.option("--to", "to_date", type=click.DateTime(["%Y-%m-%d"]), help="Export range end (inclusive).")
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable; default: all).")
@click.option("--include-pending", is_flag=True, help="Exports: include pending transactions.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Run the job here and wait for the outcome.")
@run_async
async def request_documents(
    platform_client_id: uuid.UUID,
    last_n: int | None,
    months: tuple[str, ...],
    formats: str | None,
    from_date: Any,
    to_date: Any,
    accounts: tuple[str, ...],
    include_pending: bool,
    wait: bool,
) -> None:
    """Ask for statements or an export, as a CPA's request would."""
    from service.cli import _settings
    from service.jobs.registry import default_handlers
    from service.jobs.worker import Worker
    from service.wiring import services_for

    body: dict[str, Any] = {"platform_client_id": str(platform_client_id), "include_pending": include_pending}
    if accounts:
        body["account_ids"] = list(accounts)
    if formats:
        if last_n or months or not (from_date and to_date):
            _usage("an export needs --from and --to, and no --last or --month")
        body |= {
            "kind": "export",
            "formats": [f.strip() for f in formats.split(",") if f.strip()],
            "from_date": from_date.date().isoformat(),
            "to_date": to_date.date().isoformat(),
        }
    elif bool(last_n) == bool(months):
        _usage("give --last N or --month YYYY-MM (statements), or --export with --from/--to")
    else:
        body |= (
            {"kind": "statements", "last_n": last_n}
            if last_n
            else {"kind": "statements", "statement_months": [_month(m) for m in months]}
        )
    async with services_for(_settings()) as services:
        row = await services.rpc.call("ob_document_request_request", {"p_request": body})
        console.print(f"document request {row['id']} queued")
        if not wait:
            return
        worker = Worker(services, default_handlers(), concurrency=2, poll_seconds=0.5)
        runner = asyncio.create_task(worker.run())
        try:
            for _ in range(3000):
                current = await services.rpc.call("ob_document_request_get", {"p_id": row["id"]})
                if current["status"] in ("succeeded", "partial", "failed"):
                    break
                await asyncio.sleep(0.2)
        finally:
            await worker.stop()
            runner.cancel()
        made = await services.rpc.call("ob_documents_list", {"p_platform_client_id": platform_client_id})
    mine = [d for d in made if d.get("request_id") == row["id"]]
    console.print(_table(mine))
    console.print(
        f"{current['status']}: {current.get('documents_ready') or 0} ready, "
        f"{current.get('documents_failed') or 0} failed"
    )
    if current["status"] != "succeeded":
        if current.get("error_message"):
            err_console.print(f"[red]{current['error_message']}[/red]")
        sys.exit(1)


def _usage(message: str) -> None:
    err_console.print(message)
    sys.exit(2)
