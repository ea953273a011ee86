"""Deterministic, realistic FinBank-like data: institution login, accounts and transaction histories."""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect
from itertools import accumulate

from sandbox.models import Categorization, Tx
from sandbox.state import Account, Customer, Login, SandboxState

DAY = 86_400
PENDING_WINDOW = 3 * DAY
# Shadow copies are of recent rows only (the last week), as a bank's temporary duplicates are.
SHADOW_WINDOW = 7 * DAY

# description, normalized payee, category, type, low, high, weight, memo
_Row = tuple[str, str, str, str, float, float, float, str | None]
_CHECKING: list[_Row] = [
    (
        "PAYROLL ACME CORP DIR DEP",
        "Acme Corp",
        "Paycheck",
        "directDeposit",
        1800,
        3200,
        2,
        "PPD ID: 9111111101",
    ),
    (
        "RENT PAYMENT WEB PMT",
        "Greenview Property Mgmt",
        "Mortgage & Rent",
        "payment",
        -2100,
        -1400,
        1,
        "WEB PMT",
    ),
    ("VERIZON WIRELESS PAYMENTS", "Verizon Wireless", "Mobile Phone", "debit", -140, -60, 1, "ONLINE PMT"),
    ("PG&E WEB ONLINE", "PG&E", "Utilities", "directDebit", -220, -45, 1, None),
    ("WHOLEFDS MKT #10234", "Whole Foods Market", "Groceries", "pointOfSale", -180, -12, 6, None),
    ("TRADER JOE'S #552", "Trader Joe's", "Groceries", "pointOfSale", -120, -8, 5, None),
    ("SHELL OIL 57444", "Shell", "Gas & Fuel", "pointOfSale", -75, -20, 4, None),
    ("STARBUCKS STORE 0841", "Starbucks", "Coffee Shops", "pointOfSale", -14, -3, 8, None),
    ("CHIPOTLE 1234", "Chipotle", "Fast Food", "pointOfSale", -25, -8, 5, None),
    ("AMAZON MKTPLACE PMTS", "Amazon", "Shopping", "debit", -250, -5, 6, None),
    ("NETFLIX.COM", "Netflix", "Entertainment", "repeatPayment", -22.99, -15.49, 1, "RECURRING"),
    ("ATM WITHDRAWAL 00123 MAIN ST", "ATM", "Cash & ATM", "atm", -300, -20, 2, None),
    ("ATM FEE", "FinBank", "ATM Fee", "fee", -3.5, -2.5, 1, None),
    ("CHECK", "Check", "Check", "check", -900, -25, 2, None),
    ("ZELLE FROM JANE DOE", "Zelle", "Transfer", "transfer", 20, 400, 1, "Zelle payment"),
    ("ONLINE TRANSFER TO SAV", "FinBank", "Transfer", "transfer", -500, -50, 1, "CONF# 8823"),
    ("MONTHLY SERVICE FEE", "FinBank", "Service Fee", "serviceCharge", -12, -12, 0.3, None),
    ("UBER *TRIP HELP.UBER.COM", "Uber", "Ride Share", "debit", -45, -7, 3, None),
    ("CVS/PHARMACY #0421", "CVS Pharmacy", "Pharmacy", "pointOfSale", -60, -5, 2, None),
    ("DELTA AIR LINES", "Delta Air Lines", "Air Travel", "debit", -650, -120, 0.3, None),
    ("AMAZON.COM REFUND", "Amazon", "Shopping", "credit", 5, 120, 0.5, "RETURN"),
]
_SAVINGS: list[_Row] = [
    ("INTEREST PAYMENT", "FinBank", "Interest Income", "interest", 0.5, 15, 1, None),
    ("ONLINE TRANSFER FROM CHK", "FinBank", "Transfer", "transfer", 50, 800, 3, "CONF# 1123"),
    ("ONLINE TRANSFER TO CHK", "FinBank", "Transfer", "transfer", -900, -50, 2, "CONF# 4471"),
    ("DIVIDEND", "FinBank", "Dividend & Cap Gains", "dividend", 1, 40, 0.5, None),
]
_CARD: list[_Row] = [
    ("PAYMENT - THANK YOU", "FinBank", "Credit Card Payment", "payment", 200, 2500, 1, None),
    ("SQ *BLUE BOTTLE COFFEE", "Blue Bottle Coffee", "Coffee Shops", "pointOfSale", -12, -4, 5, None),
    ("DOORDASH*THAI PALACE", "DoorDash", "Food Delivery", "debit", -60, -15, 4, None),
    ("TARGET 00012345", "Target", "Shopping", "pointOfSale", -200, -10, 4, None),
    ("COSTCO WHSE #0117", "Costco", "Groceries", "pointOfSale", -400, -40, 2, None),
    ("SPOTIFY USA", "Spotify", "Music", "repeatPayment", -11.99, -10.99, 1, "RECURRING"),
    ("MARRIOTT HOTELS", "Marriott", "Hotel", "debit", -600, -120, 0.3, None),
    ("LATE FEE", "FinBank", "Finance Charge", "fee", -39, -29, 0.1, None),
]
_INVESTMENT: list[_Row] = [
    ("BOUGHT VANGUARD TOTAL STOCK MKT ETF", "Vanguard", "Investments", "debit", -4000, -200, 3, "BUY"),
    ("SOLD ISHARES CORE S&P 500 ETF", "iShares", "Investments", "credit", 300, 5000, 1, "SELL"),
    ("DIVIDEND RECEIVED VTI", "Vanguard", "Dividend & Cap Gains", "dividend", 5, 180, 2, None),
    ("CONTRIBUTION FROM CHK", "FinBank", "Transfer", "transfer", 100, 1500, 1, None),
    ("ADVISORY FEE", "FinBank", "Service Fee", "fee", -25, -8, 0.3, None),
]
# kind, nickname, catalog rows, (balance low, balance high). Catalog amounts are written as money in
# (+) / money out (-); accounts of a FLIPPED_SIGN_TYPES type serve them the other way round.
_ACCOUNT_KINDS: list[tuple[str, str, list[_Row], tuple[int, int]]] = [
    ("checking", "Super Checking", _CHECKING, (1500, 6000)),
    ("savings", "Super Savings", _SAVINGS, (5000, 30000)),
    ("creditCard", "Visa Signature", _CARD, (-2500, -100)),
    ("checking", "Joint Checking", _CHECKING, (800, 4000)),
    ("savings", "Emergency Savings", _SAVINGS, (2000, 15000)),
    ("investment", "Brokerage", _INVESTMENT, (10000, 80000)),
]


