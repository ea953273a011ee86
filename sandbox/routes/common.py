"""Helpers shared by the API route modules."""

from __future__ import annotations

import json
from typing import Literal, overload

from litestar import Request
from litestar.params import FromPath

from sandbox.errors import bad_request, customer_not_found, error, invalid_param, missing_param
from sandbox.state import Account, Customer, SandboxState


async def read_json(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request() from None
    if not isinstance(body, dict):
        raise bad_request()
    return body


@overload
def int_param(request: Request, name: str, default: int, *, required: bool = False) -> int: ...
@overload
def int_param(request: Request, name: str, default: None = None, *, required: Literal[True]) -> int: ...
@overload
def int_param(request: Request, name: str, default: int | None = None, *, required: bool = False) -> int | None: ...
def int_param(
    request: Request, name: str, default: int | None = None, *, required: bool = False
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise missing_param(name)
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_param(name, "must be an integer") from None


def bool_param(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise invalid_param(name, "must be true or false")


def get_customer(state: SandboxState, customer_id: FromPath[str]) -> Customer:
    customer = state.customers.get(customer_id)
    if customer is None:
        raise customer_not_found()
    return customer


def get_account(customer: Customer, account_id: FromPath[str]) -> Account:
    acct = customer.accounts.get(account_id)
    if acct is None:
        raise error(
            404,
            38003,
            f"customer does not have given account (customerId = {customer.id}, accountId = [{account_id}])",
        )
    return acct


def account_json(state: SandboxState, acct: Account) -> dict:
    login = state.logins.get(acct.login_id)
    now = state.clock.now_int()
    txs = acct.txs.values()
    dates = [t.postedDate or t.transactionDate or 0 for t in txs]
    expired = bool(login and login.oauth and now >= login.consent_end)
    out: dict = {
        "id": acct.id,
        "number": acct.number,
        "accountNumberDisplay": acct.number[-4:],
        "realAccountNumberLast4": acct.number[-4:],
        "accountNickname": acct.nickname,
        "name": acct.name,
        "balance": acct.balance,
        "type": acct.type,
        "aggregationStatusCode": 947 if expired else 0,
        "status": "active",
        "customerId": acct.customer_id,
        "institutionId": acct.institution_id,
        "balanceDate": acct.last_success,
        "aggregationSuccessDate": acct.last_success,
        "aggregationAttemptDate": acct.last_attempt,
        "createdDate": acct.created,
        "lastUpdatedDate": acct.last_success,
        "currency": "USD",
        "lastTransactionDate": max(dates) if dates else acct.created,
        "institutionLoginId": acct.login_id,
        "marketSegment": "personal",
        "displayPosition": acct.display_position,
    }
    if dates:
        out["oldestTransactionDate"] = min(dates)
    if login and login.oauth:
        out["authorizationStartDate"] = login.consent_start
        out["authorizationEndDate"] = login.consent_end
        out["authorizationExpires"] = True
    if acct.type == "creditCard":
        out["detail"] = {
            "dateAsOf": acct.last_success,
            "creditMaxAmount": 10000.0,
            "creditAvailableAmount": round(10000.0 + min(acct.balance, 0.0), 2),
        }
    else:
        out["detail"] = {
            "dateAsOf": acct.last_success,
            "availableBalanceAmount": acct.balance,
            "interestRate": "0.01" if acct.type == "checking" else "4.25",
        }
    return out
