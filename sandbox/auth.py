"""Partner tokens and the per-request guard (auth headers, faults, latency)."""

from __future__ import annotations

import asyncio
import secrets
import string

from litestar import Request

from sandbox.config import SandboxConfig
from sandbox.errors import ApiError, error, obwms_error
from sandbox.faults import fire
from sandbox.state import SandboxState, Token

_ALPHABET = string.ascii_letters + string.digits


def issue_token(state: SandboxState, config: SandboxConfig) -> Token:
    now = state.clock.now()
    tok = Token(
        "".join(secrets.choice(_ALPHABET) for _ in range(20)), now, now + config.token_lifetime_seconds
    )
    state.tokens[tok.value] = tok
    return tok


def expire_all_tokens(state: SandboxState) -> None:
    for tok in state.tokens.values():
        tok.revoked = True


async def apply_faults(state: SandboxState, group: str) -> None:
    """Latency, 429/500/503 and forced token expiry, as configured under /_sandbox/faults."""
    for f in fire(state.faults, group, {"latency"}):
        await asyncio.sleep(f.latency_ms / 1000)
    for f in fire(state.faults, group, {"429", "500", "503", "token_expiry"}):
        if f.kind == "429":
            raise error(
                429,
                3300001,
                "Too many request. Please try after some time",
                {"Retry-After": str(f.retry_after)},
            )
        if f.kind == "500":
            raise error(500, 50000, "Internal Server Error")
        if f.kind == "503":
            raise error(503, 50003, "Service Unavailable", {"Retry-After": str(f.retry_after)})
        if f.kind == "token_expiry" and group != "auth":
            expire_all_tokens(state)


def check_app_key(request: Request, config: SandboxConfig, obwms: bool = False) -> None:
    key = request.headers.get("Finicity-App-Key") or (request.headers.get("App-Key") if obwms else None)
    if not key:
        raise (
            obwms_error(401, 1504, "Missing parameter (App-Key)")
            if obwms
            else error(401, 10026, "Missing parameter (Finicity-App-Key)")
        )
    if key != config.app_key:
        raise (
            obwms_error(401, 1504, "Invalid parameter (App-Key)")
            if obwms
            else error(401, 10027, "Invalid parameter (Finicity-App-Key)")
        )


def check_token(request: Request, state: SandboxState, obwms: bool = False) -> None:
    value = request.headers.get("Finicity-App-Token") or (request.headers.get("App-Token") if obwms else None)
    if not value:
        raise (
            obwms_error(401, 1503, "Missing parameter (App-Token)")
            if obwms
            else error(401, 10024, "Missing parameter (Finicity-App-Token)")
        )
    tok = state.tokens.get(value)
    if tok is None:
        raise (
            obwms_error(401, 1503, "Invalid (App-Token)")
            if obwms
            else error(401, 10022, "Invalid parameter (Finicity-App-Token)")
        )
    if tok.revoked or state.clock.now() >= tok.expires:
        raise (
            obwms_error(401, 1503, "Expired (App-Token)")
            if obwms
            else error(401, 10023, "Expired (Finicity-App-Token)")
        )


async def guard(request: Request, group: str, *, obwms: bool = False) -> SandboxState:
    """Run faults then authenticate a token-protected call; returns the state."""
    state: SandboxState = request.app.state.sandbox
    config: SandboxConfig = request.app.state.config
    await apply_faults(state, group)
    check_app_key(request, config, obwms)
    check_token(request, state, obwms)
    return state


__all__ = ["ApiError", "apply_faults", "check_app_key", "guard", "issue_token"]
