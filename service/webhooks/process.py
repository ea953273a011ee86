"""The `process_webhook_event` job: act on one stored webhook event, then mark it processed.

Webhooks are doorbells; the API is the truth. Connect events move the client's link status and
seed the institution login and accounts they carry, then ask for a `sync_customer`; OBWMS consent
reminders flag the login for re-consent. Every write is one RPC, and each is idempotent, so a
re-run (crashed worker, duplicate job) is harmless.

Replays: intake drops a delivery whose body eventId was stored before; what still arrives late or
replayed (after the dedupe window) is recorded but cannot undo newer state: the SQL applies an OBWMS
consent event only if it is not older than the newest one applied to its login (nor than the consent
in force), and a Connect `accountsDeleted` only to accounts no fetch has seen since the event.

Order independence: link status moves by *event time* (the eventId's epoch-ms prefix for Connect,
`eventTime` for OBWMS, else the time we received it), and `ob_customer_set_link_status` ignores an
event older than the status it would replace and never lets `pending` undo `linked`. So `done`
before `added`, or a late `adding`, ends Linked as in order. Accounts from an event are written with
fetched_at = min(event time, received time), so a later API sync always wins over webhook data.

Outcomes: the event is marked processed (with a note for events we cannot act on: unknown customer,
no login id, a payload that does not match the spec). A database outage propagates, so the job is
retried and the event stays unprocessed until then.

Consent reminders and Connect Fix links: a Fix link is a request row (kind `fix`) that the
`deliver_link` job generates and stores as `ready` for the platform to deliver; Mastercard has no
email endpoint for it. Making it here would not be idempotent across retries, so when the platform
enables OPEN_BANKING_REQUEST_FIX_LINKS a `check_consent` job is enqueued for the login with
{"request_fix_link": true} (dedupe key `consent-fix:<login id>`); the consent flow owns the request
(`ob_request_fix_link` keeps at most one open per login).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError

from service.db.port import DatabaseUnavailable, RpcError
from service.finicity.models import CustomerAccount
from service.jobs.types import Job, PermanentJobError
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

if TYPE_CHECKING:
    from service.runtime import Services

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


class _Skip(Exception):
    """Nothing to do for this event; the note is recorded on it."""


async def process_webhook_event(services: Services, job: Job) -> None:
    event_id = job.payload.get("event_id")
    if isinstance(event_id, bool) or not isinstance(event_id, int | str) or not str(event_id).isdigit():
        raise PermanentJobError(f"process_webhook_event needs an integer event_id, got {event_id!r}")
    event_id = int(event_id)
    rpc = services.rpc
    event = await rpc.call("ob_webhook_event_get", {"p_event_id": event_id})
    if event is None:
        log.warning("webhook.process.missing", event_id=event_id)
        return
    if event.get("processed_at") is not None:
        log.info("webhook.process.already_done", event_id=event_id)
        return
    bound = log.bind(event_id=event_id, source=event.get("source"), event_type=event.get("event_type"),
                     finicity_customer_id=event.get("finicity_customer_id"))
    note: str | None
    try:
        if event.get("source") == CONNECT:
            note = await _process_connect(services, event)
        elif event.get("source") == OBWMS:
            note = await _process_obwms(services, event)
        else:
            note = f"unknown source {event.get('source')!r}"
    except _Skip as skip:
        note = str(skip)
    except DatabaseUnavailable:
        raise  # retried later; the event stays unprocessed until then
    except RpcError as exc:
        note = f"{exc.function}: {exc.message}"
        bound.error("webhook.process.rpc_error", sqlstate=exc.code, error=exc.message)
    if note:
        bound.warning("webhook.process.noted", note=note)
    else:
        bound.info("webhook.process.done")
    await rpc.call("ob_webhook_event_processed", {"p_event_id": event_id, "p_error": note})


# ---- Connect -------------------------------------------------------------------------------------

async def _known_customer(services: Services, finicity_customer_id: str | None) -> str:
    if not finicity_customer_id:
        raise _Skip("event has no customerId")
    customer = await services.rpc.call("ob_customer_get", {"p_finicity_customer_id": finicity_customer_id})
    if customer is None:
        raise _Skip(f"unknown Finicity customer {finicity_customer_id}")
    return finicity_customer_id


async def _set_status(services: Services, finicity_customer_id: str, status: str, at: dt.datetime,
                      code: str | None = None, message: str | None = None) -> None:
    await services.rpc.call("ob_customer_set_link_status", {
        "p_finicity_customer_id": finicity_customer_id, "p_status": status, "p_event_at": at,
        "p_error_code": code, "p_error_message": message,
    })


async def _enqueue_sync(services: Services, finicity_customer_id: str, reason: str) -> None:
    await services.rpc.call("ob_job_enqueue", {
        "p_kind": "sync_customer",
        "p_payload": {"finicity_customer_id": finicity_customer_id, "reason": reason},
        "p_dedupe_key": f"sync:{finicity_customer_id}",
    })


async def _process_connect(services: Services, event: dict[str, Any]) -> str | None:
    envelope = _obj(event.get("payload"))
    inner = _obj(envelope.get("payload"))
    event_type = event.get("event_type")
    received_at = _timestamp(event.get("received_at"))
    event_at = connect_event_time(envelope.get("eventId")) or received_at

    handled = (CONNECT_PENDING_TYPES | CONNECT_ACCOUNT_TYPES | CONNECT_DONE_TYPES | CONNECT_DELETED_TYPES
               | CONNECT_FAILURE_TYPES)
    if event_type not in handled:
        log.info("webhook.process.unknown_type", event_type=event_type, event_id=event.get("id"))
        return None
    finicity_customer_id = await _known_customer(services, as_id(event.get("finicity_customer_id")))

    if event_type in CONNECT_PENDING_TYPES:
        await _set_status(services, finicity_customer_id, "pending", event_at)
        return None
    if event_type in CONNECT_DONE_TYPES:
        await _set_status(services, finicity_customer_id, "linked", event_at)
        # Also a doorbell for the data: if `added` was lost, this sync still fetches the accounts
        # (same dedupe key, so with `added` it is one sync, not two).
        await _enqueue_sync(services, finicity_customer_id, "done")
        return None
    if event_type in CONNECT_FAILURE_TYPES:
        code = _int_code(inner.get("code"))
        await _set_status(services, finicity_customer_id, "error", event_at,
                          str(code) if code is not None else event_type, readable_reason(code, event_type))
        return None
    if event_type in CONNECT_DELETED_TYPES:
        return await _accounts_deleted(services, finicity_customer_id, inner, event_at)
    fetched_at = min(event_at, received_at)
    return await _accounts_added(services, finicity_customer_id, inner, event_type, event_at, fetched_at)


async def _accounts_added(services: Services, finicity_customer_id: str, inner: dict[str, Any], event_type: str,
                          event_at: dt.datetime, fetched_at: dt.datetime) -> str | None:
    raw_accounts = _list(inner.get("accounts"))
    accounts: list[CustomerAccount] = []
    rejected = 0
    for raw in raw_accounts:
        try:
            account = CustomerAccount.model_validate(raw)
        except ValidationError:
            rejected += 1
            continue
        if account.finicity_customer_id is not None and account.finicity_customer_id != finicity_customer_id:
            rejected += 1  # another customer's account has no business in this event
            continue
        accounts.append(account)

    institution_id = as_id(inner.get("institutionId"))
    oauth = inner.get("oauth") is True
    login_ids = list(dict.fromkeys(a.institution_login_id for a in accounts))
    for login_id in login_ids:
        first = next(a for a in accounts if a.institution_login_id == login_id)
        login: dict[str, Any] = {"id": login_id, "oauth": oauth,
                                 "institution_id": institution_id or first.institution_id}
        await services.rpc.call("ob_institution_login_upsert",
                                {"p_finicity_customer_id": finicity_customer_id, "p_login": login})
    if accounts:
        await services.rpc.call("ob_accounts_upsert", {
            "p_finicity_customer_id": finicity_customer_id, "p_accounts": [map_account(a) for a in accounts],
            "p_fetched_at": fetched_at,
        })
    await _set_status(services, finicity_customer_id, "pending", event_at)
    await _enqueue_sync(services, finicity_customer_id, f"webhook:{event_type}")
    if oauth:
        # The consent window of a new (or just re-consented) OAuth login: known now, not tomorrow.
        for login_id in login_ids:
            await services.rpc.call("ob_job_enqueue", {
                "p_kind": "check_consent",
                "p_payload": {"institution_login_id": login_id, "finicity_customer_id": finicity_customer_id},
                "p_dedupe_key": f"consent:{login_id}",
            })
    if rejected:
        return f"{rejected} account(s) in the event did not match the spec and were skipped"
    return None


async def _accounts_deleted(services: Services, finicity_customer_id: str, inner: dict[str, Any],
                           event_at: dt.datetime) -> str | None:
    raw = _list(inner.get("accounts"))
    ids = []
    for item in raw:
        value = item.get("id") if isinstance(item, dict) else item
        account_id = as_id(value)
        if account_id:
            ids.append(account_id)
    if not ids:
        return "accountsDeleted without account ids"
    # Replay rule (in SQL): an account some fetch saw after the event's time is kept.
    result = await services.rpc.call("ob_accounts_delete", {
        "p_finicity_customer_id": finicity_customer_id, "p_account_ids": ids, "p_event_at": event_at})
    kept = int(result.get("kept_newer") or 0)
    if kept:
        return f"{kept} account(s) seen after this event were kept (a replayed or late accountsDeleted)"
    return None


# ---- OBWMS ---------------------------------------------------------------------------------------

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


async def _process_obwms(services: Services, event: dict[str, Any]) -> str | None:
    body = _obj(event.get("payload"))
    event_type = event.get("event_type")
    data = _obj(body.get("data"))
    if event_type in OBWMS_REAUTH_TYPES:
        login_id = obwms_login_id(body)
        if login_id is None:
            return "consent reminder without institutionLoginId"
        # Replay rule (in SQL): applied only if not older than the newest event applied to this login
        # nor than the consent now in force.
        event_at = parse_iso(body.get("eventTime")) or _timestamp(event.get("received_at"))
        row = await services.rpc.call("ob_institution_login_flag_reauth", {
            "p_login_id": login_id, "p_needs_reauth": True, "p_message": _reauth_message(event_type, data),
            "p_event_at": event_at})
        if row is None:
            return f"unknown institution login {login_id}"
        if not row.get("applied", True):
            return ("recorded, not applied: older than the newest event applied to this login "
                    "(or its consent was renewed since)")
        if services.settings.open_banking_request_fix_links:
            finicity_customer_id = as_id(event.get("finicity_customer_id")) or obwms_customer_id(body)
            await services.rpc.call("ob_job_enqueue", {
                "p_kind": "check_consent",
                "p_payload": {"institution_login_id": login_id, "finicity_customer_id": finicity_customer_id,
                              "request_fix_link": True, "reason": event_type},
                "p_dedupe_key": f"consent-fix:{login_id}",
            })
        return None
    if event_type in OBWMS_SYNC_TYPES:
        finicity_customer_id = await _known_customer(services, as_id(event.get("finicity_customer_id")))
        await _enqueue_sync(services, finicity_customer_id, f"obwms:{event_type}")
        return None
    log.info("webhook.process.unknown_type", event_type=event_type, event_id=event.get("id"))
    return None
