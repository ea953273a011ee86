"""In-memory sandbox state: clock, tokens, customers, links, logins, accounts, transactions, logs."""

from __future__ import annotations

import asyncio
import secrets
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sandbox.models import Tx, encode
from sandbox.validation import Violations

FLIPPED_SIGN_TYPES = frozenset({"creditCard", "investment"})
DATE_RULES = ("postedDate", "transactionDate")


class Clock:
    """Wall clock plus an adjustable offset (POST /_sandbox/clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def now_int(self) -> int:
        return int(self.now())


@dataclass
class Link:
    kind: str  # generate | email | fix
    url: str
    timestamp_ms: int
    ttl_ms: int
    webhook: str | None = None
    webhook_content_type: str = "application/json"
    webhook_data: dict | None = None
    webhook_headers: dict | None = None
    redirect_uri: str | None = None
    consumer_id: str | None = None
    single_use: bool = False
    institution_login_id: str | None = None
    used: bool = False


@dataclass
class Login:
    id: int
    customer_id: str
    institution_id: str
    oauth: bool
    consent_start: int
    consent_end: int
    created: int
    # Standard aggregation serves 180 days before each account was added until a historic load for the
    # login completes; `historic_load` is how this institution answers one: complete | failed | manual.
    history_complete: bool = False
    historic_load: str = "complete"


@dataclass
class Consumer:
    """A Finicity consumer (CreateConsumer): only what GetConsumerForCustomer returns is kept."""

    id: str
    customer_id: str
    created: int
    fields: dict[str, Any]


@dataclass
class Refresh:
    """A refreshTransactions request, moving NEW -> IN_PROGRESS -> COMPLETED | FAILED on its own."""

    id: str
    customer_id: str
    login_id: int | None
    account_ids: list[str]
    mode: str  # standard | historic | custom
    created_iso: str
    status: str = "NEW"
    from_date: str | None = None
    to_date: str | None = None


@dataclass
class Account:
    id: str
    customer_id: str
    login_id: int
    institution_id: str
    number: str
    name: str
    nickname: str
    type: str
    opening_balance: float
    created: int
    display_position: int
    last_attempt: int
    last_success: int
    txs: dict[int, Tx] = field(default_factory=dict)
    encoded: dict[int, bytes] = field(default_factory=dict)
    # Ids unique per account only (Mastercard's rule): when set, this account numbers its own rows.
    next_tx_id: int | None = None
    # Transactions dated before this are not served (0 = all): created - 180 days until a historic load.
    history_floor: int = 0

    @property
    def sign(self) -> int:
        """Mastercard's sign convention: for credit cards and investments inflows are negative."""
        return -1 if self.type in FLIPPED_SIGN_TYPES else 1

    def put(self, tx: Tx) -> None:
        self.txs[tx.id] = tx
        self.encoded[tx.id] = encode(tx)

    def drop(self, tx_id: int) -> None:
        self.txs.pop(tx_id, None)
        self.encoded.pop(tx_id, None)

    @property
    def balance(self) -> float:
        return round(
            self.opening_balance
            + self.sign * sum(t.amount for t in self.txs.values() if t.status == "active"),
            2,
        )


class TxIndex:
    """Transactions of a scope sorted by (filter date, id, account); pages are slices of pre-encoded bytes."""

    def __init__(self, accounts: list[Account], include_pending: bool, date_rule: str) -> None:
        rows = []
        for acct in accounts:
            enc = acct.encoded
            account = int(acct.id)
            floor = acct.history_floor
            for tx in acct.txs.values():
                if (include_pending or tx.status != "pending") and tx.effective_date >= floor:
                    rows.append((tx.filter_date(date_rule), tx.id, account, enc[tx.id]))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        self.dates = [r[0] for r in rows]
        self.items = [r[3] for r in rows]

    def page(
        self, from_date: int, to_date: int, start: int, limit: int, desc: bool
    ) -> tuple[int, list[bytes]]:
        lo = bisect_left(self.dates, from_date)
        hi = bisect_right(self.dates, to_date)
        found = max(0, hi - lo)
        first = start - 1
        if first >= found:
            return found, []
        count = min(limit, found - first)
        if desc:
            top = hi - first
            return found, self.items[top - count : top][::-1]
        return found, self.items[lo + first : lo + first + count]


