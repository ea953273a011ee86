"""Bank statements: GetCustomerAccountStatement (v1, the PDF), GetCustomerAccountMultipleStatement (v3,
details with asset ids), GetAssetByCustomerID (the PDF of one asset); GetCertifiedInstitutions.

Statements exist only for accounts at institutions certified for Statement Aggregation (`stateAgg`);
elsewhere every statement operation answers 404. PDFs are sent as `application/octet-stream`, the
media type the spec declares for both binary responses.
"""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.params import FromPath

from sandbox.auth import guard
from sandbox.errors import ApiError, error, invalid_param, json_response
from sandbox.institutions import CATALOGUE, lookup
from sandbox.routes.common import get_account, get_customer, int_param
from sandbox.state import Account, Customer, SandboxState
from sandbox.statements import (
    MAX_INDEX,
    asset_id,
    available,
    certified_institution,
    period_for,
    render_pdf,
)

PDF = "application/octet-stream"
# Fault groups: "statements" are the billable downloads (v1 PDF, asset), "statement_details" the listing.


def _statement_account(
    state: SandboxState, customer_id: str, account_id: str
) -> tuple[Customer, Account, str]:
    """The customer, the account and its institution's name; 404 where statements are not offered."""
    customer = get_customer(state, customer_id)
    acct = get_account(customer, account_id)
    institution = certified_institution(state, acct.institution_id)
    if institution is None:
        raise error(
            404,
            14001,
            f"Statements are not available for this account's institution (institutionId = {acct.institution_id})",
        )
    return customer, acct, institution["name"]


def _index(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param("index", "must be an integer between 1 and 24") from None
    if not 1 <= value <= MAX_INDEX:
        raise invalid_param("index", "must be an integer between 1 and 24")
    return value


def _not_found() -> ApiError:
    return error(404, 960, "statement not found.")


@get(
    "/aggregation/v1/customers/{customer_id:str}/accounts/{account_id:str}/statement",
    opt={"op": "GetCustomerAccountStatement"},
)
async def account_statement(request: Request, customer_id: FromPath[str], account_id: FromPath[str]) -> Response:
    state = await guard(request, "statements")
    _, acct, bank = _statement_account(state, customer_id, account_id)
    period = period_for(state.clock.now_int(), _index(request.query_params.get("index") or "1"))
    if not available(acct, period):
        raise _not_found()
    return Response(content=render_pdf(acct, period, bank), media_type=PDF)


@get(
    "/aggregation/v3/customers/{customer_id:str}/accounts/{account_id:str}/statement",
    opt={"op": "GetCustomerAccountMultipleStatement"},
)
async def account_statements(request: Request, customer_id: FromPath[str], account_id: FromPath[str]) -> Response:
    state = await guard(request, "statement_details")
    customer, acct, _ = _statement_account(state, customer_id, account_id)
    with_assets = (lookup(state, int(acct.institution_id)) or {}).get("assets", True)
    now = state.clock.now_int()
    out = []
    for raw in (request.query_params.get("index") or "1").split(","):
        period = period_for(now, _index(raw.strip()))
        item: dict = {"index": str(period.index), "asOfDate": now}
        if available(acct, period) and not with_assets:
            pass  # the statement exists, but only as a PDF by index (no asset, no period here)
        elif available(acct, period):
            aid = asset_id(customer.id, acct, period)
            state.assets[aid] = (customer.id, acct.id, period.index, now)
            item |= {"id": aid, "description": period.description, "documentDate": period.end.isoformat()}
        else:
            item |= {"code": "960", "message": "statement not found."}
        out.append(item)
    return json_response({"statements": out})


@get("/aggregation/v1/customers/{customer_id:str}/assets/{asset_id:str}", opt={"op": "GetAssetByCustomerID"})
async def asset(request: Request, customer_id: FromPath[str], asset_id: FromPath[str]) -> Response:
    state = await guard(request, "statements")
    customer = get_customer(state, customer_id)
    entry = state.assets.get(asset_id)
    if entry is None or entry[0] != customer.id or entry[1] not in customer.accounts:
        raise error(404, 13002, "Asset not found")
    acct = customer.accounts[entry[1]]
    bank = (lookup(state, int(acct.institution_id)) or {"name": "FinBank"})["name"]
    # The asset is the statement as it was when its details were asked for (index counted then).
    period = period_for(entry[3], entry[2])
    return Response(content=render_pdf(acct, period, bank), media_type=PDF)


_PRODUCTS = ("transAgg", "ach", "stateAgg", "voi", "voa", "aha", "availBalance", "accountOwner")


def _certified_json(inst_id: int, entry: dict) -> dict:
    flags = {p: True for p in _PRODUCTS} | {"stateAgg": entry["statements"]}
    status = {p: "online" for p in ("transAgg", "voa", "voi", "ach", "aha")}
    status |= {"overallStatus": "online", "stateAgg": "online" if entry["statements"] else "offline"}
    return {"id": inst_id, "name": entry["name"], **flags, "oauthEnabled": entry["oauth"], "productionStatus": status}


@get("/institution/v2/certifiedInstitutions", opt={"op": "GetCertifiedInstitutions"})
async def certified_institutions(request: Request) -> Response:
    state = await guard(request, "institutions")
    start = int_param(request, "start", 1)
    limit = int_param(request, "limit", 25)
    if start < 1:
        raise invalid_param("start", "must be at least 1")
    if not 1 <= limit <= 1000:
        raise invalid_param("limit", "must be between 1 and 1000")
    search = (request.query_params.get("search") or "").lower()
    wanted = [t for t in (request.query_params.get("type") or "").split(",") if t]
    for t in wanted:
        if t not in _PRODUCTS:
            raise invalid_param("type", f"unknown product type {t!r}")
    rows = [_certified_json(i, e) for i, e in sorted(CATALOGUE.items()) if search in e["name"].lower()]
    rows = [r for r in rows if all(r[t] for t in wanted)]
    # `start` is the index of the page (spec: "Index of the page of results to return").
    page = rows[(start - 1) * limit : start * limit]
    return json_response(
        {
            "found": len(rows),
            "displaying": len(page),
            "moreAvailable": start * limit < len(rows),
            "requestedDate": state.clock.now_int(),
            "institutions": page,
        }
    )
