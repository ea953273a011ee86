"""Accountant exports as pure functions: CSV (RFC 4180), OFX 2 and QBO, one account per OFX/QBO file.

Sign convention, the same for every account type and every format: **money leaving the client is
negative, money coming in is positive**. Mastercard sends amounts that way for deposit accounts but
flips them for credit cards and investment accounts (a card purchase arrives positive, a payment
negative); `client_amount` undoes that flip. The database keeps Mastercard's amounts as sent.

OFX and QBO are written with ofxtools' models (so every element is validated against the OFX spec);
the QBO file is OFX 1.02 with the Intuit sign-on extension `INTU.BID` that QuickBooks Desktop and
Online read to accept a Web Connect import.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from ofxtools import utils as ofx_utils
from ofxtools.header import make_header
from ofxtools.models import (
    BANKACCTFROM,
    BANKMSGSRSV1,
    BANKTRANLIST,
    CCACCTFROM,
    CCSTMTRS,
    CCSTMTTRNRS,
    CREDITCARDMSGSRSV1,
    FI,
    LEDGERBAL,
    OFX,
    SIGNONMSGSRSV1,
    SONRS,
    STATUS,
    STMTRS,
    STMTTRN,
    STMTTRNRS,
)

# Mastercard's account types whose amounts come sign-flipped (credit cards and investments).
FLIPPED_TYPES = frozenset(
    {
        "creditCard",
        "investment",
        "investmentTaxDeferred",
        "employeeStockPurchasePlan",
        "ira",
        "401k",
        "roth",
        "403b",
        "529plan",
        "529",
        "rollover",
        "ugma",
        "utma",
        "keogh",
        "457plan",
        "457",
        "401a",
        "brokerageAccount",
        "educationSavings",
        "healthSavingsAccount",
        "pension",
        "profitSharingPlan",
        "roth401k",
        "sepIRA",
        "simpleIRA",
        "thriftSavingsPlan",
        "variableAnnuity",
        "cryptocurrency",
    }
)
# OFX bank statements (STMTRS) cover these; credit cards go in CCSTMTRS; the rest (investments,
# loans) are CSV only.
_BANK_ACCTTYPE = {
    "checking": "CHECKING",
    "savings": "SAVINGS",
    "moneyMarket": "MONEYMRKT",
    "cd": "CD",
    "lineOfCredit": "CREDITLINE",
}
_TRNTYPE = {
    "atm": "ATM",
    "cash": "CASH",
    "check": "CHECK",
    "credit": "CREDIT",
    "debit": "DEBIT",
    "deposit": "DEP",
    "directDebit": "DIRECTDEBIT",
    "directDeposit": "DIRECTDEP",
    "dividend": "DIV",
    "fee": "FEE",
    "interest": "INT",
    "other": "OTHER",
    "payment": "PAYMENT",
    "pointOfSale": "POS",
    "repeatPayment": "REPEATPMT",
    "serviceCharge": "SRVCHG",
    "transfer": "XFER",
}
# QuickBooks maps INTU.BID to a bank it knows; 3000 is the id widely used for generic Web Connect files.
DEFAULT_INTU_BID = "3000"
CSV_HEADER = (
    "date",
    "account_id",
    "account_name",
    "account_type",
    "amount",
    "currency",
    "status",
    "description",
    "payee",
    "memo",
    "category",
    "check_number",
    "posted_date",
    "transaction_date",
    "transaction_id",
)


class UnsupportedAccount(ValueError):
    """The format cannot represent this account type (e.g. OFX for an investment account)."""


@dataclass(frozen=True)
class ExportAccount:
    id: str
    name: str | None
    type: str | None
    currency: str = "USD"
    institution_id: str | None = None
    balance: Decimal | None = None
    balance_date: datetime | None = None


@dataclass(frozen=True)
class ExportTransaction:
    id: int
    account_id: str
    amount: Decimal  # as Mastercard sent it (see client_amount)
    status: str  # pending | posted
    effective_at: datetime
    description: str | None = None
    memo: str | None = None
    payee: str | None = None
    category: str | None = None
    check_number: str | None = None
    type: str | None = None
    posted_at: datetime | None = None
    transaction_at: datetime | None = None


def client_amount(amount: Decimal, account_type: str | None) -> Decimal:
    """The amount in the client's convention: negative when money leaves the client."""
    return -amount if account_type in FLIPPED_TYPES else amount


def select(
    transactions: Iterable[ExportTransaction], start: date, end: date, include_pending: bool = False
) -> list[ExportTransaction]:
    """Rows whose effective date (UTC) is within [start, end], pending ones only when asked, in date order."""
    rows = [
        t
        for t in transactions
        if start <= t.effective_at.astimezone(UTC).date() <= end and (include_pending or t.status != "pending")
    ]
    return sorted(rows, key=lambda t: (t.effective_at, t.id))


def _money(value: Decimal) -> str:
    cents = value.quantize(Decimal("0.01"))
    return str(cents if cents == value else value.normalize())


def _day(value: datetime | None) -> str:
    return value.astimezone(UTC).date().isoformat() if value else ""