class _Catalog:
    def __init__(self, rows: list[_Row]) -> None:
        self.rows = rows
        self.cum = list(accumulate(r[6] for r in rows))
        self.cats = [
            Categorization(normalizedPayeeName=r[1], category=r[2], country="USA", bestRepresentation=r[0])
            for r in rows
        ]

    def pick(self, rng: random.Random) -> int:
        return bisect(self.cum, rng.random() * self.cum[-1])


_CATALOGS = {id(k[2]): _Catalog(k[2]) for k in _ACCOUNT_KINDS}
DEFAULT_PROFILE = {
    "oauth": True,
    "accounts": 3,
    "months": 24,
    "seed": 7,
    "transactionsPerAccountPerMonth": 40,
    "institutionId": "102105",
    "consentDays": 365,
    # Ids unique per account only: every account numbers its rows from the same seed-derived base, so
    # ids repeat across the customer's accounts and across customers linked with the same seed.
    "idsPerAccount": False,
}
# Share of posted rows whose transaction date is pushed into the previous month (posted on the 1st-3rd).
MONTH_END_SHARE = 0.5


def _month_end_straddle(rng: random.Random, posted: int) -> int | None:
    """A transaction date in the previous month for a row posted early in a month, else None."""
    day = dt.datetime.fromtimestamp(posted, dt.UTC).day
    if day > 3 or rng.random() >= MONTH_END_SHARE:
        return None
    return posted - (day + rng.randrange(0, 3)) * DAY


