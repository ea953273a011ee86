"""Shared fixtures: a FinicityClient whose sleeps are recorded instead of slept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from service.finicity.client import FinicityClient

BASE_URL = "https://api.finicity.test"
APP_KEY = "app-key-0123456789abcdef"
PARTNER_ID = "1234583871234"
PARTNER_SECRET = "partner-secret-aqJ5Ic4SEVx2IgDQ6oR4"


class FakeTokens:
    """Hands out tok-1, then tok-2 after tok-1 is invalidated, and so on."""

    def __init__(self) -> None:
        self.generation = 1
        self.invalidated: list[str] = []

    async def get(self) -> str:
        return f"tok-{self.generation}"

    async def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if token == f"tok-{self.generation}":
            self.generation += 1


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def make_client(
    tokens: FakeTokens, sleeps: SleepRecorder
) -> AsyncIterator[Callable[..., FinicityClient]]:
    made: list[FinicityClient] = []

    def make(**overrides: Any) -> FinicityClient:
        options: dict[str, Any] = {
            "base_url": BASE_URL,
            "app_key": SecretStr(APP_KEY),
            "partner_id": PARTNER_ID,
            "partner_secret": SecretStr(PARTNER_SECRET),
            "token_provider": tokens,
            "sleep": sleeps,
            "rng": lambda: 0.5,
        }
        options.update(overrides)
        client = FinicityClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: Callable[..., FinicityClient]) -> FinicityClient:
    return make_client()
