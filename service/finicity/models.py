"""Typed views of the Mastercard Open Banking US responses the flows read.

Field names follow `specs/openbanking-us.yaml` (camelCase on the wire, snake_case in Python). Models
ignore unknown fields and tolerate the spec's known quirks: numbers where strings are declared (and
the reverse), `moreAvailable` as the string "true", epoch dates sent as strings, and `null` for
fields the spec calls required. Money is `Decimal`: the client parses JSON with `parse_float=Decimal`
so amounts are never rounded through a float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class FinicityModel(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        alias_generator=to_camel,
        populate_by_name=True,
        # The spec's ids are strings in some objects; a number there must not fail a sync.
        coerce_numbers_to_str=True,
        frozen=True,
    )


# Pydantic's lax mode turns "1649244189" into 1649244189 and "true"/"false" into booleans, which
# covers StringUnixDate, CreatedCustomer.createdDate and both spellings of moreAvailable.


class AccessToken(FinicityModel):
    token: str


class CreatedCustomer(FinicityModel):
    id: str
    username: str
    created_date: int | None = None


class Customer(FinicityModel):
    id: str
    username: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    type: str | None = None  # "testing" | "active"
    created_date: int | None = None
    last_modified_date: int | None = None
    application_id: str | None = None


class Customers(FinicityModel):
    found: int = 0
    displaying: int = 0
    more_available: bool = False
    customers: list[Customer] = Field(default_factory=list)


class ConnectLink(FinicityModel):
    link: str


class ConnectEmailLink(FinicityModel):
    link: str
    email_config: dict[str, Any] | None = None


# Consumers: the owner record Mastercard's Connect email needs. Only identifiers are read back; the
# personal fields are sent once (CreateConsumer) and never kept by the service.


class Birthday(FinicityModel):
    year: int
    month: int
    day_of_month: int


class NewConsumer(FinicityModel):
    """CreateConsumer's body (`NewConsumer`): firstName, lastName, state, a birthday (never an SSN here),
    and an email or a phone."""

    first_name: str
    last_name: str
    state: str
    birthday: Birthday
    email: str | None = None
    phone: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class CreatedConsumer(FinicityModel):
    id: str
    created_date: int | None = None
    customer_id: str | None = None


class Consumer(FinicityModel):
    id: str
    customer_id: str | None = None
    created_date: int | None = None


# refreshTransactions / getTransactionRefreshStatus (asynchronous; ISO-8601 dates).
RefreshMode = Literal["standard", "historic"]
REFRESH_FINAL = frozenset({"COMPLETED", "FAILED"})


class TransactionRefresh(FinicityModel):
    refresh_id: str
    customer_id: str | None = None
    institution_login_id: str | None = None
    account_ids: list[str] = Field(default_factory=list)
    mode: str | None = None
    status: str  # NEW | IN_PROGRESS | COMPLETED | FAILED
    created_at: datetime | None = None


class TransactionRefreshStatus(FinicityModel):
    refresh_id: str
    customer_id: str | None = None
    mode: str | None = None
    status: str
    total_count: int | None = None
    success_count: int | None = None
    failed_count: int | None = None
    accounts: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status in REFRESH_FINAL

    def failure_reason(self) -> str:
        """What the institution said, without account ids (the CPA sees this)."""
        messages = sorted({str(a["message"]) for a in self.accounts if a.get("message")})
        return "; ".join(messages)[:300] or f"Mastercard reported the refresh {self.status}."


def mask_account_number(raw: object) -> str | None:
    """ "****1234": enough for a person to recognise the account, useless to anyone else."""
    if raw is None:
        return None
    digits = str(raw).strip()
    if not digits:
        return None
    return "****" + digits[-4:] if len(digits) > 4 else "****"


class CustomerAccount(FinicityModel):
    """An account. The raw `number` is masked on the way in and never stored on the object."""

    id: str
    finicity_customer_id: str | None = Field(default=None, alias="customerId")
    institution_id: str | None = None
    institution_login_id: int
    number_masked: str | None = None
    account_number_display: str | None = None
    real_account_number_last4: str | None = None
    name: str | None = None
    account_nickname: str | None = None
    type: str | None = None
    status: str | None = None
    balance: Decimal | None = None
    currency: str | None = None
    balance_date: int | None = None
    created_date: int | None = None
    last_updated_date: int | None = None
    last_transaction_date: int | None = None
    oldest_transaction_date: int | None = None
    aggregation_status_code: int | None = None
    aggregation_success_date: int | None = None
    aggregation_attempt_date: int | None = None
    market_segment: str | None = None
    authorization_start_date: int | None = None
    authorization_end_date: int | None = None
    authorization_expires: bool | None = None
    display_position: int | None = None
    linked_account_date: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _replace_number_with_mask(cls, data: Any) -> Any:
        if isinstance(data, dict) and "number" in data:
            data = dict(data)
            data["numberMasked"] = mask_account_number(data.pop("number"))
        return data


class CustomerAccounts(FinicityModel):
    accounts: list[CustomerAccount] = Field(default_factory=list)


# Transaction pages are the hot path (100,000+ rows per backfill), so they are decoded with msgspec
# straight from the response bytes: exact Decimal amounts from the JSON text, about 30x faster than
# validating dicts. `strict=False` gives the same tolerance as the pydantic models above: "true"
# for booleans and epoch dates sent as strings.


class Categorization(msgspec.Struct, rename="camel", frozen=True):
    normalized_payee_name: str | None = None
    category: str | None = None
    best_representation: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Transaction(msgspec.Struct, rename="camel", frozen=True):
    id: int
    account_id: int
    finicity_customer_id: int = msgspec.field(name="customerId")
    amount: Decimal
    status: str  # active | pending | shadow
    description: str | None = None
    memo: str | None = None
    type: str | None = None
    transaction_date: int | None = None
    posted_date: int | None = None
    created_date: int | None = None
    effective_date: int | None = None
    # The spec says string; numbers are seen in the wild.
    check_num_raw: str | int | None = msgspec.field(default=None, name="checkNum")
    unique_transaction_id: str | None = None
    running_balance_amount: Decimal | None = None
    categorization: Categorization | None = None

    @property
    def check_num(self) -> str | None:
        return None if self.check_num_raw is None else str(self.check_num_raw)


class Transactions(msgspec.Struct, rename="camel", frozen=True):
    found: int
    displaying: int = 0
    more_available: bool = False
    from_date: int | None = None
    to_date: int | None = None
    sort: str | None = None
    transactions: list[Transaction] = msgspec.field(default_factory=list)

    @classmethod
    def decode(cls, content: bytes) -> Transactions:
        return msgspec.json.decode(content, type=cls, strict=False)


class _RawTransactions(msgspec.Struct, rename="camel", frozen=True):
    """The page envelope with its rows left undecoded, to decode them one at a time."""

    found: int
    transactions: list[msgspec.Raw] = msgspec.field(default_factory=list)


class _RowIdentity(msgspec.Struct, rename="camel", frozen=True):
    id: Any = None
    account_id: Any = None


@dataclass(frozen=True, slots=True)
class RejectedTransaction:
    """A row of a page that does not match the spec: kept (masked) in quarantine, never dropped in silence."""

    raw: bytes
    reason: str
    id: int | None
    account_id: int | None


@dataclass(frozen=True, slots=True)
class TransactionPage:
    """One page as the sync sees it: the rows that parsed, and the ones that did not."""

    found: int
    transactions: list[Transaction]
    rejected: list[RejectedTransaction] = field(default_factory=list)

    def keys(self) -> list[tuple[int, int]]:
        """(accountId, id) of every row, rejected ones included when their ids can be read."""
        keys = [(t.account_id, t.id) for t in self.transactions]
        keys += [(r.account_id or 0, r.id) for r in self.rejected if r.id is not None]
        return keys

    @classmethod
    def decode(cls, content: bytes) -> TransactionPage:
        """The fast path decodes the whole page at once; only a page with a bad row is decoded row by row.
        Raises msgspec errors when the envelope itself is not a Transactions page."""
        try:
            page = Transactions.decode(content)
        except msgspec.ValidationError:
            return cls._decode_rows(content)
        return cls(page.found, page.transactions)

    @classmethod
    def _decode_rows(cls, content: bytes) -> TransactionPage:
        envelope = msgspec.json.decode(content, type=_RawTransactions, strict=False)
        good: list[Transaction] = []
        rejected: list[RejectedTransaction] = []
        for raw in envelope.transactions:
            try:
                good.append(msgspec.json.decode(raw, type=Transaction, strict=False))
            except msgspec.ValidationError as exc:
                rejected.append(_rejected(bytes(raw), str(exc)))
        return cls(envelope.found, good, rejected)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _rejected(raw: bytes, reason: str) -> RejectedTransaction:
    try:
        identity = msgspec.json.decode(raw, type=_RowIdentity)
    except msgspec.DecodeError:
        identity = _RowIdentity()
    # msgspec names the path and the expected type (`Expected `str`, got `null` - at `$.status`), not values.
    return RejectedTransaction(raw, reason[:300], _as_int(identity.id), _as_int(identity.account_id))


class Institution(FinicityModel):
    """GetInstitution's `institution` (only what the institutions cache keeps)."""

    id: str
    name: str | None = None
    display_name: str | None = None
    url_home_app: str | None = None
    url_logon_app: str | None = None
    oauth_enabled: bool | None = None
    status: str | None = None