@dataclass
class Customer:
    id: str
    username: str
    type: str
    created: int
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    application_id: str | None = None
    latest_link: Link | None = None
    consumer: Consumer | None = None
    # Bank transactions Mastercard has not aggregated yet (bank/advance with untilRefresh): a standard
    # refresh publishes them.
    unrefreshed: dict[str, list[Tx]] = field(default_factory=dict)
    logins: dict[int, Login] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    version: int = 0
    next_tx_id: int | None = None
    _index: dict[tuple, TxIndex] = field(default_factory=dict)

    def touch(self) -> None:
        self.version += 1
        self._index.clear()

    def index(self, account_id: str | None, include_pending: bool, date_rule: str = "postedDate") -> TxIndex:
        key = (account_id, include_pending, date_rule)
        idx = self._index.get(key)
        if idx is None:
            accts = [self.accounts[account_id]] if account_id else list(self.accounts.values())
            idx = self._index[key] = TxIndex(accts, include_pending, date_rule)
        return idx


@dataclass
class Token:
    value: str
    issued: float
    expires: float
    revoked: bool = False


@dataclass
class Subscription:
    id: str
    url: str | None
    events: list[dict]
    status: str
    created: str
    updated: str


class Stats:
    def __init__(self) -> None:
        self.operations: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # locked is 0/1 (an int, so the dict keeps one value type)
        self.partner_auth = {"count": 0, "success": 0, "failure": 0, "consecutiveFailures": 0, "locked": 0}
        self.webhooks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def record(self, op: str, status: int) -> None:
        self.operations[op][str(status)] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "operations": {op: dict(v) for op, v in self.operations.items()},
            "partnerAuth": dict(self.partner_auth),
            "webhooks": {k: dict(v) for k, v in self.webhooks.items()},
        }


class SandboxState:
    def __init__(self, id_block: int | None = None) -> None:
        self.clock = Clock()
        self.id_block = secrets.randbelow(999_000) if id_block is None else id_block
        self.reset()

    def reset(self) -> None:
        self.clock.offset = 0.0
        self.tokens: dict[str, Token] = {}
        self.customers: dict[str, Customer] = {}
        self.logins: dict[int, Login] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.refreshes: dict[str, Refresh] = {}
        self.outbox: list[dict] = []
        self.deliveries: list[dict] = []
        self.faults: list = []
        # asset id -> (customer id, account id, statement index, sandbox time the details were asked)
        self.assets: dict[str, tuple[str, str, int, int]] = {}
        self.stats = Stats()
        self.violations = Violations()
        # Mastercard's ids are unique across everything a partner ever sees, so each sandbox
        # instance draws its own id block (a reset reuses it: same seed, same data).
        self.next_customer_id = 7_000_000_000 + self.id_block * 1_000
        self.next_login_id = 8_000_000_000 + self.id_block * 1_000
        # Every account id ever handed out (deleted ones included: Mastercard never reuses one). Real
        # account ids are unique across all customers, and the service keys accounts by id alone.
        self.account_ids: set[str] = set()
        for task in list(getattr(self, "tasks", ())):
            task.cancel()
        self.tasks: set[asyncio.Task] = set()

    def new_customer_id(self) -> str:
        self.next_customer_id += 1
        return str(self.next_customer_id)

    def new_login_id(self) -> int:
        self.next_login_id += 1
        return self.next_login_id

    def claim_account_id(self, wanted: int) -> str:
        """`wanted` (a random 10-digit draw), or the next free id above it: unique across customers."""
        while str(wanted) in self.account_ids:
            wanted += 1
        account_id = str(wanted)
        self.account_ids.add(account_id)
        return account_id

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task
