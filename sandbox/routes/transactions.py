"""Transactions: GetAllCustomerTransactions (v3) and GetCustomerAccountTransactions (v4).

Range filter and sort use the date the `SANDBOX_TRANSACTION_DATE_FILTER` rule names (see sandbox/README.md);
ties are ordered by id, then account. Pages are joined from pre-encoded transaction bytes; a `malformed_row`
fault corrupts rows as they are served.
"""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.params import FromPath

from sandbox.auth import guard
from sandbox.errors import JSON, error, invalid_param
from sandbox.faults import PAGE_KINDS, corrupt_rows, fire
from sandbox.routes.common import bool_param, get_account, get_customer, int_param


def _page(request: Request, customer, account_id: str | None) -> Response:
    from_date = int_param(request, "fromDate", required=True)
    to_date = int_param(request, "toDate", required=True)
    start = int_param(request, "start", 1)
    limit = int_param(request, "limit", 25)
    sort = request.query_params.get("sort") or "desc"
    include_pending = bool_param(request, "includePending", False)
    if sort not in ("asc", "desc"):
        raise invalid_param("sort", "must be asc or desc")
    if from_date > to_date:
        raise error(400, 41002, "Invalid date range: fromDate must not be after toDate")
    if start < 1:
        raise error(400, 41003, "Start index cannot be less than one.")
    if limit < 1:
        raise error(400, 41004, "Limit cannot be less than one.")
    if limit > 1000:
        raise invalid_param("limit", "cannot be greater than 1000")
    state = request.app.state.sandbox
    lie = next((f.kind for f in fire(state.faults, "transactions", PAGE_KINDS)), None) if start > 1 else None
    if lie == "page_repeat":
        start = 1
    rule = request.app.state.config.transaction_date_filter
    found, items = customer.index(account_id, include_pending, rule).page(
        from_date, to_date, start, limit, sort == "desc"
    )
    items = [] if lie == "page_empty" else corrupt_rows(state, customer, items)
    more = "true" if start - 1 + len(items) < found else "false"
    head = (
        f'{{"found":{found},"displaying":{len(items)},"moreAvailable":"{more}","fromDate":"{from_date}",'
        f'"toDate":"{to_date}","sort":"{sort}","transactions":['
    ).encode()
    return Response(content=head + b",".join(items) + b"]}", media_type=JSON)


@get("/aggregation/v3/customers/{customer_id:str}/transactions", opt={"op": "GetAllCustomerTransactions"})
async def customer_transactions(request: Request, customer_id: FromPath[str]) -> Response:
    state = await guard(request, "transactions")
    return _page(request, get_customer(state, customer_id), None)


@get(
    "/aggregation/v4/customers/{customer_id:str}/accounts/{account_id:str}/transactions",
    opt={"op": "GetCustomerAccountTransactions"},
)
async def account_transactions(
    request: Request, customer_id: FromPath[str], account_id: FromPath[str]
) -> Response:
    state = await guard(request, "transactions")
    customer = get_customer(state, customer_id)
    get_account(customer, account_id)
    return _page(request, customer, account_id)
