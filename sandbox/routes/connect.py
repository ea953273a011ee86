"""Connect: GenerateConnectUrl, SendConnectEmail, GenerateFixConnectUrl."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from litestar import Request, Response, post

from sandbox.auth import guard
from sandbox.errors import ApiError, error, invalid_param, json_response, missing_param
from sandbox.routes.common import read_json
from sandbox.state import Link, SandboxState

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
EMAIL_FIELDS = (
    "to",
    "from",
    "supportPhone",
    "subject",
    "firstName",
    "institutionName",
    "institutionAddress",
    "signature",
)


def _customer_error() -> ApiError:
    return ApiError(
        400,
        {
            "code": 10010,
            "status": "400",
            "message": "Customer ID does not exist or does not belong to this partner",
            "user_message": "Customer ID does not exist or does not belong to this partner",
            "tags": "",
        },
    )


def _make_link(request: Request, state: SandboxState, body: dict, kind: str) -> Link:
    config = request.app.state.config
    for name in ("partnerId", "customerId"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise missing_param(name)
    if body["partnerId"] != config.partner_id:
        raise error(401, 10021, "You are not authorized.")
    customer = state.customers.get(body["customerId"])
    if customer is None:
        raise _customer_error()
    consumer_id = body.get("consumerId")
    if consumer_id is not None and (customer.consumer is None or customer.consumer.id != consumer_id):
        raise invalid_param("consumerId", "no such consumer for this customer")
    exp = body.get("experience")
    if exp is not None and exp != "default" and not (isinstance(exp, str) and GUID_RE.match(exp)):
        raise invalid_param("experience", '"experience" must be a valid GUID')
    if body.get("webhookContentType", "application/json") != "application/json":
        raise invalid_param("webhookContentType", "the sandbox only sends application/json webhooks")
    for key in ("webhookData", "webhookHeaders"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise invalid_param(key, "must be an object")
    login_id = None
    if kind == "fix":
        login_id = body.get("institutionLoginId")
        if login_id is None or login_id == "":
            raise missing_param("institutionLoginId")
        if not str(login_id).isdigit() or int(login_id) not in customer.logins:
            raise error(
                404,
                38007,
                f"Customer does not have any accounts associated with institutionLoginId = ({login_id})",
            )
        login_id = str(login_id)
    ts = int(state.clock.now() * 1000)
    ttl = ts + config.link_ttl_seconds * 1000
    params = {"customerId": customer.id, "origin": "url", "partnerId": config.partner_id}
    if login_id:
        params["institutionLoginId"] = login_id
    unsigned = urlencode({**params, "timestamp": ts, "ttl": ttl})
    signature = hmac.new(config.partner_secret.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
    query = urlencode({**params, "signature": signature, "timestamp": ts, "ttl": ttl})
    link = Link(
        kind=kind,
        url=f"https://connect2.finicity.com?{query}",
        timestamp_ms=ts,
        ttl_ms=ttl,
        webhook=body.get("webhook"),
        webhook_data=body.get("webhookData"),
        webhook_headers=body.get("webhookHeaders"),
        redirect_uri=body.get("redirectUri"),
        consumer_id=body.get("consumerId"),
        single_use=bool(body.get("singleUseUrl")),
        institution_login_id=login_id,
    )
    customer.latest_link = link
    return link


@post("/connect/v2/generate", opt={"op": "GenerateConnectUrl"})
async def generate(request: Request) -> Response:
    state = await guard(request, "connect")
    link = _make_link(request, state, await read_json(request), "generate")
    return json_response({"link": link.url})


@post("/connect/v2/generate/fix", opt={"op": "GenerateFixConnectUrl"})
async def generate_fix(request: Request) -> Response:
    state = await guard(request, "connect")
    link = _make_link(request, state, await read_json(request), "fix")
    return json_response({"link": link.url})


@post("/connect/v2/send/email", opt={"op": "SendConnectEmail"})
async def send_email(request: Request) -> Response:
    state = await guard(request, "connect")
    body = await read_json(request)
    email = body.get("email")
    if not isinstance(email, dict) or not isinstance(email.get("to"), str) or not email["to"]:
        raise missing_param("email.to")
    if not body.get("consumerId"):
        # ConnectEmailParameters requires a consumer (CreateConsumer), in lax validation mode too.
        raise missing_param("consumerId")
    link = _make_link(request, state, body, "email")
    config = {k: email[k] for k in EMAIL_FIELDS if k in email}
    now = state.clock.now()
    state.outbox.append(
        {
            "to": email["to"],
            "firstName": email.get("firstName"),
            "subject": email.get("subject", "Verify your Financial Information"),
            "from": email.get("from"),
            "customerId": body["customerId"],
            "consumerId": body.get("consumerId"),
            "link": link.url,
            "redirectUri": link.redirect_uri,
            "webhook": link.webhook,
            "time": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "sandboxTime": int(now),
        }
    )
    return json_response({"link": link.url, "emailConfig": config})
