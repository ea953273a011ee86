"""What a stored webhook event changes, worked out without I/O, so that many events can be applied
together by one RPC (`ob_webhook_events_apply`: one transaction, a few set-based statements).

Webhooks are doorbells; the API is the truth. Connect events move the client's link status and
seed the institution login and accounts they carry, then ask for a `sync_customer`; OBWMS consent
reminders flag the login for re-consent. Every effect is idempotent (upserts, guarded updates,
enqueues with dedupe keys), so applying an event twice is harmless.

Replays: intake drops a delivery whose body eventId was stored before; what still arrives late or
replayed (after the dedupe window) is recorded but cannot undo newer state: the SQL applies an OBWMS
consent event only if it is not older than the newest one applied to its login (nor than the consent
in force), and a Connect `accountsDeleted` only to accounts no fetch has seen since the event (notes
say what was not applied).

Order independence: link status moves by *event time* (the eventId's epoch-ms prefix for Connect,
`eventTime` for OBWMS, else the time we received it); an event older than the status it would
replace is ignored and `pending` never undoes `linked` (the SQL applies that rule, per customer,
to all of a batch's changes at once). Accounts from an event are written with
fetched_at = min(event time, received time), so a later API sync always wins over webhook data.

Consent reminders and the Connect Fix link: requesting it from here would not be idempotent (a
retried event would ask twice), and it needs a request row. Instead, when the platform enables
OPEN_BANKING_REQUEST_FIX_LINKS, a `check_consent` job is enqueued for the login with
{"request_fix_link": true} (dedupe key `consent-fix:<login id>`); the consent flow owns the link.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from service.finicity.models import CustomerAccount
from service.sync.mapping import map_account
from service.webhooks.events import (
    CONNECT,
    CONNECT_ACCOUNT_TYPES,
    CONNECT_DELETED_TYPES,
    CONNECT_DONE_TYPES,
    CONNECT_FAILURE_TYPES,
    CONNECT_PENDING_TYPES,
    OBWMS,
    OBWMS_REAUTH_TYPES,
    OBWMS_SYNC_TYPES,
    as_id,
    connect_event_time,
    obwms_customer_id,
    obwms_login_id,
    parse_iso,
)

log = structlog.get_logger(__name__)

UTC = dt.UTC

# Aggregation status codes a CPA (and their client) can act on, in plain words.
AGGREGATION_REASONS: dict[int, str] = {
    102: "The bank's website could not be reached. Please try again later.",
    103: "The bank did not accept the sign-in details. The client needs to reconnect with their current "
         "username and password.",
    108: "The bank needs the client to take an action on its website (for example accept new terms or "
         "read a message) before the connection can work.",
    109: "The bank requires the client to update their password on its website before reconnecting.",
    169: "This account is already connected.",
    185: "The bank asked for an extra security step (a code or security question) that was not completed.",
    187: "The answer to the bank's security question was not accepted.",
    945: "The bank moved to a new secure sign-in; the client needs to reconnect and grant access.",
    946: "The account could not be found at the bank; it may have been closed.",
    947: "Access to the bank has expired; the client needs to reconnect and grant access again.",
    948: "The bank moved to a new secure sign-in; the client needs to reconnect and grant access.",
    913: "The account at the bank has been closed.",
    914: "This bank is no longer available for data connections.",
}
_MAINTENANCE = "The bank is temporarily unavailable (maintenance or an outage). Please try again later."
_NOT_SUPPORTED = "This bank does not support data connections for this kind of account."
EVENT_REASONS: dict[str, str] = {
    "institutionNotSupported": "This bank is not supported for data connections.",
    "institutionNotFound": "The client's bank could not be found.",
    "invalidCredentials": AGGREGATION_REASONS[103],
    "unableToConnect": "The bank connection could not be completed.",
}
_CONNECT_HANDLED = (CONNECT_PENDING_TYPES | CONNECT_ACCOUNT_TYPES | CONNECT_DONE_TYPES | CONNECT_DELETED_TYPES
                    | CONNECT_FAILURE_TYPES)


def readable_reason(code: int | None, event_type: str) -> str:
    if code is not None:
        if code in AGGREGATION_REASONS:
            return AGGREGATION_REASONS[code]
        if 900 <= code <= 907 or code in (910, 915, 916, 931, 936):
            return _MAINTENANCE
        if 920 <= code <= 929:
            return _NOT_SUPPORTED
        return f"The bank connection could not be completed (code {code})."
    return EVENT_REASONS.get(event_type, "The bank connection could not be completed.")


@dataclass
class Effects:
    """The effects of a batch of events, in the shape `ob_webhook_events_apply` takes."""

    settings_request_fix_links: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    logins: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    reauth: list[dict[str, Any]] = field(default_factory=list)
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[int, BaseException]] = field(default_factory=list)  # jobs whose planning raised

    def as_arg(self) -> dict[str, Any]:
        return {"events": self.events, "jobs": self.jobs, "statuses": self.statuses, "logins": self.logins,
                "accounts": self.accounts, "deletes": self.deletes, "reauth": self.reauth,
                "enqueue": self.enqueue}

    def add(self, event: dict[str, Any], customer_known: bool) -> str | None:
        """Record one stored event's effects (and its processed mark); returns its note, if any."""
        ord_ = len(self.events)
        source = event.get("source")
        if source == CONNECT:
            note = self._connect(event, customer_known, ord_)
        elif source == OBWMS:
            note = self._obwms(event, customer_known)
        else:
            note = f"unknown source {source!r}"
        self.events.append({"id": event["id"], "note": note})
        return note

    # ---- Connect ---------------------------------------------------------------------------------

    def _status(self, customer: str, status: str, at: dt.datetime, ord_: int,
                code: str | None = None, message: str | None = None) -> None:
        self.statuses.append({"customer": customer, "status": status, "at": at, "code": code,
                              "message": message, "ord": ord_})

    def _sync(self, customer: str, reason: str) -> None:
        self.enqueue.append({"kind": "sync_customer", "payload": {"finicity_customer_id": customer, "reason": reason},
                             "dedupe_key": f"sync:{customer}"})

    def _connect(self, event: dict[str, Any], customer_known: bool, ord_: int) -> str | None:
        envelope = _obj(event.get("payload"))
        inner = _obj(envelope.get("payload"))
        event_type = event.get("event_type")
        received_at = _timestamp(event.get("received_at"))
        event_at = connect_event_time(envelope.get("eventId")) or received_at
        if event_type not in _CONNECT_HANDLED:
            log.info("webhook.process.unknown_type", event_type=event_type, event_id=event.get("id"))
            return None
        customer = as_id(event.get("finicity_customer_id"))
        if not customer:
            return "event has no customerId"
        if not customer_known:
            return f"unknown Finicity customer {customer}"
        if event_type in CONNECT_PENDING_TYPES:
            self._status(customer, "pending", event_at, ord_)
        elif event_type in CONNECT_DONE_TYPES:
            self._status(customer, "linked", event_at, ord_)
            # Also a doorbell for the data: if `added` was lost, this sync still fetches the accounts
            # (same dedupe key, so with `added` it is one sync, not two).
            self._sync(customer, "done")
        elif event_type in CONNECT_FAILURE_TYPES:
            code = _int_code(inner.get("code"))
            self._status(customer, "error", event_at, ord_, str(code) if code is not None else event_type,
                         readable_reason(code, event_type))
        elif event_type in CONNECT_DELETED_TYPES:
            return self._accounts_deleted(event["id"], customer, inner, event_at)
        else:
            return self._accounts_added(customer, inner, event_type, event_at, min(event_at, received_at), ord_)
        return None

    def _accounts_added(self, customer: str, inner: dict[str, Any], event_type: str, event_at: dt.datetime,
                        fetched_at: dt.datetime, ord_: int) -> str | None:
        accounts: list[CustomerAccount] = []
        rejected = 0
        for raw in _list(inner.get("accounts")):
            try:
                account = CustomerAccount.model_validate(raw)
            except ValidationError:
                rejected += 1
                continue
            if account.finicity_customer_id is not None and account.finicity_customer_id != customer:
                rejected += 1  # another customer's account has no business in this event
                continue
            accounts.append(account)
        institution_id = as_id(inner.get("institutionId"))
        oauth = inner.get("oauth") is True
        login_ids = list(dict.fromkeys(a.institution_login_id for a in accounts))
        for login_id in login_ids:
            first = next(a for a in accounts if a.institution_login_id == login_id)
            self.logins.append({"customer": customer, "id": login_id, "oauth": oauth,
                                "institution_id": institution_id or first.institution_id})
        for account in accounts:
            self.accounts.append({**map_account(account), "customer": customer, "fetched_at": fetched_at,
                                  "ord": ord_})
        self._status(customer, "pending", event_at, ord_)
        self._sync(customer, f"webhook:{event_type}")
        if oauth:
            # The consent window of a new (or just re-consented) OAuth login: known now, not tomorrow.
            for login_id in login_ids:
                self.enqueue.append({"kind": "check_consent",
                                     "payload": {"institution_login_id": login_id, "finicity_customer_id": customer},
                                     "dedupe_key": f"consent:{login_id}"})
        if rejected:
            return f"{rejected} account(s) in the event did not match the spec and were skipped"
        return None

    def _accounts_deleted(self, event_id: int, customer: str, inner: dict[str, Any],
                          event_at: dt.datetime) -> str | None:
        ids = []
        for item in _list(inner.get("accounts")):
            account_id = as_id(item.get("id") if isinstance(item, dict) else item)
            if account_id:
                ids.append(account_id)
        if not ids:
            return "accountsDeleted without account ids"
        # Replay rule (in SQL): an account some fetch saw after the event's time is kept, and noted.
        self.deletes.extend({"event": event_id, "customer": customer, "id": account_id, "at": event_at}
                            for account_id in ids)
        return None

    # ---- OBWMS -----------------------------------------------------------------------------------

    def _obwms(self, event: dict[str, Any], customer_known: bool) -> str | None:
        body = _obj(event.get("payload"))
        event_type = event.get("event_type")
        if event_type in OBWMS_REAUTH_TYPES:
            login_id = obwms_login_id(body)
            if login_id is None:
                return "consent reminder without institutionLoginId"
            # Replay rule (in SQL): applied only if not older than the newest event applied to this login
            # nor than the consent now in force. An unknown login, or one the event does not apply to,
            # is noted by the SQL and asks for nothing.
            event_at = parse_iso(body.get("eventTime")) or _timestamp(event.get("received_at"))
            self.reauth.append({"event": event["id"], "login": login_id, "at": event_at,
                                "message": _reauth_message(event_type, _obj(body.get("data")))})
            if self.settings_request_fix_links:
                customer = as_id(event.get("finicity_customer_id")) or obwms_customer_id(body)
                self.enqueue.append({
                    "kind": "check_consent",
                    "payload": {"institution_login_id": login_id, "finicity_customer_id": customer,
                                "request_fix_link": True, "reason": event_type},
                    "dedupe_key": f"consent-fix:{login_id}", "event": event["id"],
                })
            return None
        if event_type in OBWMS_SYNC_TYPES:
            customer = as_id(event.get("finicity_customer_id"))
            if not customer:
                return "event has no customerId"
            if not customer_known:
                return f"unknown Finicity customer {customer}"
            refresh_id = as_id(_obj(body.get("data")).get("refreshId"))
            if refresh_id:
                # A refresh's status changed: one immediate status check (service/sync/refresh.py), which
                # settles a refresh this service started and syncs for any other.
                self.enqueue.append({
                    "kind": "follow_refresh",
                    "payload": {"refresh_id": refresh_id, "finicity_customer_id": customer, "from_event": True},
                    "dedupe_key": f"refresh-event:{refresh_id}", "event": event["id"],
                })
                return None
            self._sync(customer, f"obwms:{event_type}")
            return None
        log.info("webhook.process.unknown_type", event_type=event_type, event_id=event.get("id"))
        return None


def _reauth_message(event_type: str, data: dict[str, Any]) -> str:
    if event_type == "authorization.accesstoken.expiry":
        return "Access to the bank has expired; the client needs to renew their consent."
    end = parse_iso(data.get("authorizationEndDate"))
    if end is not None:
        return f"The client's consent to share bank data ends on {end:%Y-%m-%d}; they need to renew it."
    days = _int_code(data.get("daysUntilExpiration"))
    if days is not None:
        return f"The client's consent to share bank data ends in {days} day(s); they need to renew it."
    return "The client's consent to share bank data is about to end; they need to renew it."


def _int_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_iso(value) or dt.datetime.now(UTC)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
