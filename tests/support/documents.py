"""Reading produced documents back the way an accountant's tools would: PDF text (pypdf), OFX/QBO
statements (ofxtools), and the database's own answer for an export's account and range."""

from __future__ import annotations

import io
import warnings
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from ofxtools.Parser import OFXTree
from pypdf import PdfReader

from service.documents.exports import client_amount


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def parse_ofx(data: bytes) -> Any:
    """The one statement of an OFX or QBO file."""
    tree = OFXTree()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ofxtools skips the private INTU.BID tag, with a warning
        tree.parse(io.BytesIO(data))
        return tree.convert().statements[0]


def db_export_rows(
    pg: psycopg.Connection, account_id: str, start: date, end: date, include_pending: bool = False
) -> list[tuple[int, Decimal]]:
    """(id, amount in the client's sign convention) of the account's transactions in [start, end] (UTC)."""
    (acct_type,) = pg.execute("select type from public.open_banking_accounts where id = %s", (account_id,)).fetchone()
    rows = pg.execute(
        "select id, amount from public.open_banking_transactions where account_id = %s "
        "and effective_at >= %s::date::timestamp at time zone 'UTC' "
        "and effective_at < %s::date::timestamp at time zone 'UTC' and (%s or status <> 'pending') "
        "order by effective_at, id",
        (account_id, start, end + timedelta(days=1), include_pending),
    ).fetchall()
    return [(i, client_amount(a, acct_type)) for i, a in rows]


def ofx_rows(data: bytes) -> list[tuple[int, Decimal]]:
    return [(int(t.fitid), t.trnamt) for t in parse_ofx(data).transactions]
