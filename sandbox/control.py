"""Control API under /_sandbox/ (see sandbox/README.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath

from sandbox import refresh as engine
from sandbox.data import DEFAULT_PROFILE, advance_bank, connect_customer
from sandbox.errors import ApiError, json_response
from sandbox.faults import parse_fault
from sandbox.refresh import hold_until_refresh, open_login_history, snapshot
from sandbox.routes.common import account_json, read_json
from sandbox.signing import public_key_pem
from sandbox.state import Customer, SandboxState
from sandbox.validation import Violations
from sandbox.webhooks import Deliverer


def _err(status: int, message: str) -> ApiError:
    return ApiError(status, {"error": message})


def _ctx(request: Request) -> tuple[SandboxState, Deliverer]:
    return request.app.state.sandbox, request.app.state.deliverer


def _customer(state: SandboxState, body: dict) -> Customer:
    customer = state.customers.get(str(body.get("customerId", "")))
    if customer is None:
        raise _err(404, f"unknown customerId {body.get('customerId')!r}")
    return customer


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@get("/_sandbox/health")
async def health() -> Response:
    return json_response({"status": "ok"})


@post("/_sandbox/connect/complete")
async def connect_complete(request: Request) -> Response:
    state, deliverer = _ctx(request)
    body = await read_json(request)
    customer = _customer(state, body)
    link = customer.latest_link
    if link is None:
        raise _err(409, "no Connect link was generated for this customer")
    if state.clock.now() * 1000 > link.ttl_ms:
        raise _err(409, "the latest Connect link has expired (ttl passed on the sandbox clock)")
    if link.single_use and link.used:
        raise _err(409, "the latest Connect link was single-use and has been used")
    profile = {**DEFAULT_PROFILE, **(body.get("profile") or {})}
    outcome = body.get("outcome", "success")
    if outcome not in ("success", "unableToConnect"):
        raise _err(400, "outcome must be success or unableToConnect")
    inst = str(profile["institutionId"])
    oauth = bool(profile["oauth"])
    link.used = True
    events: list[tuple[str, dict]] = [("started", {}), ("institutionSupported", {"institutionId": inst})]
    adding = {"institutionId": inst, "oauth": True} if oauth else {"institutionId": inst}
    events.append(("adding", adding))
    login_id, accounts, tx_count = None, [], 0
    if outcome == "unableToConnect":
        events.append(("unableToConnect", {"institutionId": inst, "code": int(body.get("code", 103))}))
    else:
        if link.kind == "fix" and link.institution_login_id:
            login = customer.logins[int(link.institution_login_id)]
            now = state.clock.now_int()
            login.consent_start, login.consent_end = now, now + int(profile["consentDays"]) * 86_400
            accounts = [a for a in customer.accounts.values() if a.login_id == login.id]
            inst, oauth = login.institution_id, login.oauth
        else:
            login, accounts = connect_customer(state, customer, profile)
            open_login_history(login, accounts, profile)
        login_id = login.id
        customer.index(None, False)  # warm the customer-wide page index
        tx_count = sum(len(a.txs) for a in accounts)
        acct_json = [account_json(state, a) for a in accounts]
        events.append(("processing", {"institutionId": inst}))
        if not oauth:
            events.append(("discovered", {"institutionId": inst, "accounts": acct_json}))
        added: dict[str, Any] = {"institutionId": inst, "accounts": acct_json}
        if oauth:
            added["oauth"] = True
        events.append(("added", added))
        events.append(("done", {"institutionId": inst}))
    result: dict[str, Any] = {
        "customerId": customer.id,
        "institutionLoginId": login_id,
        "accounts": [a.id for a in accounts],
        "transactions": tx_count,
        "events": [e for e, _ in events],
        "webhook": link.webhook,
        "deliveries": [],
    }
    if link.webhook:
        items = [
            deliverer.connect_item(link.webhook, customer.id, e, p, link, i)
            for i, (e, p) in enumerate(events)
        ]
        if body.get("wait", True):
            result["deliveries"] = await deliverer.send_batch("connect", items)
        else:
            state.spawn(deliverer.send_batch("connect", items))
    return json_response(result)


@post("/_sandbox/obwms/send")
async def obwms_send(request: Request) -> Response:
    state, deliverer = _ctx(request)
    body = await read_json(request)
    event = body.get("event")
    if not isinstance(event, str) or not event:
        raise _err(400, "event is required")
    data = body.get("data")
    login_id = body.get("institutionLoginId")
    login = state.logins.get(int(login_id)) if login_id and str(login_id).isdigit() else None
    if data is None and login is not None:
        now = state.clock.now_int()
        data = {
            "institutionId": login.institution_id,
            "authorizationStartDate": _iso(login.consent_start),
            "authorizationEndDate": _iso(login.consent_end),
            "daysUntilExpiration": max(0, (login.consent_end - now) // 86_400),
        }
    body_obj: dict = {"eventId": str(uuid.uuid4()), "eventType": event, "eventTime": _iso(state.clock.now())}
    if body.get("customerId") is not None:
        body_obj["customerId"] = str(body["customerId"])
    if login_id is not None:
        body_obj["institutionLoginId"] = int(login_id)
    body_obj["data"] = data or {}
    items = deliverer.obwms_items(body_obj, request.app.state.key)
    result = {
        "eventId": body_obj["eventId"],
        "body": body_obj,
        "targets": [i[0] for i in items],
        "deliveries": [],
    }
    if body.get("wait", True):
        result["deliveries"] = await deliverer.send_batch("obwms", items)
    else:
        state.spawn(deliverer.send_batch("obwms", items))
    return json_response(result)


@get("/_sandbox/webhook-public-key", media_type="text/plain")
async def webhook_public_key(request: Request) -> Response:
    return Response(content=public_key_pem(request.app.state.key), media_type="text/plain")


@get("/_sandbox/webhooks/deliveries")
async def list_deliveries(request: Request) -> Response:
    return json_response({"deliveries": request.app.state.sandbox.deliveries})


@delete("/_sandbox/webhooks/deliveries", status_code=204)
async def clear_deliveries(request: Request) -> None:
    request.app.state.sandbox.deliveries.clear()


@get("/_sandbox/outbox")
async def outbox(request: Request) -> Response:
    return json_response({"emails": request.app.state.sandbox.outbox})


# ---- bulk set-up for load tests -----------------------------------------------------------------

BULK_MAX = 100_000


def _count(body: dict, key: str, default: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise _err(400, f"{key} must be an integer from 0 to {high}")
    return value


@post("/_sandbox/bulk/customers")
async def bulk_customers(request: Request) -> Response:
    """Many testing customers at once, each already linked (a login, accounts and their history as
    /connect/complete makes them, the profile's historyLoaded and historicLoad included), without links or
    webhooks: the set-up of a daily-sync load test. Body: {"count": N, "usernamePrefix": "bulk",
    "profile": {...}}. Answers each customer's id, username, login and account ids and transaction count
    (the rows the API serves now)."""
    state = request.app.state.sandbox
    body = await read_json(request)
    count = _count(body, "count", 1, BULK_MAX)
    prefix = body.get("usernamePrefix", "bulk")
    if not isinstance(prefix, str) or not prefix.isalnum() or len(prefix) > 40:
        raise _err(400, "usernamePrefix must be letters and digits, at most 40")
    profile = {**DEFAULT_PROFILE, **(body.get("profile") or {})}
    taken = {c.username for c in state.customers.values()}
    out = []
    for _ in range(count):
        customer = Customer(id=state.new_customer_id(), username="", type="testing", created=state.clock.now_int())
        customer.username = f"{prefix}{customer.id}"
        if customer.username in taken:
            raise _err(409, f"username {customer.username} is taken")
        state.customers[customer.id] = customer
        login, accounts = connect_customer(state, customer, profile)
        open_login_history(login, accounts, profile)
        out.append({"customerId": customer.id, "username": customer.username, "institutionLoginId": login.id,
                    "accounts": [a.id for a in accounts], "transactions": sum(_served(a) for a in accounts)})
    return json_response({"customers": out})


def _served(acct) -> int:
    return sum(1 for t in acct.txs.values() if t.effective_date >= acct.history_floor)


@post("/_sandbox/bulk/advance")
async def bulk_advance(request: Request) -> Response:
    """/bank/advance for many customers: {"customerIds": [...], "days", "newPerAccount", "seed"}.
    Answers how many transactions were created and posted in all."""
    state = request.app.state.sandbox
    body = await read_json(request)
    ids = body.get("customerIds")
    if not isinstance(ids, list) or len(ids) > BULK_MAX:
        raise _err(400, f"customerIds must be a list of at most {BULK_MAX} ids")
    customers = [_customer(state, {"customerId": cid}) for cid in ids]
    days = _count(body, "days", 1, 3650)
    new_per_account = _count(body, "newPerAccount", 1, 1000)
    created = posted = 0
    for customer in customers:
        done = advance_bank(state, customer, days=days, new_per_account=new_per_account, seed=body.get("seed"))
        created += len(done["created"])
        posted += len(done["posted"])
    return json_response({"customers": len(customers), "created": created, "posted": posted})


def _clock_json(state: SandboxState) -> dict:
    now = state.clock.now()
    return {"now": int(now), "nowIso": _iso(now), "offsetSeconds": state.clock.offset}


@get("/_sandbox/clock")
async def get_clock(request: Request) -> Response:
    return json_response(_clock_json(request.app.state.sandbox))


@post("/_sandbox/clock")
async def move_clock(request: Request) -> Response:
    state = request.app.state.sandbox
    body = await read_json(request)
    try:
        seconds = float(body.get("advanceSeconds", 0))
    except (TypeError, ValueError):
        raise _err(400, "advanceSeconds must be a number") from None
    state.clock.offset += seconds
    return json_response(_clock_json(state))


def _hold_days(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        low, high = (float(x) for x in value)
    except (TypeError, ValueError):
        raise _err(400, "holdDays must be [low, high] in days") from None
    if not 0 <= low <= high:
        raise _err(400, "holdDays must be [low, high] with 0 <= low <= high")
    return low, high


@post("/_sandbox/bank/advance")
async def bank_advance(request: Request) -> Response:
    state = request.app.state.sandbox
    body = await read_json(request)
    customer = _customer(state, body)
    before = snapshot(customer)
    out = advance_bank(
        state,
        customer,
        days=int(body.get("days", 3)),
        new_per_account=int(body.get("newPerAccount", 5)),
        post_pending=bool(body.get("postPending", True)),
        shadow=int(body.get("shadow", 0)),
        seed=body.get("seed"),
        hold_days=_hold_days(body.get("holdDays")),
    )
    if body.get("untilRefresh"):
        # The bank has them; Mastercard serves them after a standard refresh (refreshTransactions).
        out["heldUntilRefresh"] = hold_until_refresh(customer, before, out["created"], out["posted"])
    return json_response(out)


@get("/_sandbox/refreshes")
async def list_refreshes(request: Request) -> Response:
    state = request.app.state.sandbox
    return json_response(
        {"refreshes": [engine.initiated_json(r) | {"status": r.status} for r in state.refreshes.values()]}
    )


@post("/_sandbox/refreshes/{refresh_id:str}")
async def settle_refresh(request: Request, refresh_id: FromPath[str]) -> Response:
    """End a refresh now: `{"status": "COMPLETED" | "FAILED"}` (for logins whose historicLoad is manual)."""
    state = request.app.state.sandbox
    refresh = state.refreshes.get(refresh_id)
    if refresh is None:
        raise _err(404, f"unknown refresh {refresh_id}")
    status = (await read_json(request)).get("status")
    if status not in engine.FINAL:
        raise _err(400, "status must be COMPLETED or FAILED")
    if refresh.status in engine.FINAL:
        raise _err(409, f"refresh already {refresh.status}")
    engine.finish(state, refresh, status)
    items = request.app.state.deliverer.obwms_items(engine.event_body(state, refresh), request.app.state.key)
    deliveries = await request.app.state.deliverer.send_batch("obwms", items) if items else []
    return json_response({"refresh": engine.status_json(state, refresh), "deliveries": deliveries})


@post("/_sandbox/faults")
async def add_fault(request: Request) -> Response:
    state = request.app.state.sandbox
    try:
        fault = parse_fault(await read_json(request), len(state.faults) + 1)
    except (TypeError, ValueError) as exc:
        raise _err(400, str(exc)) from None
    state.faults.append(fault)
    return json_response(fault.as_json(), 201)


@get("/_sandbox/faults")
async def list_faults(request: Request) -> Response:
    return json_response({"faults": [f.as_json() for f in request.app.state.sandbox.faults]})


@delete("/_sandbox/faults", status_code=204)
async def clear_faults(request: Request) -> None:
    request.app.state.sandbox.faults.clear()


@get("/_sandbox/stats")
async def stats(request: Request) -> Response:
    state = request.app.state.sandbox
    violations = state.violations.as_json()
    return json_response(
        {**state.stats.as_json(), "requestViolations": {k: violations[k] for k in ("total", "byOperation")}}
    )


@get("/_sandbox/violations")
async def violations(request: Request) -> Response:
    """Requests the official spec calls invalid: `{total, byOperation: {opId: n}, recent: [...]}`."""
    return json_response(request.app.state.sandbox.violations.as_json())


@delete("/_sandbox/violations", status_code=204)
async def clear_violations(request: Request) -> None:
    request.app.state.sandbox.violations = Violations()


@post("/_sandbox/reset")
async def reset(request: Request) -> Response:
    request.app.state.sandbox.reset()
    return json_response({"status": "reset"})


def _live(acct) -> list:
    return [t for t in acct.txs.values() if t.status != "shadow" and t.effective_date >= acct.history_floor]


@get("/_sandbox/customers/{customer_id:str}")
async def inspect_customer(request: Request, customer_id: FromPath[str]) -> Response:
    state = request.app.state.sandbox
    customer = _customer(state, {"customerId": customer_id})
    link = customer.latest_link
    return json_response(
        {
            "id": customer.id,
            "username": customer.username,
            "type": customer.type,
            "latestLink": None
            if link is None
            else {
                "kind": link.kind,
                "link": link.url,
                "timestamp": link.timestamp_ms,
                "ttl": link.ttl_ms,
                "webhook": link.webhook,
                "webhookData": link.webhook_data,
                "webhookHeaders": link.webhook_headers,
                "redirectUri": link.redirect_uri,
                "consumerId": link.consumer_id,
                "singleUseUrl": link.single_use,
                "institutionLoginId": link.institution_login_id,
                "used": link.used,
            },
            "consumerId": customer.consumer.id if customer.consumer else None,
            "institutionLogins": [
                {
                    "id": lg.id,
                    "institutionId": lg.institution_id,
                    "oauth": lg.oauth,
                    "consentStart": lg.consent_start,
                    "consentEnd": lg.consent_end,
                    "historyComplete": lg.history_complete,
                    "historicLoad": lg.historic_load,
                }
                for lg in customer.logins.values()
            ],
            "accounts": [
                {
                    "id": a.id,
                    "fullNumber": a.number,
                    "maskedNumber": "x" * (len(a.number) - 4) + a.number[-4:],
                    "type": a.type,
                    "institutionLoginId": a.login_id,
                    "transactions": len(a.txs),
                    # What a faithful copy holds: every row the API serves now (the history window) but
                    # the bank's temporary shadow copies.
                    "historyFloor": a.history_floor,
                    "liveTransactionIds": sorted(t.id for t in _live(a)),
                    "liveAmountTotal": str(sum((Decimal(repr(t.amount)) for t in _live(a)), Decimal(0))),
                    "oldestLiveDate": min((t.effective_date for t in _live(a)), default=None),
                }
                for a in customer.accounts.values()
            ],
        }
    )


HANDLERS = [
    health,
    bulk_customers,
    bulk_advance,
    connect_complete,
    obwms_send,
    webhook_public_key,
    list_deliveries,
    clear_deliveries,
    outbox,
    get_clock,
    move_clock,
    bank_advance,
    list_refreshes,
    settle_refresh,
    add_fault,
    list_faults,
    clear_faults,
    stats,
    violations,
    clear_violations,
    reset,
    inspect_customer,
]
