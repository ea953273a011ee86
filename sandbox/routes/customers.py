"""Customers: AddTestingCustomer, AddCustomer, GetCustomers, GetCustomer, DeleteCustomer."""

from __future__ import annotations

import re

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath

from sandbox.auth import guard
from sandbox.errors import error, invalid_param, json_response, missing_param
from sandbox.routes.common import get_customer, int_param, read_json
from sandbox.state import Customer

USERNAME_RE = re.compile(r"^[A-Za-z0-9!@.#$%&*_\-+]{6,255}$")
NAME_RE = re.compile(r"^[^<>{}\[\]\\^~`|\"]*$")


def customer_json(c: Customer) -> dict:
    out: dict = {"id": c.id, "username": c.username}
    for key, value in (
        ("firstName", c.first_name),
        ("lastName", c.last_name),
        ("phone", c.phone),
        ("email", c.email),
    ):
        if value is not None:
            out[key] = value
    out["type"] = c.type
    out["createdDate"] = str(c.created)
    return out


async def _add(request: Request, kind: str) -> Response:
    state = await guard(request, "customers")
    body = await read_json(request)
    username = body.get("username")
    if username is None or username == "":
        raise missing_param("username")
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise error(400, 110039, "Username is not as per the policy.")
    for key in ("firstName", "lastName"):
        if key in body and (not isinstance(body[key], str) or not NAME_RE.match(body[key])):
            raise error(400, 45003, "Invalid character in name fields.")
    phone = body.get("phone")
    if phone is not None and (not isinstance(phone, str) or len(phone) > 15):
        raise invalid_param("phone", "at most 15 characters")
    if any(c.username == username for c in state.customers.values()):
        raise error(409, 110002, "Username is not available.")
    customer = Customer(
        id=state.new_customer_id(),
        username=username,
        type=kind,
        created=state.clock.now_int(),
        first_name=body.get("firstName"),
        last_name=body.get("lastName"),
        email=body.get("email"),
        phone=phone,
        application_id=body.get("applicationId"),
    )
    state.customers[customer.id] = customer
    return json_response({"id": customer.id, "username": username, "createdDate": customer.created}, 201)


@post("/aggregation/v2/customers/testing", opt={"op": "AddTestingCustomer"})
async def add_testing_customer(request: Request) -> Response:
    return await _add(request, "testing")


@post("/aggregation/v2/customers/active", opt={"op": "AddCustomer"})
async def add_customer(request: Request) -> Response:
    return await _add(request, "active")


@get("/aggregation/v1/customers", opt={"op": "GetCustomers"})
async def get_customers(request: Request) -> Response:
    state = await guard(request, "customers")
    q = request.query_params
    start = int_param(request, "start", 1)
    limit = int_param(request, "limit", 25)
    kind = q.get("type")
    if kind is not None and kind not in ("testing", "active"):
        raise error(400, 14016, "Invalid customer type.")
    if start < 1:
        raise error(400, 41003, "Start index cannot be less than one.")
    if limit < 1:
        raise error(400, 41004, "Limit cannot be less than one.")
    if limit > 1000:
        raise invalid_param("limit", "cannot be greater than 1000")
    rows = list(state.customers.values())
    if q.get("username") is not None:
        rows = [c for c in rows if c.username == q["username"]]
    if kind:
        rows = [c for c in rows if c.type == kind]
    if q.get("search"):
        s = q["search"].lower()
        rows = [
            c
            for c in rows
            if s in c.username.lower() or s in f"{c.first_name or ''} {c.last_name or ''}".lower()
        ]
    page = rows[start - 1 : start - 1 + limit]
    return json_response(
        {
            "found": len(rows),
            "displaying": len(page),
            "moreAvailable": start - 1 + len(page) < len(rows),
            "customers": [customer_json(c) for c in page],
        }
    )


@get("/aggregation/v1/customers/{customer_id:str}", opt={"op": "GetCustomer"})
async def get_customer_by_id(request: Request, customer_id: FromPath[str]) -> Response:
    state = await guard(request, "customers")
    c = get_customer(state, customer_id)
    out = customer_json(c)
    if c.application_id:
        out["applicationId"] = c.application_id
    return json_response(out)


@delete("/aggregation/v1/customers/{customer_id:str}", opt={"op": "DeleteCustomer"}, status_code=204)
async def delete_customer(request: Request, customer_id: FromPath[str]) -> None:
    state = await guard(request, "customers")
    c = get_customer(state, customer_id)
    for login_id in c.logins:
        state.logins.pop(login_id, None)
    del state.customers[c.id]
