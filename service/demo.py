"""`python -m service demo`: the CPA story end to end against the running local stack (`make up`).

Every step is done the way its real caller does it: the CPA acts under row-level security
(PostgREST's role and claims, on a real auth.users row), the service does the Mastercard work from
its job queue, the client "completes" Connect at the sandbox, and the sandbox sends the signed
webhooks to the service. Nothing is written behind the service's back.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

console = Console(width=110)
T = TypeVar("T")
DEMO_CPA_EMAIL = "demo-cpa@alpha-cpa.test"


class DemoFailed(Exception):
    pass


@contextmanager
def as_cpa(database_url: str, cpa_id: uuid.UUID) -> Iterator[psycopg.Connection[Any]]:
    """One request from the React app: the transaction PostgREST opens for a signed-in CPA."""
    claims = json.dumps({"sub": str(cpa_id), "role": "authenticated", "email": DEMO_CPA_EMAIL})
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)", (claims,)
        )
        yield conn


def one(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    """The single row a query must return."""
    row = cursor.fetchone()
    if row is None:
        raise DemoFailed("a row the story needs is missing")
    return tuple(row)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")


class Story:
    def __init__(self, database_url: str, sandbox_url: str, service_url: str) -> None:
        self.db = database_url
        self.sandbox = httpx.Client(base_url=sandbox_url, timeout=60)
        self.service_url = service_url
        self.timings: list[tuple[str, float]] = []

    def step(self, title: str) -> Callable[[Callable[[], T]], T]:
        def run(fn: Callable[[], T]) -> T:
            console.rule(f"[bold]{title}")
            start = time.perf_counter()
            result = fn()
            self.timings.append((title, time.perf_counter() - start))
            return result

        return run

    def sign_up_cpa_and_client(self) -> tuple[uuid.UUID, uuid.UUID]:
        with psycopg.connect(self.db, autocommit=True) as conn:
            row = conn.execute("select id from auth.users where email = %s", (DEMO_CPA_EMAIL,)).fetchone()
            cpa_id = row[0] if row else uuid.uuid4()
            if not row:
                conn.execute(
                    "insert into auth.users (id, aud, role, email) values (%s, 'authenticated', 'authenticated', %s)",
                    (cpa_id, DEMO_CPA_EMAIL),
                )
            client_id = uuid.uuid4()
            name = f"Maple Street Bakery #{client_id.hex[:4]}"
            # The platform's clients table: the migrations need only (id, user_id) of it.
            conn.execute("insert into public.clients (id, user_id) values (%s, %s)", (client_id, cpa_id))
        console.print(f"CPA {DEMO_CPA_EMAIL} ({cpa_id}) owns client [bold]{name}[/bold] ({client_id})")
        return cpa_id, client_id

    def request_link(self, cpa_id: uuid.UUID, client_id: uuid.UUID) -> str:
        with as_cpa(self.db, cpa_id) as conn:
            (request_id,) = one(
                conn.execute(
                    # Mastercard's email: the consumer it needs is created from these (never an SSN).
                    "insert into public.open_banking_link_requests "
                    "(platform_client_id, delivery, email_to, first_name, last_name, state, birthday) "
                    "values (%s, 'mastercard_email', 'owner@maple-bakery.test', 'Maya', 'Lopez', 'OR', "
                    "date '1984-04-12') returning id",
                    (client_id,),
                )
            )
            conn.commit()
        console.print(f"the CPA inserted bank-link request {request_id} (RLS: own client only)")
        return str(request_id)

    def email_sent(self, cpa_id: uuid.UUID, request_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            with as_cpa(self.db, cpa_id) as conn:
                status, link, error = one(
                    conn.execute(
                        "select status, link, error_message from public.open_banking_link_requests where id = %s",
                        (request_id,),
                    )
                )
            if status == "failed":
                raise DemoFailed(f"the link request failed: {error}")
            return {"status": status, "link": link} if status == "sent" else None

        wait_for("the service to send the Connect email", probe, timeout=60)
        emails = self.sandbox.get("/_sandbox/outbox").json()
        emails = emails.get("emails", emails) if isinstance(emails, dict) else emails
        email = next(e for e in reversed(emails) if e.get("to") == "owner@maple-bakery.test")
        console.print(f"Mastercard sent the email to {email['to']} (sandbox outbox): {email.get('link', '')[:90]}…")
        return email

    def finicity_customer_id(self, client_id: uuid.UUID) -> str:
        with psycopg.connect(self.db) as conn:
            row = conn.execute(
                "select finicity_customer_id from public.open_banking_customers where platform_client_id = %s",
                (client_id,),
            ).fetchone()
        if not row or not row[0]:
            raise DemoFailed("no Finicity customer was recorded for the client")
        return str(row[0])

    def complete_connect(self, finicity_customer_id: str) -> dict[str, Any]:
        response = self.sandbox.post(
            "/_sandbox/connect/complete",
            json={
                "customerId": finicity_customer_id,
                "wait": True,
                "profile": {"oauth": True, "accounts": 3, "months": 24, "seed": 42, "institutionId": "102105"},
            },
        )
        if response.status_code != 200:
            raise DemoFailed(f"the sandbox could not complete Connect: {response.text}")
        done = response.json()
        codes = [d.get("statusCode") for d in done["deliveries"]]
        console.print(
            f"the client linked FinBank: {len(done['accounts'])} accounts, {done['transactions']} transactions; "
            f"signed webhooks {', '.join(done['events'])} answered {codes}"
        )
        return done

    def linked_and_synced(self, cpa_id: uuid.UUID, client_id: uuid.UUID, expected: int) -> None:
        def probe() -> bool:
            with as_cpa(self.db, cpa_id) as conn:
                badge, synced = one(
                    conn.execute(
                        "select badge, last_synced_at from public.open_banking_client_status "
                        "where platform_client_id = %s",
                        (client_id,),
                    )
                )
                (count,) = one(
                    conn.execute(
                        "select count(*) from public.open_banking_transactions where platform_client_id = %s",
                        (client_id,),
                    )
                )
            held.append(count)
            return badge == "linked" and synced is not None and count > 0

        held: list[int] = []
        wait_for("the badge to read linked and the first transactions to arrive", probe, timeout=180)
        console.print(f"first sync: {held[-1]} of the bank's {expected} transactions (standard aggregation: 180 days)")
        self.print_history(cpa_id, client_id)

    def print_history(self, cpa_id: uuid.UUID, client_id: uuid.UUID) -> None:
        with as_cpa(self.db, cpa_id) as conn:
            for status, earliest in conn.execute(
                "select history_status, earliest_transaction_at::date from public.open_banking_institution_logins "
                "where platform_client_id = %s",
                (client_id,),
            ).fetchall():
                console.print(f"bank login history: {status}, transactions held from {earliest}")

    def historic_load(self, cpa_id: uuid.UUID, client_id: uuid.UUID, expected: int) -> None:
        """180 days at link time; the service's one historic load per login brings 24 months."""

        def probe() -> bool:
            with as_cpa(self.db, cpa_id) as conn:
                rows = conn.execute(
                    "select history_status from public.open_banking_institution_logins where platform_client_id = %s",
                    (client_id,),
                ).fetchall()
                (count,) = one(
                    conn.execute(
                        "select count(*) from public.open_banking_transactions where platform_client_id = %s",
                        (client_id,),
                    )
                )
            if any(r[0] == "failed" for r in rows):
                raise DemoFailed("the historic load failed")
            return bool(rows) and all(r[0] == "complete" for r in rows) and count == expected

        wait_for("the historic load (24 months) to complete", probe, timeout=120)
        refreshes = self.sandbox.get("/_sandbox/refreshes").json()["refreshes"]
        historic = sum(r["mode"] == "historic" for r in refreshes)
        console.print(f"Mastercard historic loads started by the service: {historic}")

    def refresh_now(self, cpa_id: uuid.UUID, client_id: uuid.UUID, finicity_customer_id: str) -> None:
        held = self.sandbox.post(
            "/_sandbox/bank/advance", json={"customerId": finicity_customer_id, "untilRefresh": True}
        ).json()
        with as_cpa(self.db, cpa_id) as conn:
            (request_id,) = one(
                conn.execute(
                    "insert into public.open_banking_sync_requests (platform_client_id) values (%s) returning id",
                    (client_id,),
                )
            )
            conn.commit()
        seen: list[str] = []

        def probe() -> tuple[str, Any] | None:
            with as_cpa(self.db, cpa_id) as conn:
                status, count, error = one(
                    conn.execute(
                        "select status, transactions_synced, error_message from public.open_banking_sync_requests "
                        "where id = %s",
                        (request_id,),
                    )
                )
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == "failed":
                raise DemoFailed(f"the refresh failed: {error}")
            return (status, count) if status == "succeeded" else None

        _, count = wait_for("the refresh request to finish", probe, timeout=120)
        console.print(
            f"the bank had {held['heldUntilRefresh']} new transactions; refresh request went {' → '.join(seen)}; "
            f"{count} transactions read"
        )

    def no_violations(self) -> None:
        """The sandbox judged every request the service sent by the official spec."""
        judged = self.sandbox.get("/_sandbox/stats").json()
        violations = self.sandbox.get("/_sandbox/violations").json()
        requests = sum(sum(v.values()) for v in judged["operations"].values())
        if violations["total"]:
            raise DemoFailed(f"the sandbox found requests the spec calls invalid: {violations['recent'][-3:]}")
        console.print(f"the sandbox judged {requests} Mastercard requests by the official spec: 0 violations")

    def show_cpa_view(self, cpa_id: uuid.UUID, client_id: uuid.UUID) -> None:
        with as_cpa(self.db, cpa_id) as conn:
            badge, logins, synced, consent = one(
                conn.execute(
                    "select badge, institution_logins, last_synced_at, next_consent_expiry_at "
                    "from public.open_banking_client_status where platform_client_id = %s",
                    (client_id,),
                )
            )
            accounts = conn.execute(
                "select name, type, number_masked, balance, currency, last_updated_at, "
                "(select count(*) from public.open_banking_transactions t where t.account_id = a.id) "
                "from public.open_banking_accounts a where platform_client_id = %s order by display_position, name",
                (client_id,),
            ).fetchall()
            latest = conn.execute(
                "select effective_at::date, description, amount, status from public.open_banking_transactions "
                "where platform_client_id = %s order by effective_at desc, id desc limit 8",
                (client_id,),
            ).fetchall()
            (total,) = one(
                conn.execute(
                    "select count(*) from public.open_banking_transactions where platform_client_id = %s", (client_id,)
                )
            )
        console.print(
            f"badge: [bold green]{badge}[/bold green]   bank logins: {logins}   last sync: {synced:%Y-%m-%d %H:%M:%S}"
            f"   consent until: {consent:%Y-%m-%d}"
            if consent
            else f"badge: [bold green]{badge}[/bold green]   bank logins: {logins}   last sync: {synced}"
        )
        table = Table("account", "type", "number", "balance", "last updated", "transactions")
        for name, kind, masked, balance, currency, updated, count in accounts:
            table.add_row(name, kind, masked or "", f"{Decimal(balance):,.2f} {currency}", f"{updated}", str(count))
        console.print(table)
        recent = Table("date", "description", "amount", "status", title=f"latest of {total} transactions")
        for day, description, amount, status in latest:
            recent.add_row(str(day), description or "", f"{Decimal(amount):,.2f}", status)
        console.print(recent)
        self.print_history(cpa_id, client_id)

    def other_cpa_sees_nothing(self, client_id: uuid.UUID) -> None:
        stranger = uuid.uuid4()
        with as_cpa(self.db, stranger) as conn:
            (count,) = one(
                conn.execute(
                    "select count(*) from public.open_banking_transactions where platform_client_id = %s", (client_id,)
                )
            )
        if count != 0:
            raise DemoFailed(f"another CPA could read {count} transactions")
        console.print("another CPA reads 0 of these transactions (RLS)")


