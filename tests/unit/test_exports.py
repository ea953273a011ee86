"""Export writers: parse every file back (csv, ofxtools) and compare count, total and each row."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.documents.exports import (
    CSV_HEADER,
    ExportAccount,
    ExportTransaction,
    UnsupportedAccount,
    client_amount,
    select,
    write_csv,
    write_ofx,
    write_qbo,
)
from tests.support.documents import parse_ofx

START, END = date(2025, 1, 1), date(2025, 12, 31)
NOW = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
CHECKING = ExportAccount(
    "6000000001", "Super Checking", "checking", institution_id="102105", balance=Decimal("1520.10")
)
CARD = ExportAccount("6000000002", "Visa Signature", "creditCard", institution_id="102105", balance=Decimal("-310.00"))


def tx(i: int, amount: str, day: date, account: ExportAccount = CHECKING, **kw) -> ExportTransaction:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return ExportTransaction(
        id=i,
        account_id=account.id,
        amount=Decimal(amount),
        status=kw.pop("status", "posted"),
        effective_at=at,
        posted_at=at,
        transaction_at=at - timedelta(days=1),
        **kw,
    )


def test_sign_convention_money_out_is_negative_for_every_type():
    assert client_amount(Decimal("-12.50"), "checking") == Decimal("-12.50")
    # Mastercard sends a card purchase as positive and a card payment as negative.
    assert client_amount(Decimal("12.50"), "creditCard") == Decimal("-12.50")
    assert client_amount(Decimal("-500"), "creditCard") == Decimal("500")
    assert client_amount(Decimal("-1"), "investment") == Decimal("1")


def test_select_keeps_the_range_and_drops_pending_unless_asked():
    rows = [
        tx(1, "-1", date(2024, 12, 31)),
        tx(2, "-2", date(2025, 1, 1)),
        tx(3, "-3", date(2025, 12, 31), status="pending"),
        tx(4, "-4", date(2025, 12, 31)),
        tx(5, "-5", date(2026, 1, 1)),
    ]
    assert [t.id for t in select(rows, START, END)] == [2, 4]
    assert [t.id for t in select(rows, START, END, include_pending=True)] == [2, 3, 4]


def test_csv_is_rfc4180_utf8_with_header_and_quotes_what_needs_it():
    rows = [
        tx(1, "-4.5", date(2025, 3, 1), description='CAFÉ "LE PETIT", PARIS', memo="line1\nline2"),
        tx(2, "19.99", date(2025, 3, 2), account=CARD, payee="Target"),
    ]
    data = write_csv([CHECKING, CARD], rows)
    assert data.startswith(b"date,account_id,") and b"\r\n" in data
    assert '"CAFÉ ""LE PETIT"", PARIS"'.encode() in data
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert tuple(parsed[0]) == CSV_HEADER
    body = [dict(zip(parsed[0], r, strict=True)) for r in parsed[1:]]
    assert [r["amount"] for r in body] == ["-4.50", "-19.99"]  # the card purchase becomes money out
    assert body[0]["memo"] == "line1\nline2" and body[0]["description"] == 'CAFÉ "LE PETIT", PARIS'


def test_qbo_carries_intuit_fields_and_parses_back_exactly():
    rows = [
        tx(1, "-40.12", date(2025, 2, 3), payee="Whole Foods", type="pointOfSale", check_number=None),
        tx(2, "2500", date(2025, 2, 15), description="PAYROLL ACME", type="directDeposit"),
        tx(3, "-120", date(2025, 2, 20), description="CHECK 1042", type="check", check_number="1042"),
    ]
    data = write_qbo(CHECKING, rows, START, END, NOW)
    text = data.decode("ascii")
    assert text.startswith("OFXHEADER:100") and "VERSION:102" in text and "<INTU.BID>3000" in text
    assert "<FID>102105" in text and "<ORG>" in text
    stmt = parse_ofx(data)
    assert stmt.account.acctid == CHECKING.id and stmt.account.accttype == "CHECKING"
    got = [(t.fitid, t.trnamt, t.trntype) for t in stmt.transactions]
    assert got == [
        ("1", Decimal("-40.12"), "POS"),
        ("2", Decimal("2500"), "DIRECTDEP"),
        ("3", Decimal("-120"), "CHECK"),
    ]
    assert stmt.balance.balamt == Decimal("1520.10")


def test_ofx2_credit_card_statement():
    rows = [
        tx(7, "55.10", date(2025, 6, 1), account=CARD, payee="Costco"),
        tx(8, "-300", date(2025, 6, 9), account=CARD),
    ]
    data = write_ofx(CARD, rows, START, END, NOW)
    assert data.startswith(b'<?xml version="1.0"') and b'VERSION="220"' in data
    stmt = parse_ofx(data)
    assert stmt.account.acctid == CARD.id
    assert [t.trnamt for t in stmt.transactions] == [Decimal("-55.10"), Decimal("300")]


def test_ofx_refuses_account_types_it_cannot_represent():
    inv = ExportAccount("6000000009", "Brokerage", "investment")
    with pytest.raises(UnsupportedAccount, match="CSV only"):
        write_ofx(inv, [], START, END, NOW)
    assert write_csv([inv], []).count(b"\r\n") == 1


amounts = st.decimals(min_value=Decimal("-99999.99"), max_value=Decimal("99999.99"), places=2, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(amounts, st.integers(0, 364), st.booleans()), max_size=60), st.sampled_from([CHECKING, CARD]))
def test_every_format_keeps_count_and_total(items, account):
    rows = [
        tx(
            i + 1,
            str(a),
            START + timedelta(days=d),
            account=account,
            status="pending" if p else "posted",
            description="D" * (i % 50),
        )
        for i, (a, d, p) in enumerate(items)
    ]
    chosen = select(rows, START, END)
    want_total = sum((client_amount(t.amount, account.type) for t in chosen), Decimal(0))
    for data in (write_ofx(account, chosen, START, END, NOW), write_qbo(account, chosen, START, END, NOW)):
        stmt = parse_ofx(data)
        assert len(stmt.transactions) == len(chosen)
        assert sum((t.trnamt for t in stmt.transactions), Decimal(0)) == want_total
        assert [t.fitid for t in stmt.transactions] == [str(t.id) for t in chosen]
    parsed = list(csv.DictReader(io.StringIO(write_csv([account], chosen).decode(), newline="")))
    assert len(parsed) == len(chosen)
    assert sum((Decimal(r["amount"]) for r in parsed), Decimal(0)) == want_total
