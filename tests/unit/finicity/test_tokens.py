"""TokenCipher and PartnerTokenService against an in-memory copy of the three RPC functions."""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from service.finicity.errors import AuthenticationFailed
from service.finicity.tokens import (
    AuthenticationHeld,
    PartnerTokenService,
    TokenCipher,
    TokenDecryptError,
    TokenServiceUnavailable,
)


def new_key() -> SecretStr:
    return SecretStr(base64.b64encode(os.urandom(32)).decode())


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Lease:
    holder: str
    until: datetime


class InMemoryTokenStore:
    """Exactly the contract of ob_partner_token_get / _begin_refresh / _put and ob_partner_auth_attempt /
    _failed (service/finicity/tokens.py)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.row: dict[str, str] | None = None
        self.lease: Lease | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures = 0  # failed authentications in a row (private.ob_partner_tokens.auth_failures)
        self.held_until: datetime | None = None

    async def call(self, fn: str, args: dict[str, Any]) -> Any:
        self.calls.append((fn, args))
        await asyncio.sleep(0)  # noqa: TID251 - the fake database's round trip: a yield point, as a real one is
        now = self.clock()
        if fn == "ob_partner_token_get":
            return dict(self.row) if self.row else None
        if fn == "ob_partner_token_begin_refresh":
            if self.row:
                expires_at = datetime.fromisoformat(self.row["expires_at"])
                if expires_at - now > timedelta(seconds=args["p_min_valid_seconds"]):
                    return {"granted": False, **self.row}
            if self.lease and self.lease.holder != args["p_holder"] and self.lease.until > now:
                return {"granted": False, "token_ciphertext": None, "expires_at": None}
            self.lease = Lease(args["p_holder"], now + timedelta(seconds=args["p_lease_seconds"]))
            return {"granted": True, "token_ciphertext": None, "expires_at": None}
        if fn == "ob_partner_token_put":
            self.row = {
                "token_ciphertext": args["p_token_ciphertext"],
                "expires_at": datetime.fromisoformat(args["p_expires_at"]).isoformat(),
            }
            self.lease = None
            self.failures, self.held_until = 0, None
            return {"stored": True}
        if fn == "ob_partner_auth_attempt":
            holds = self.lease is not None and self.lease.holder == args["p_holder"]
            passed = self.held_until is not None and self.held_until <= now
            allowed = holds and self.failures < args["p_hard_limit"] and (self.failures < args["p_limit"] or passed)
            return {"allowed": allowed, "failures": self.failures, "held_until": self.held_until}
        if fn == "ob_partner_auth_failed":
            self.failures += 1
            hold = args["p_hold_seconds"]
            if self.failures >= args["p_hard_limit"] or (self.failures >= args["p_limit"] and hold <= 0):
                self.held_until = datetime.max.replace(tzinfo=UTC)
            elif self.failures >= args["p_limit"]:
                self.held_until = now + timedelta(seconds=hold)
            else:
                self.held_until = None
            if self.lease and self.lease.holder == args["p_holder"]:
                self.lease = None
            return {"failures": self.failures, "held_until": self.held_until}
        raise AssertionError(f"unknown function {fn}")


class FakePartnerAuth:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0.005)  # noqa: TID251 - the fake authenticate's network round trip
        return f"partner-token-{self.calls}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> InMemoryTokenStore:
    return InMemoryTokenStore(clock)


@pytest.fixture
def auth() -> FakePartnerAuth:
    return FakePartnerAuth()


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher(new_key())


def service(
    store: InMemoryTokenStore, auth: Any, cipher: TokenCipher, clock: Clock, holder: str = "p1", **kw: Any
) -> PartnerTokenService:
    return PartnerTokenService(store, auth, cipher, holder, clock=clock, poll_interval=0.001, **kw)


# ---- TokenCipher ---------------------------------------------------------------------------------


def test_cipher_round_trips(cipher: TokenCipher) -> None:
    assert cipher.decrypt(cipher.encrypt("YBh22Sb9Es6e66Q7lWdt")) == "YBh22Sb9Es6e66Q7lWdt"


def test_cipher_uses_a_fresh_nonce_each_time(cipher: TokenCipher) -> None:
    assert cipher.encrypt("same") != cipher.encrypt("same")


def test_ciphertext_does_not_contain_the_token(cipher: TokenCipher) -> None:
    stored = cipher.encrypt("YBh22Sb9Es6e66Q7lWdt")
    assert "YBh22Sb9Es6e66Q7lWdt" not in stored
    assert b"YBh22Sb9Es6e66Q7lWdt" not in base64.b64decode(stored)


def test_tampered_ciphertext_is_rejected(cipher: TokenCipher) -> None:
    raw = bytearray(base64.b64decode(cipher.encrypt("token")))
    raw[-1] ^= 0x01
    with pytest.raises(TokenDecryptError):
        cipher.decrypt(base64.b64encode(bytes(raw)).decode())


def test_wrong_key_is_rejected(cipher: TokenCipher) -> None:
    with pytest.raises(TokenDecryptError):
        TokenCipher(new_key()).decrypt(cipher.encrypt("token"))


def test_garbage_ciphertext_is_rejected(cipher: TokenCipher) -> None:
    with pytest.raises(TokenDecryptError):
        cipher.decrypt("not base64 at all!")


def test_key_of_wrong_length_names_the_variable() -> None:
    with pytest.raises(ValueError, match="OPEN_BANKING_ENCRYPTION_KEY"):
        TokenCipher(SecretStr(base64.b64encode(b"short").decode()))


def test_key_that_is_not_base64_names_the_variable() -> None:
    with pytest.raises(ValueError, match="OPEN_BANKING_ENCRYPTION_KEY"):
        TokenCipher(SecretStr("@@@not-base64@@@"))


# ---- PartnerTokenService -------------------------------------------------------------------------


async def test_first_get_authenticates_and_stores_encrypted_token(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    token = await service(store, auth, cipher, clock).get()
    assert token == "partner-token-1"
    assert store.row is not None
    assert token not in store.row["token_ciphertext"]
    assert cipher.decrypt(store.row["token_ciphertext"]) == token
    assert datetime.fromisoformat(store.row["expires_at"]) == clock.now + timedelta(hours=2)


async def test_200_concurrent_gets_in_one_process_authenticate_once(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    tokens = service(store, auth, cipher, clock)
    results = await asyncio.gather(*(tokens.get() for _ in range(200)))
    assert set(results) == {"partner-token-1"}
    assert auth.calls == 1


async def test_two_processes_sharing_the_store_authenticate_once(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    first = service(store, auth, cipher, clock, holder="p1")
    second = service(store, auth, cipher, clock, holder="p2")
    results = await asyncio.gather(*(s.get() for _ in range(100) for s in (first, second)))
    assert set(results) == {"partner-token-1"}
    assert auth.calls == 1


async def test_cached_token_is_reused_without_database_calls(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    tokens = service(store, auth, cipher, clock)
    await tokens.get()
    calls = len(store.calls)
    clock.advance(timedelta(minutes=89))  # 89 minutes old: still fresh
    assert await tokens.get() == "partner-token-1"
    assert len(store.calls) == calls


async def test_a_token_90_minutes_old_is_renewed_as_the_spec_advises(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    tokens = service(store, auth, cipher, clock)
    await tokens.get()
    clock.advance(timedelta(minutes=91))  # 91 minutes old, 29 left
    assert await tokens.get() == "partner-token-2"
    assert auth.calls == 2


async def test_restart_reuses_the_stored_token(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    await service(store, auth, cipher, clock).get()
    restarted = service(store, auth, cipher, clock)
    assert await restarted.get() == "partner-token-1"
    assert auth.calls == 1


async def test_invalidate_makes_next_get_return_a_new_token(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    tokens = service(store, auth, cipher, clock)
    rejected = await tokens.get()
    await tokens.invalidate(rejected)
    assert await tokens.get() == "partner-token-2"
    assert auth.calls == 2


async def test_forced_refresh_asks_for_more_validity_than_any_token_has(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    tokens = service(store, auth, cipher, clock)
    await tokens.invalidate(await tokens.get())
    await tokens.get()
    begins = [args for fn, args in store.calls if fn == "ob_partner_token_begin_refresh"]
    assert begins[0] == {"p_holder": "p1", "p_lease_seconds": 30, "p_min_valid_seconds": 1800}
    assert begins[1]["p_min_valid_seconds"] > 7200


async def test_many_callers_rejecting_the_same_token_cause_one_refresh(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    tokens = service(store, auth, cipher, clock)
    rejected = await tokens.get()

    async def caller() -> str:
        await tokens.invalidate(rejected)
        return await tokens.get()

    assert set(await asyncio.gather(*(caller() for _ in range(50)))) == {"partner-token-2"}
    assert auth.calls == 2


async def test_other_process_uses_the_replacement_of_a_rejected_token(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    first = service(store, auth, cipher, clock, holder="p1")
    second = service(store, auth, cipher, clock, holder="p2")
    rejected = await first.get()
    assert await second.get() == rejected
    await first.invalidate(rejected)
    assert await first.get() == "partner-token-2"
    await second.invalidate(rejected)
    assert await second.get() == "partner-token-2"
    assert auth.calls == 2


async def test_token_stored_under_another_key_is_replaced(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    await service(store, auth, TokenCipher(new_key()), clock).get()
    assert await service(store, auth, cipher, clock).get() == "partner-token-2"


async def test_waiting_for_another_holders_lease_is_bounded(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    await store.call(
        "ob_partner_token_begin_refresh",
        {"p_holder": "stuck", "p_lease_seconds": 600, "p_min_valid_seconds": 900},
    )

    async def no_sleep(_: float) -> None:
        return None

    tokens = service(store, auth, cipher, clock, lease_seconds=1, sleep=no_sleep)
    with pytest.raises(TokenServiceUnavailable):
        await tokens.get()
    assert auth.calls == 0


async def test_two_processes_with_a_wrong_secret_make_two_authentications_in_all(
    store: InMemoryTokenStore, cipher: TokenCipher, clock: Clock
) -> None:
    attempts = 0

    async def refused() -> str:
        nonlocal attempts
        attempts += 1
        raise AuthenticationFailed(401, 10001, "Invalid credentials")

    processes = [service(store, refused, cipher, clock, holder=h) for h in ("p1", "p2")]
    for _ in range(10):
        for tokens in processes:
            with pytest.raises(AuthenticationFailed):
                await tokens.get()
    assert attempts == 2 and store.failures == 2  # Mastercard locks at five
    clock.advance(timedelta(minutes=29))
    with pytest.raises(AuthenticationHeld):
        await processes[0].get()
    assert attempts == 2
    # A timed hold lets one attempt through when it passes, then holds again; the fourth failure in a
    # row holds until an operator resets, and there is never a fifth.
    for _ in range(4):
        clock.advance(timedelta(minutes=31))
        for tokens in processes:
            with pytest.raises(AuthenticationFailed):
                await tokens.get()
    assert attempts == 4 and store.held_until == datetime.max.replace(tzinfo=UTC)


async def test_a_hold_of_zero_waits_for_the_operator_and_a_success_clears_the_count(
    store: InMemoryTokenStore, auth: FakePartnerAuth, cipher: TokenCipher, clock: Clock
) -> None:
    async def refused() -> str:
        raise AuthenticationFailed(401, 10001, "Invalid credentials")

    held: list[bool] = []
    bad = service(store, refused, cipher, clock, auth_hold=timedelta(0), on_auth_failure=held.append)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            await bad.get()
    clock.advance(timedelta(days=1))
    with pytest.raises(AuthenticationHeld):
        await bad.get()
    assert held == [False, True] and store.failures == 2
    store.failures, store.held_until = 0, None  # python -m service auth reset
    assert await service(store, auth, cipher, clock, holder="p2").get() == "partner-token-1"
    assert store.failures == 0
