"""Monthly bank statements: periods, asset ids, certified institutions and the PDF itself.

A statement covers one calendar month. Index 1 is the most recent complete month on the sandbox clock,
index n the month n - 1 before it (the spec: "increase the index value to count back (by month)").
A statement exists while the account has history on or before the month's last day, at most 24 back.
The PDF is made with fpdf2 from the account's transactions: small, valid, and byte-for-byte the same
for the same account and month (fixed creation date, no random ids).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fpdf import FPDF

from sandbox.institutions import lookup
from sandbox.state import Account, SandboxState

MAX_INDEX = 24
_ASSET_NS = uuid.UUID("1b7c1f0e-5a55-4d1e-9d0b-3f1f5c9a0f17")


@dataclass(frozen=True)
class Period:
    index: int
    start: date
    end: date

    @property
    def description(self) -> str:
        return f"{self.start:%m/%d/%Y} - {self.end:%m/%d/%Y}"

    def bounds(self) -> tuple[int, int]:
        """Epoch seconds of the first and the last second of the period (UTC)."""
        lo = int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp())
        hi = int(datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC).timestamp()) + 86_399
        return lo, hi


def certified_institution(state: SandboxState, institution_id: str) -> dict | None:
    """The catalogue entry when the institution is certified for Statement Aggregation (`stateAgg`)."""
    entry = lookup(state, int(institution_id)) if institution_id.isdigit() else None
    return entry if entry and entry["statements"] else None


def period_for(now: int, index: int) -> Period:
    today = datetime.fromtimestamp(now, UTC).date()
    first = today.replace(day=1)
    for _ in range(index):
        first = (first - timedelta(days=1)).replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return Period(index, first, nxt - timedelta(days=1))


def available(acct: Account, period: Period) -> bool:
    dates = [t.postedDate or t.transactionDate or 0 for t in acct.txs.values()]
    return bool(dates) and min(dates) <= period.bounds()[1]


def asset_id(customer_id: str, acct: Account, period: Period) -> str:
    """Shaped like Mastercard's (`<uuid>-<number>`), stable for one account and month."""
    return f"{uuid.uuid5(_ASSET_NS, f'{acct.id}:{period.start.isoformat()}')}-{customer_id}"


def render_pdf(acct: Account, period: Period, institution_name: str) -> bytes:
    lo, hi = period.bounds()
    posted = sorted(
        (t for t in acct.txs.values() if t.status == "active" and t.postedDate is not None),
        key=lambda t: (t.postedDate or 0, t.id),
    )
    opening = acct.opening_balance + sum(t.amount for t in posted if (t.postedDate or 0) < lo)
    rows = [t for t in posted if lo <= (t.postedDate or 0) <= hi]
    closing = opening + sum(t.amount for t in rows)
    pdf = FPDF(format="Letter")
    pdf.set_creation_date(datetime(period.end.year, period.end.month, period.end.day, tzinfo=UTC))
    pdf.set_title(f"{institution_name} statement {period.description}")
    pdf.set_author(institution_name)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, f"{institution_name} - Account Statement", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for line in (
        f"Account: {acct.name} (ending {acct.number[-4:]})",
        f"Account ID: {acct.id}",
        f"Statement period: {period.description}",
        f"Opening balance: {opening:,.2f} USD",
        f"Closing balance: {closing:,.2f} USD",
        f"Transactions: {len(rows)}",
    ):
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    for text, width, align in (("Posted", 25, "L"), ("Description", 125, "L"), ("Amount", 30, "R")):
        pdf.cell(width, 6, text, border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for t in rows:
        day = datetime.fromtimestamp(t.postedDate or 0, UTC)
        pdf.cell(25, 5, f"{day:%m/%d/%Y}")
        pdf.cell(125, 5, t.description[:70].encode("latin-1", "replace").decode("latin-1"))
        pdf.cell(30, 5, f"{t.amount:,.2f}", align="R")
        pdf.ln()
    return bytes(pdf.output())