def run_demo(database_url: str, sandbox_url: str, service_url: str) -> None:
    story = Story(database_url, sandbox_url, service_url)
    cpa_id, client_id = story.step("1. A CPA and their client")(story.sign_up_cpa_and_client)
    request_id = story.step("2. The CPA asks for a bank link (insert under RLS)")(
        lambda: story.request_link(cpa_id, client_id)
    )
    story.step("3. The service creates the customer and Mastercard emails the Connect link")(
        lambda: story.email_sent(cpa_id, request_id)
    )
    finicity_customer_id = story.finicity_customer_id(client_id)
    done = story.step("4. The client completes Connect; signed webhooks reach the service")(
        lambda: story.complete_connect(finicity_customer_id)
    )
    story.step("5. Webhooks processed, accounts and transactions synced")(
        lambda: story.linked_and_synced(cpa_id, client_id, done["transactions"])
    )
    story.step("6. One historic load per bank login: 180 days become 24 months")(
        lambda: story.historic_load(cpa_id, client_id, done["transactions"])
    )
    story.step("7. What the CPA sees (read under RLS)")(lambda: story.show_cpa_view(cpa_id, client_id))
    story.other_cpa_sees_nothing(client_id)
    story.step("8. Refresh now: Mastercard re-reads the bank, then the sync runs")(
        lambda: story.refresh_now(cpa_id, client_id, finicity_customer_id)
    )
    story.step("9. Every request judged by the official spec")(story.no_violations)
    console.rule("[bold]Timings")
    for title, seconds in story.timings:
        console.print(f"{seconds:7.2f}s  {title}")
    console.print(
        "\nThe stack is still running. Look around:\n"
        "  psql postgresql://postgres:postgres@127.0.0.1:54322/postgres\n"
        f"  {service_url}/schema/swagger   (the service's OpenAPI)   {service_url}/metrics\n"
        '  make status      (the operator\'s table)   make cli ARGS="jobs list"\n'
        "  make down   (stops everything)"
    )
