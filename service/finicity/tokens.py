"""The partner token: one per partner, shared by every call and every process.

The token lives in `private.ob_partner_tokens`, encrypted with AES-256-GCM under
`OPEN_BANKING_ENCRYPTION_KEY`, so a restart reuses it and N processes authenticate once per lifetime.
Finicity returns no expiry: expires_at = issue time + 2 h, and a token with under 30 minutes left is
replaced (renewed at 90 minutes old, as the spec's CreateToken advises). Refreshes are single-flight
per process (an asyncio.Lock) and per database (a lease granted
by `ob_partner_token_begin_refresh`).

RPC contract (fixed, see supabase/migrations):
- `ob_partner_token_get()` -> null | {token_ciphertext, expires_at}
- `ob_partner_token_begin_refresh(p_holder, p_lease_seconds, p_min_valid_seconds)`
  -> {granted, token_ciphertext, expires_at}: the stored token if it is valid for more than
  p_min_valid_seconds (granted=false); else the lease if nobody else holds one (granted=true: we
  authenticate and put); else granted=false and we poll.
- `ob_partner_token_put(p_holder, p_token_ciphertext, p_expires_at)` -> {stored: true}; releases the lease
  and clears the failed-authentication count.
- `ob_partner_auth_attempt(p_holder, p_limit, p_hard_limit)` -> {allowed, failures, held_until}: asked under
  the lease before every authentication; `ob_partner_auth_failed(...)` counts a refusal, holds further
  attempts once p_limit are in a row (for p_hold_seconds, or until `auth reset`), and releases the lease.

Forced refresh (after a 401 rejected the token): the stored token is still "valid" by its clock, so
begin_refresh is called with p_min_valid_seconds above the whole lifetime, which no stored token can
satisfy. We force only when the database still holds the rejected (or an undecryptable) token; if
another holder has already replaced it, the new token is simply used. That keeps a burst of 401s in
many processes down to one authentication.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from service.db.port import Rpc
from service.finicity.errors import AuthenticationFailed, FinicityError

log = structlog.get_logger(__name__)

_NONCE_BYTES = 12
# Binds ciphertexts to their purpose: a token ciphertext cannot be replayed as some other secret.
_ASSOCIATED_DATA = b"ob_partner_tokens.v1"


class TokenDecryptError(ValueError):
    """The stored ciphertext was tampered with, truncated, or written under another key."""


class TokenServiceUnavailable(FinicityError):
    reason = "Could not obtain a session with the bank-data provider; the request will be retried later."
    retryable = True


# Mastercard locks the partner account at five failed authentications in a row: never make a fourth
# by ourselves (a timed hold allows one attempt after it passes; this is the last of them).
AUTH_HARD_LIMIT = 4


class AuthenticationHeld(AuthenticationFailed):
    """Authentication is held after failures in a row (every process): no call was made."""

    reason = (
        "Our credentials for the bank-data provider were refused repeatedly; authentication is paused until "
        "an operator checks them (python -m service auth reset)."
    )


class TokenCipher:
    """AES-256-GCM; stored text = base64(nonce || ciphertext+tag)."""

    def __init__(self, key_b64: SecretStr) -> None:
        try:
            key = base64.b64decode(key_b64.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("OPEN_BANKING_ENCRYPTION_KEY must be base64 (of 32 random bytes)") from None
        if len(key) != 32:
            raise ValueError(
                f"OPEN_BANKING_ENCRYPTION_KEY must decode to 32 bytes for AES-256-GCM, got {len(key)}"
            )
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), _ASSOCIATED_DATA)
        return base64.b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str) -> str:
        try:
            raw = base64.b64decode(stored, validate=True)
            if len(raw) <= _NONCE_BYTES:
                raise TokenDecryptError("stored token is too short")
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _ASSOCIATED_DATA)
        except (binascii.Error, ValueError, InvalidTag):
            raise TokenDecryptError("stored partner token cannot be decrypted with this key") from None
        return plain.decode()


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PartnerTokenService:
    def __init__(
        self,
        rpc: Rpc,
        client_authenticate: Callable[[], Awaitable[str]],
        cipher: TokenCipher,
        holder_id: str,
        clock: Callable[[], datetime] = _utcnow,
        refresh_margin: timedelta = timedelta(minutes=30),
        lifetime: timedelta = timedelta(hours=2),
        lease_seconds: int = 30,
        poll_interval: float = 0.1,
        auth_failure_limit: int = 2,
        auth_hold: timedelta = timedelta(minutes=30),
        on_auth_failure: Callable[[bool], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`auth_failure_limit` failed authentications in a row (counted in the database, across every
        process) hold all authentication for `auth_hold` (zero: until `python -m service auth reset`).
        `on_auth_failure(held)` is told of each refused authentication (metrics)."""
        self._rpc = rpc
        self._authenticate = client_authenticate
        self._cipher = cipher
        self._holder = holder_id
        self._clock = clock
        self._margin = refresh_margin
        self._lifetime = lifetime
        self._lease_seconds = lease_seconds
        self._poll_interval = poll_interval
        self._auth_limit = auth_failure_limit
        self._auth_hold_seconds = int(auth_hold.total_seconds())
        self._on_auth_failure = on_auth_failure
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._cached: _Token | None = None
        self._rejected: str | None = None
        self.authentications = 0  # partner-auth calls made by this instance (for bench and tests)

    @property
    def _force_min_valid_seconds(self) -> int:
        # No stored token can be valid this long, so begin_refresh must grant a lease (or make us wait).
        return int((self._lifetime + self._margin).total_seconds())

    def _usable(self, token: _Token) -> bool:
        return token.value != self._rejected and token.expires_at - self._clock() > self._margin

    async def get(self) -> str:
        if self._cached is not None and self._usable(self._cached):
            return self._cached.value
        async with self._lock:  # one refresh at a time in this process; the rest reuse its result
            if self._cached is not None and self._usable(self._cached):
                return self._cached.value
            token = await self._obtain()
            self._cached = token
            return token.value

    async def invalidate(self, token: str) -> None:
        """The API rejected `token`: never hand it out again; the next get() refreshes."""
        self._rejected = token
        if self._cached is not None and self._cached.value == token:
            self._cached = None

    async def _obtain(self) -> _Token:
        # Wait for another holder's lease at most twice its length (polls, so tests need no real time).
        polls_left = math.ceil(2 * self._lease_seconds / max(self._poll_interval, 1e-3))
        while True:
            stored_row = await self._rpc.call("ob_partner_token_get", {})
            stored, stale = self._decode(stored_row)
            if stored is not None and self._usable(stored):
                return stored
            # The database still holds the token the API refused (or one we cannot read): force.
            force = stale or (stored is not None and stored.value == self._rejected)
            min_valid = self._force_min_valid_seconds if force else int(self._margin.total_seconds())
            result = await self._rpc.call(
                "ob_partner_token_begin_refresh",
                {
                    "p_holder": self._holder,
                    "p_lease_seconds": self._lease_seconds,
                    "p_min_valid_seconds": min_valid,
                },
            )
            if result and result.get("granted"):
                return await self._refresh_under_lease()
            offered, _ = self._decode(result)
            if offered is not None and self._usable(offered):
                return offered
            polls_left -= 1
            if polls_left < 0:
                raise TokenServiceUnavailable(
                    None, None, "timed out waiting for another process to refresh the partner token"
                )
            await self._sleep(self._poll_interval)

    async def _refresh_under_lease(self) -> _Token:
        # Five failed partner authentications lock the account: the count lives in the database, so
        # every process and every CLI run sees the same one, and nobody spends the last attempts.
        gate = await self._rpc.call(
            "ob_partner_auth_attempt",
            {"p_holder": self._holder, "p_limit": self._auth_limit, "p_hard_limit": AUTH_HARD_LIMIT},
        )
        if not gate or not gate.get("allowed"):
            await self._release_lease()
            raise AuthenticationHeld(
                None, None, f"{gate.get('failures') if gate else '?'} failed authentications in a row; "
                f"held until {gate.get('held_until') if gate else '?'} or `python -m service auth reset`"
            )
        issued_at = self._clock()
        self.authentications += 1
        try:
            value = await self._authenticate()
        except AuthenticationFailed as exc:
            state = await self._rpc.call(
                "ob_partner_auth_failed",
                {
                    "p_holder": self._holder,
                    "p_error": f"{exc.code}: {exc.message}",
                    "p_limit": self._auth_limit,
                    "p_hold_seconds": self._auth_hold_seconds,
                    "p_hard_limit": AUTH_HARD_LIMIT,
                },
            )
            held = bool(state and state.get("held_until"))
            log.error("finicity.partner_auth_failed", finicity_code=exc.code, failures_in_a_row=state.get("failures"),
                      held=held)
            if self._on_auth_failure is not None:
                self._on_auth_failure(held)
            raise
        except BaseException:
            await self._release_lease()  # a transport failure is not a refusal: let the next holder try
            raise
        token = _Token(value, issued_at + self._lifetime)
        await self._rpc.call(
            "ob_partner_token_put",
            {
                "p_holder": self._holder,
                "p_token_ciphertext": self._cipher.encrypt(value),
                "p_expires_at": token.expires_at.isoformat(),
            },
        )
        log.info("finicity.partner_token_refreshed", expires_at=token.expires_at.isoformat())
        return token

    async def _release_lease(self) -> None:
        try:
            await self._rpc.call(
                "ob_partner_token_begin_refresh",
                {"p_holder": self._holder, "p_lease_seconds": 0, "p_min_valid_seconds": self._force_min_valid_seconds},
            )
        except Exception:  # the lease expires by itself anyway
            log.warning("finicity.partner_token_lease_release_failed")

    def _decode(self, row: Any) -> tuple[_Token | None, bool]:
        """(token, undecryptable) from a {token_ciphertext, expires_at} row; (None, False) if empty."""
        if not isinstance(row, dict) or not row.get("token_ciphertext") or not row.get("expires_at"):
            return None, False
        try:
            value = self._cipher.decrypt(row["token_ciphertext"])
        except TokenDecryptError:
            log.warning("finicity.partner_token_undecryptable")
            return None, True
        expires_at = datetime.fromisoformat(str(row["expires_at"]))
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return _Token(value, expires_at), False