class InstitutionWrapper(FinicityModel):
    institution: Institution


class Branding(FinicityModel):
    logo: str | None = None
    alternate_logo: str | None = None
    icon: str | None = None
    primary_color: str | None = None
    tile: str | None = None


class BrandingWrapper(FinicityModel):
    branding: Branding


class AuthorizationDetails(FinicityModel):
    """Consent window of an OAuth institution login (ISO-8601 strings on the wire)."""

    institution_login_id: int
    authorization_start_date: datetime
    authorization_end_date: datetime


# OBWMS (webhook subscriptions)


class SubscriptionCondition(FinicityModel):
    subscribe_for: str
    includes: list[str] | None = None
    excludes: list[str] | None = None


class WebhookEvent(FinicityModel):
    """An event in a subscription request."""

    name: str
    url: str | None = None
    condition: SubscriptionCondition | None = None


class Subscription(FinicityModel):
    """Request body of create/update subscription."""

    url: str | None = None
    events: list[WebhookEvent]

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SubscriptionEvent(FinicityModel):
    webhook_event_id: str
    name: str
    url: str | None = None
    status: str | None = None
    condition: SubscriptionCondition | None = None


class SubscriptionDetail(FinicityModel):
    subscription_id: str
    url: str | None = None
    events: list[SubscriptionEvent] = Field(default_factory=list)
    status: str | None = None  # active | inactive | pending | removed
    created_date: datetime | None = None
    last_updated_date: datetime | None = None


class Subscriptions(FinicityModel):
    count: int = 0
    offset: int = 0
    limit: int = 0
    total: int = 0
    subscriptions: list[SubscriptionDetail] = Field(default_factory=list)


class StatementDetail(FinicityModel):
    """One entry of GetCustomerAccountMultipleStatement: an asset id and period, or a per-index error."""

    index: int
    as_of_date: int | None = None
    id: str | None = None  # the asset id (GetAssetByCustomerID)
    description: str | None = None  # "MM/DD/YYYY - MM/DD/YYYY"
    document_date: str | None = None
    code: str | None = None
    message: str | None = None


class StatementDetails(FinicityModel):
    statements: list[StatementDetail] = Field(default_factory=list)


class CertifiedInstitution(FinicityModel):
    id: int
    name: str
    state_agg: bool = False  # certified for Statement Aggregation (bank statements)
    trans_agg: bool = False


class CertifiedInstitutions(FinicityModel):
    found: int = 0
    displaying: int = 0
    more_available: bool = False
    institutions: list[CertifiedInstitution] = Field(default_factory=list)
