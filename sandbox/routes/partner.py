"""Partner authentication (operationId CreateToken), with the partner account lockout the spec describes."""

from __future__ import annotations

from litestar import Request, Response, post

from sandbox.auth import apply_faults, check_app_key, issue_token
from sandbox.errors import error, json_response, missing_param
from sandbox.routes.common import read_json


@post("/aggregation/v2/partners/authentication", opt={"op": "CreateToken"})
async def create_token(request: Request) -> Response:
    state = request.app.state.sandbox
    config = request.app.state.config
    await apply_faults(state, "auth")
    check_app_key(request, config)
    body = await read_json(request)
    for name in ("partnerId", "partnerSecret"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise missing_param(name)
    stats = state.stats.partner_auth
    stats["count"] += 1
    if stats["locked"]:
        # Locked: even the right secret is refused until Mastercard support unlocks (here: /_sandbox/reset).
        stats["failure"] += 1
        raise error(401, 10001, "Partner account locked after repeated failed authentications; contact support")
    if body["partnerId"] != config.partner_id or body["partnerSecret"] != config.partner_secret:
        stats["failure"] += 1
        stats["consecutiveFailures"] += 1
        # The spec: "After five failed attempts to authenticate, your account will be locked."
        stats["locked"] = int(stats["consecutiveFailures"] >= config.partner_lockout_failures)
        raise error(401, 10001, "Invalid credentials")
    stats["success"] += 1
    stats["consecutiveFailures"] = 0
    return json_response({"token": issue_token(state, config).value})
