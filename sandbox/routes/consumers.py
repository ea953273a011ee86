"""Consumers: CreateConsumer and GetConsumerForCustomer (a consumer is needed for SendConnectEmail)."""

from __future__ import annotations

import secrets

from litestar import Request, Response, get, post
from litestar.params import FromPath

from sandbox.auth import guard
from sandbox.errors import error, json_response, missing_param
from sandbox.routes.common import get_customer, read_json
from sandbox.state import Consumer

# What GetConsumerForCustomer returns (the spec's `Consumer` lists every one as required).
_STRINGS = ("firstName", "lastName", "address", "city", "state", "zip", "phone", "email")


def consumer_not_found(customer_id: str) -> Exception:
    return error(404, 10100, f"Cannot find consumer for customer with id {customer_id}.")


@post("/decisioning/v1/customers/{customer_id:str}/consumer", opt={"op": "CreateConsumer"})
async def create_consumer(request: Request, customer_id: FromPath[str]) -> Response:
    state = await guard(request, "customers")
    customer = get_customer(state, customer_id)
    body = await read_json(request)
    # Required fields and types were judged against `NewConsumer`; the spec's two either-or rules are prose.
    if not body.get("ssn") and not body.get("birthday"):
        raise missing_param("birthday or ssn")
    if not body.get("phone") and not body.get("email"):
        raise missing_param("phone or email")
    ssn = str(body.get("ssn") or "").replace("-", "")
    if ssn and (len(ssn) != 9 or not ssn.isdigit()):
        raise error(400, 10100, "Invalid format for field consumer.ssn.  Required format is 9 digits.")
    phone = body.get("phone")
    if phone is not None and len(phone) > 15:
        raise error(400, 10100, "Invalid format for field consumer.phone.")
    if customer.consumer is not None:
        raise error(409, 11000, f"A consumer already exists for customer {customer.id}")
    fields = {k: body[k] for k in _STRINGS if isinstance(body.get(k), str)}
    fields["ssn"] = ssn[-4:]
    fields["birthday"] = body.get("birthday") or {}
    consumer = Consumer(id=secrets.token_hex(16), customer_id=customer.id, created=state.clock.now_int(), fields=fields)
    customer.consumer = consumer
    return json_response({"id": consumer.id, "createdDate": consumer.created, "customerId": int(customer.id)}, 201)


@get("/decisioning/v1/customers/{customer_id:str}/consumer", opt={"op": "GetConsumerForCustomer"})
async def get_consumer_for_customer(request: Request, customer_id: FromPath[str]) -> Response:
    state = await guard(request, "customers")
    customer = get_customer(state, customer_id)
    consumer = customer.consumer
    if consumer is None:
        raise consumer_not_found(customer.id)
    out: dict = {"id": consumer.id, "customerId": int(customer.id), "createdDate": consumer.created}
    for key in _STRINGS:
        out[key] = consumer.fields.get(key, "")
    out["ssn"] = consumer.fields["ssn"]
    out["birthday"] = consumer.fields["birthday"]
    return json_response(out)
