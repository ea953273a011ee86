"""Partner authentication (operationId CreateToken)."""

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
    state.stats.partner_auth["count"] += 1
    if body["partnerId"] != config.partner_id or body["partnerSecret"] != config.partner_secret:
        state.stats.partner_auth["failure"] += 1
        raise error(401, 10001, "Invalid credentials")
    state.stats.partner_auth["success"] += 1
    return json_response({"token": issue_token(state, config).value})
