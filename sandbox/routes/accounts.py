"""Accounts: GetCustomerAccounts, GetCustomerAccount, RefreshCustomerAccounts; authorization details."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Request, Response, get, post
from litestar.params import FromPath

from sandbox.auth import guard
from sandbox.errors import ApiError, json_response
from sandbox.routes.common import account_json, get_account, get_customer


@get("/aggregation/v1/customers/{customer_id:str}/accounts", opt={"op": "GetCustomerAccounts"})
async def get_accounts(request: Request, customer_id: FromPath[str]) -> Response:
    state = await guard(request, "accounts")
    customer = get_customer(state, customer_id)
    status = request.query_params.get("status")
    accts = [account_json(state, a) for a in customer.accounts.values()]
    if status:
        accts = [a for a in accts if a["status"] == status]
    return json_response({"accounts": accts})


@post("/aggregation/v1/customers/{customer_id:str}/accounts", opt={"op": "RefreshCustomerAccounts"})
async def refresh_accounts(request: Request, customer_id: FromPath[str]) -> Response:
    state = await guard(request, "accounts")
    customer = get_customer(state, customer_id)
    now = state.clock.now_int()
    for acct in customer.accounts.values():
        acct.last_attempt = now
        login = state.logins.get(acct.login_id)
        if not (login and login.oauth and now >= login.consent_end):
            acct.last_success = now
    return json_response({"accounts": [account_json(state, a) for a in customer.accounts.values()]})


@get(
    "/aggregation/v2/customers/{customer_id:str}/accounts/{account_id:str}", opt={"op": "GetCustomerAccount"}
)
async def get_account_by_id(
    request: Request, customer_id: FromPath[str], account_id: FromPath[str]
) -> Response:
    state = await guard(request, "accounts")
    customer = get_customer(state, customer_id)
    return json_response(account_json(state, get_account(customer, account_id)))


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.00Z")


@get(
    "/customers/institution-logins/{login_id:str}/authorization-details",
    opt={"op": "getCustomerAuthorizationDetails"},
)
async def authorization_details(request: Request, login_id: FromPath[str]) -> Response:
    state = await guard(request, "accounts")
    login = state.logins.get(int(login_id)) if login_id.isdigit() else None
    if login is None or not login.oauth:
        raise ApiError(
            404,
            {
                "code": 3003,
                "status": "404",
                "message": "Resource Not Found.",
                "user_message": "Institution Login Id is not found",
            },
        )
    return json_response(
        {
            "institutionLoginId": login.id,
            "authorizationStartDate": _iso(login.consent_start),
            "authorizationEndDate": _iso(login.consent_end),
        }
    )
