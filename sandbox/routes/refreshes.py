"""Transactions refreshes: refreshTransactions (asynchronous) and getTransactionRefreshStatus.

The life of a refresh (NEW -> IN_PROGRESS -> COMPLETED | FAILED, OBWMS events) is in sandbox/refresh.py.
"""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath

from sandbox import refresh as engine
from sandbox.auth import guard
from sandbox.errors import error, json_response, missing_param
from sandbox.routes.common import get_customer, read_json
from sandbox.state import Refresh, SandboxState

MODES = ("standard", "historic", "custom")


def announcer(request: Request):
    """Send each status change to the OBWMS subscribers of `data-refresh.transaction.status-changed`."""
    state: SandboxState = request.app.state.sandbox
    deliverer, key = request.app.state.deliverer, request.app.state.key

    async def announce(refresh: Refresh) -> None:
        items = deliverer.obwms_items(engine.event_body(state, refresh), key)
        if items:
            await deliverer.send_batch("obwms", items)

    return announce


@post(
    "/aggregation/customers/{customer_id:str}/transactions/refreshes",
    opt={"op": "refreshTransactions"},
    status_code=202,
)
async def refresh_transactions(request: Request, customer_id: FromPath[str]) -> Response:
    state = await guard(request, "refreshes")
    customer = get_customer(state, customer_id)
    body = await read_json(request)
    mode = body.get("mode") or "standard"
    if mode not in MODES:
        raise error(400, 10100, "Invalid parameter (mode)")
    if mode == "custom" and not body.get("fromDate"):
        raise missing_param("fromDate")
    login_id: int | None = None
    if body.get("accountIds"):  # "If both are provided, accountIds takes preference"
        account_ids = [str(a) for a in body["accountIds"]]
        unknown = [a for a in account_ids if a not in customer.accounts]
        if unknown:
            raise error(
                404, 38003, f"customer does not have given account (customerId = {customer.id}, accountId = {unknown})"
            )
    elif body.get("institutionLoginId"):
        raw = str(body["institutionLoginId"])
        if not raw.isdigit() or int(raw) not in customer.logins:
            raise error(404, 38007, f"Customer does not have any accounts associated with institutionLoginId = ({raw})")
        login_id = int(raw)
        account_ids = [a.id for a in customer.accounts.values() if a.login_id == login_id]
    else:
        raise missing_param("institutionLoginId or accountIds")
    refresh = engine.new_refresh(state, customer, login_id, account_ids, body | {"mode": mode})
    config = request.app.state.config
    delay = config.historic_load_delay_seconds if mode == "historic" else config.refresh_delay_seconds
    state.spawn(engine.run(state, refresh, delay, announcer(request)))
    return json_response(engine.initiated_json(refresh), 202)


@get(
    "/aggregation/customers/{customer_id:str}/transactions/refreshes/{refresh_id:str}",
    opt={"op": "getTransactionRefreshStatus"},
)
async def refresh_status(request: Request, customer_id: FromPath[str], refresh_id: FromPath[str]) -> Response:
    state = await guard(request, "refreshes")
    customer = get_customer(state, customer_id)
    refresh = state.refreshes.get(refresh_id)
    if refresh is None or refresh.customer_id != customer.id:
        raise error(404, 10008, "data not found")
    return json_response(engine.status_json(state, refresh))