def _make_tx(
    rng: random.Random,
    cat: _Catalog,
    acct: Account,
    customer_id: int,
    tx_id: int,
    date: int,
    now: int,
    check_no: list[int],
    pending: bool,
) -> Tx:
    i = cat.pick(rng)
    desc, _payee, _category, ttype, low, high, _w, memo = cat.rows[i]
    amount = round(low + (high - low) * rng.random(), 2) * acct.sign
    check = None
    if ttype == "check":
        check_no[0] += 1
        check = str(check_no[0])
        desc = f"CHECK {check}"
    if pending:
        return Tx(
            id=tx_id,
            amount=amount,
            accountId=int(acct.id),
            customerId=customer_id,
            status="pending",
            description=desc,
            createdDate=min(now, date + 600),
            memo=memo,
            type=ttype,
            transactionDate=date,
            checkNum=check,
            categorization=cat.cats[i],
        )
    return Tx(
        id=tx_id,
        amount=amount,
        accountId=int(acct.id),
        customerId=customer_id,
        status="active",
        description=desc,
        createdDate=now,
        memo=memo,
        type=ttype,
        transactionDate=_month_end_straddle(rng, date) or date - rng.randrange(0, 2 * DAY),
        postedDate=date,
        checkNum=check,
        categorization=cat.cats[i],
    )


def _catalog_for(acct: Account) -> _Catalog:
    for kind in _ACCOUNT_KINDS:
        if kind[1] == acct.nickname.split(" #")[0]:
            return _CATALOGS[id(kind[2])]
    return _CATALOGS[id(_CHECKING)]


