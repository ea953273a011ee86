"""History windows and asynchronous refreshes, as Mastercard documents them.

- A new institution login serves only the 180 days before each account was added ("Standard consumer
  aggregation provides up to 180 days of transactions prior to the date each account was added") until
  a historic load for it completes.
- `refreshTransactions` is asynchronous: NEW, then IN_PROGRESS, then COMPLETED or FAILED after a
  configurable delay, each change announced by the OBWMS event `data-refresh.transaction.status-changed`
  to subscribers. A historic load lifts the 180-day floor (or fails, per the login's `historic_load`:
  complete | failed | manual, where manual waits for POST /_sandbox/refreshes/{id}); a standard refresh
  publishes the bank's transactions Mastercard had not aggregated yet.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.state import Account, Customer, Login, Refresh, SandboxState

DAY = 86_400
STANDARD_HISTORY = 180 * DAY
STATUS_EVENT = "data-refresh.transaction.status-changed"
FINAL = ("COMPLETED", "FAILED")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def open_login_history(login: Login, accounts: list[Account], profile: dict[str, Any]) -> None:
    """A new login: 180 days per account unless the profile says its history is already loaded."""
    login.historic_load = str(profile.get("historicLoad", "complete"))
    login.history_complete = bool(profile.get("historyLoaded", False))
    for acct in accounts:
        acct.history_floor = 0 if login.history_complete else acct.created - STANDARD_HISTORY


def snapshot(customer: Customer) -> dict[str, set[int]]:
    return {acct.id: set(acct.txs) for acct in customer.accounts.values()}


def hold_until_refresh(customer: Customer, before: dict[str, set[int]], created: list[int], posted: list[int]) -> int:
    """Move the rows a bank/advance created out of view until a standard refresh aggregates them.

    Ids are unique per account only, so a row is held when it is new in its account and its id is among
    the created ones and not among the posted ones (an id both lists share stays visible).
    """
    wanted = set(created) - set(posted)
    held = 0
    for acct in customer.accounts.values():
        for tx_id in [t for t in acct.txs if t in wanted and t not in before.get(acct.id, set())]:
            customer.unrefreshed.setdefault(acct.id, []).append(acct.txs[tx_id])
            acct.drop(tx_id)
            held += 1
    customer.touch()
    return held


def new_refresh(
    state: SandboxState, customer: Customer, login_id: int | None, account_ids: list[str], body: dict
) -> Refresh:
    refresh = Refresh(
        id=str(uuid.uuid4()),
        customer_id=customer.id,
        login_id=login_id,
        account_ids=account_ids,
        mode=body.get("mode") or "standard",
        created_iso=iso(state.clock.now()),
        from_date=body.get("fromDate"),
        to_date=body.get("toDate"),
    )
    state.refreshes[refresh.id] = refresh
    return refresh


def initiated_json(refresh: Refresh) -> dict[str, Any]:
    out: dict[str, Any] = {"refreshId": refresh.id, "customerId": refresh.customer_id}
    if refresh.login_id is not None:
        out["institutionLoginId"] = str(refresh.login_id)
    out |= {"accountIds": refresh.account_ids, "mode": refresh.mode}
    if refresh.from_date:
        out["fromDate"] = refresh.from_date
    if refresh.to_date:
        out["toDate"] = refresh.to_date
    return out | {"status": refresh.status, "createdAt": refresh.created_iso}


def status_json(state: SandboxState, refresh: Refresh) -> dict[str, Any]:
    customer = state.customers.get(refresh.customer_id)
    accounts = []
    for account_id in refresh.account_ids:
        acct = customer.accounts.get(account_id) if customer else None
        if acct is None:
            continue
        item: dict[str, Any] = {
            "accountId": acct.id,
            "institutionLoginId": str(acct.login_id),
            "institutionId": acct.institution_id,
        }
        if refresh.status == "FAILED":
            item |= {"code": 325, "message": "The historic load could not be completed by the institution."}
        else:
            item |= {"aggregationStatusCode": 0, "aggregationSuccessDate": iso(acct.last_success)}
        accounts.append(item)
    failed = len(accounts) if refresh.status == "FAILED" else 0
    return {
        "refreshId": refresh.id,
        "customerId": refresh.customer_id,
        "accounts": accounts,
        "mode": refresh.mode,
        "status": refresh.status,
        "totalCount": len(accounts),
        "successCount": len(accounts) - failed if refresh.status == "COMPLETED" else 0,
        "failedCount": failed,
    }


def _outcome(state: SandboxState, refresh: Refresh) -> str | None:
    """The final status this refresh reaches on its own (None: it waits for the control API)."""
    if refresh.mode != "historic":
        return "COMPLETED"
    customer = state.customers.get(refresh.customer_id)
    logins = {a.login_id for a in customer.accounts.values() if a.id in refresh.account_ids} if customer else set()
    behaviours = {state.logins[i].historic_load for i in logins if i in state.logins}
    if "manual" in behaviours:
        return None
    return "FAILED" if "failed" in behaviours else "COMPLETED"


def finish(state: SandboxState, refresh: Refresh, status: str) -> None:
    """Apply the refresh's effect on the data, then mark it final."""
    customer = state.customers.get(refresh.customer_id)
    if customer is not None and status == "COMPLETED":
        now = state.clock.now_int()
        accounts = [a for a in customer.accounts.values() if a.id in refresh.account_ids]
        for acct in accounts:
            acct.last_attempt = acct.last_success = now
            if refresh.mode == "historic":
                acct.history_floor = 0
                login = state.logins.get(acct.login_id)
                if login is not None:
                    login.history_complete = True
            for tx in customer.unrefreshed.pop(acct.id, []):
                acct.put(tx)
        customer.touch()
    refresh.status = status


async def run(state: SandboxState, refresh: Refresh, delay: float, announce: Any) -> None:
    """The refresh's own life: IN_PROGRESS after half the delay, final after the whole delay."""
    await asyncio.sleep(delay / 2)
    if refresh.status != "NEW":
        return
    refresh.status = "IN_PROGRESS"
    await announce(refresh)
    await asyncio.sleep(delay / 2)
    outcome = _outcome(state, refresh)
    if outcome is None or refresh.status in FINAL:
        return
    finish(state, refresh, outcome)
    await announce(refresh)


def event_body(state: SandboxState, refresh: Refresh) -> dict[str, Any]:
    data: dict[str, Any] = {"refreshId": refresh.id, "status": refresh.status, "mode": refresh.mode}
    if refresh.login_id is not None:
        data["institutionLoginId"] = str(refresh.login_id)
    data["accountIds"] = refresh.account_ids
    body: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventType": STATUS_EVENT,
        "eventTime": iso(state.clock.now()),
        "customerId": refresh.customer_id,
    }
    if refresh.login_id is not None:
        body["institutionLoginId"] = refresh.login_id
    return body | {"data": data}