def write_csv(accounts: Sequence[ExportAccount], transactions: Sequence[ExportTransaction]) -> bytes:
    """RFC 4180 (CRLF, minimal quoting), UTF-8, one header row; any number of accounts in one file."""
    by_id = {a.id: a for a in accounts}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_HEADER)
    for t in transactions:
        acct = by_id[t.account_id]
        writer.writerow(
            (
                _day(t.effective_at),
                acct.id,
                acct.name or "",
                acct.type or "",
                _money(client_amount(t.amount, acct.type)),
                acct.currency,
                t.status,
                t.description or "",
                t.payee or "",
                t.memo or "",
                t.category or "",
                t.check_number or "",
                _day(t.posted_at),
                _day(t.transaction_at),
                str(t.id),
            )
        )
    return out.getvalue().encode("utf-8")


def _stmttrn(t: ExportTransaction, account_type: str | None) -> STMTTRN:
    amount = client_amount(t.amount, account_type)
    kind = _TRNTYPE.get(t.type or "") or ("CREDIT" if amount > 0 else "DEBIT")
    name = (t.payee or t.description or "Transaction")[:32]
    memo = " | ".join(x for x in (t.description if t.payee else None, t.memo) if x)[:255] or None
    return STMTTRN(
        trntype=kind,
        dtposted=t.effective_at.astimezone(UTC),
        dtuser=t.transaction_at.astimezone(UTC) if t.transaction_at else None,
        trnamt=amount,
        fitid=str(t.id),
        checknum=(t.check_number or None) and t.check_number[:12],
        name=name,
        memo=memo,
    )


def _statement(
    acct: ExportAccount, rows: Sequence[ExportTransaction], start: date, end: date
) -> BANKMSGSRSV1 | CREDITCARDMSGSRSV1:
    tranlist = BANKTRANLIST(
        *(_stmttrn(t, acct.type) for t in rows),
        dtstart=datetime.combine(start, time.min, UTC),
        dtend=datetime.combine(end, time.max.replace(microsecond=0), UTC),
    )
    as_of = acct.balance_date or datetime.combine(end, time.min, UTC)
    # Balances need no flip: Mastercard reports what the client owes on a card as a negative balance.
    ledger = LEDGERBAL(balamt=acct.balance or Decimal(0), dtasof=as_of.astimezone(UTC))
    status = STATUS(code=0, severity="INFO")
    if acct.type == "creditCard":
        ccrs = CCSTMTRS(
            curdef=acct.currency, ccacctfrom=CCACCTFROM(acctid=acct.id), banktranlist=tranlist, ledgerbal=ledger
        )
        return CREDITCARDMSGSRSV1(CCSTMTTRNRS(trnuid=f"ob-{acct.id}", status=status, ccstmtrs=ccrs))
    accttype = _BANK_ACCTTYPE.get(acct.type or "")
    if accttype is None:
        raise UnsupportedAccount(
            f"OFX/QBO exports cover bank and credit-card accounts; account type {acct.type!r} is CSV only"
        )
    stmtrs = STMTRS(
        curdef=acct.currency,
        bankacctfrom=BANKACCTFROM(bankid=(acct.institution_id or "0")[:9], acctid=acct.id, accttype=accttype),
        banktranlist=tranlist,
        ledgerbal=ledger,
    )
    return BANKMSGSRSV1(STMTTRNRS(trnuid=f"ob-{acct.id}", status=status, stmtrs=stmtrs))


def _document(
    acct: ExportAccount,
    rows: Sequence[ExportTransaction],
    start: date,
    end: date,
    generated_at: datetime,
    institution_name: str,
) -> ET.Element:
    sonrs = SONRS(
        status=STATUS(code=0, severity="INFO"),
        dtserver=generated_at.astimezone(UTC),
        language="ENG",
        fi=FI(org=institution_name[:32], fid=(acct.institution_id or "0")[:32]),
    )
    message = _statement(acct, rows, start, end)
    if isinstance(message, CREDITCARDMSGSRSV1):
        ofx = OFX(signonmsgsrsv1=SIGNONMSGSRSV1(sonrs=sonrs), creditcardmsgsrsv1=message)
    else:
        ofx = OFX(signonmsgsrsv1=SIGNONMSGSRSV1(sonrs=sonrs), bankmsgsrsv1=message)
    return ofx.to_etree()


def write_ofx(
    acct: ExportAccount,
    rows: Sequence[ExportTransaction],
    start: date,
    end: date,
    generated_at: datetime,
    institution_name: str = "Open Banking export",
) -> bytes:
    """One account's transactions as an OFX 2.2 (XML) bank or credit-card statement."""
    tree = _document(acct, rows, start, end, generated_at, institution_name)
    ET.indent(tree)
    return str(make_header(version=220)).encode() + ET.tostring(tree, encoding="utf-8", method="html")


def write_qbo(
    acct: ExportAccount,
    rows: Sequence[ExportTransaction],
    start: date,
    end: date,
    generated_at: datetime,
    institution_name: str = "Open Banking export",
    intu_bid: str = DEFAULT_INTU_BID,
) -> bytes:
    """QuickBooks Web Connect (.qbo): OFX 1.02 SGML with `INTU.BID` in the sign-on response."""
    tree = _document(acct, rows, start, end, generated_at, institution_name)
    sonrs = tree.find("SIGNONMSGSRSV1/SONRS")
    assert sonrs is not None
    bid = ET.SubElement(sonrs, "INTU.BID")
    bid.text = intu_bid
    # SGML leaf elements unclosed, as banks' QBO files are; the header says USASCII, so keep to ASCII.
    body = ofx_utils.tostring_unclosed_elements(tree).decode("utf-8")
    header = str(make_header(version=102))
    return (header + body).encode("ascii", "replace")