def connect_customer(state: SandboxState, customer: Customer, profile: dict) -> tuple[Login, list[Account]]:
    """Create an institution login with accounts and a full transaction history."""
    p = {**DEFAULT_PROFILE, **profile}
    now = state.clock.now_int()
    rng = random.Random(f"{p['seed']}:{customer.id}")
    login = Login(
        id=state.new_login_id(),
        customer_id=customer.id,
        institution_id=str(p["institutionId"]),
        oauth=bool(p["oauth"]),
        consent_start=now,
        consent_end=now + int(p["consentDays"]) * DAY,
        created=now,
    )
    state.logins[login.id] = login
    customer.logins[login.id] = login
    if customer.next_tx_id is None:
        # A block of a million ids per customer, unless the profile asks for ids per account.
        customer.next_tx_id = int(customer.id) * 1_000_000
    shared_base = 1_000_000 + int(p["seed"]) * 1_000_000 if p["idsPerAccount"] else None
    span = int(p["months"] * 30.44 * DAY)
    per_account = int(p["months"] * p["transactionsPerAccountPerMonth"])
    cid = int(customer.id)
    created: list[Account] = []
    for n in range(int(p["accounts"])):
        kind, name, rows, (blo, bhi) = _ACCOUNT_KINDS[n % len(_ACCOUNT_KINDS)]
        acct_id = state.claim_account_id(rng.randrange(6_000_000_000, 7_000_000_000))
        suffix = f" #{n // len(_ACCOUNT_KINDS) + 1}" if n >= len(_ACCOUNT_KINDS) else ""
        acct = Account(
            id=acct_id,
            customer_id=customer.id,
            login_id=login.id,
            institution_id=login.institution_id,
            number=str(rng.randrange(10**8, 10**12)),
            name=name + suffix,
            nickname=name + suffix,
            type=kind,
            opening_balance=round(rng.uniform(blo, bhi), 2),
            created=now,
            display_position=len(customer.accounts) + 1,
            last_attempt=now,
            last_success=now,
        )
        cat = _CATALOGS[id(rows)]
        check_no = [1000 + rng.randrange(0, 500)]
        dates = sorted(now - int(rng.random() * span) for _ in range(per_account))
        base = customer.next_tx_id if shared_base is None else shared_base
        flags = [date > now - PENDING_WINDOW and rng.random() < 0.5 for date in dates]
        if dates and not any(flags):
            # Real accounts almost always have something still pending: so does every generated one.
            dates[-1] = max(dates[-1], now - PENDING_WINDOW // 2)
            flags[-1] = True
        for k, (date, pending) in enumerate(zip(dates, flags, strict=True)):
            acct.put(_make_tx(rng, cat, acct, cid, base + k, date, now, check_no, pending))
        if shared_base is None:
            customer.next_tx_id = base + len(dates)
        else:
            acct.next_tx_id = base + len(dates)
        target = round(rng.uniform(blo, bhi), 2)
        posted = sum(t.amount for t in acct.txs.values() if t.status == "active")
        acct.opening_balance = round(target - acct.sign * posted, 2)
        customer.accounts[acct.id] = acct
        created.append(acct)
    customer.touch()
    return login, created


def advance_bank(
    state: SandboxState,
    customer: Customer,
    *,
    days: int = 3,
    new_per_account: int = 5,
    post_pending: bool = True,
    shadow: int = 0,
    seed: int | None = None,
    hold_days: tuple[float, float] | None = None,
) -> dict:
    """New transactions; pending ones post under a new id; shadow ones appear (and earlier ones vanish).

    Without `hold_days` every pending row posts now, 0.5-2 days after its transaction date. With
    `hold_days=(lo, hi)` each pending row is held lo..hi days (fixed per row) and posts only once
    that hold has passed on the sandbox clock, dated transaction date + hold: rows that transact
    before a sync window and post inside it."""
    now = state.clock.now_int()
    rng = random.Random(f"{seed}:{customer.id}:{customer.version}")
    out: dict[str, list[int]] = {"created": [], "posted": [], "removedPending": [], "shadowed": [], "removedShadow": []}
    if customer.next_tx_id is None:
        customer.next_tx_id = int(customer.id) * 1_000_000
    cid = int(customer.id)
    for acct in customer.accounts.values():
        for tx in list(acct.txs.values()):
            if tx.status == "shadow":
                acct.drop(tx.id)
                out["removedShadow"].append(tx.id)
        if post_pending:
            for tx in [t for t in acct.txs.values() if t.status == "pending"]:
                transacted = tx.transactionDate or now
                if hold_days is None:
                    posted_at = min(now, transacted + rng.randrange(DAY // 2, 2 * DAY))
                else:
                    hold = random.Random(f"hold:{acct.id}:{tx.id}").uniform(*hold_days)
                    posted_at = transacted + int(hold * DAY)
                    if posted_at > now:
                        continue
                acct.drop(tx.id)
                new = Tx(
                    id=_next_id(customer, acct),
                    amount=tx.amount,
                    accountId=tx.accountId,
                    customerId=cid,
                    status="active",
                    description=tx.description,
                    createdDate=now,
                    memo=tx.memo,
                    type=tx.type,
                    transactionDate=tx.transactionDate,
                    postedDate=posted_at,
                    checkNum=tx.checkNum,
                    categorization=tx.categorization,
                )
                acct.put(new)
                out["removedPending"].append(tx.id)
                out["posted"].append(new.id)
    recent = [
        (acct, tx)
        for acct in customer.accounts.values()
        for tx in acct.txs.values()
        if tx.status == "active" and tx.effective_date > now - SHADOW_WINDOW
    ]
    recent.sort(key=lambda r: (r[1].id, r[0].id))
    for acct, tx in rng.sample(recent, min(shadow, len(recent))):
        tx.status = "shadow"
        acct.put(tx)
        out["shadowed"].append(tx.id)
    for acct in customer.accounts.values():
        cat = _catalog_for(acct)
        check_no = [2000 + rng.randrange(0, 500)]
        for date in sorted(now - int(rng.random() * days * DAY) for _ in range(new_per_account)):
            pending = date > now - PENDING_WINDOW and rng.random() < 0.4
            tx = _make_tx(rng, cat, acct, cid, _next_id(customer, acct), date, now, check_no, pending)
            acct.put(tx)
            out["created"].append(tx.id)
        acct.last_attempt = acct.last_success = now
    customer.touch()
    return out


def _next_id(customer: Customer, acct: Account) -> int:
    """The next transaction id: the account's own counter when ids are per account, else the customer's."""
    if acct.next_tx_id is not None:
        acct.next_tx_id += 1
        return acct.next_tx_id - 1
    assert customer.next_tx_id is not None
    customer.next_tx_id += 1
    return customer.next_tx_id - 1
