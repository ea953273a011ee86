"""The `subscriptions` CLI against the sandbox's OBWMS subscription API (in process, over ASGI)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from sandbox.app import create_app
from sandbox.config import SandboxConfig
from service.cli_subscriptions import subscriptions
from service.finicity.client import FinicityClient

CONFIG = SandboxConfig(partner_id="1445585709680", partner_secret="cli-test-secret-1", app_key="cli-test-app-key")
URL = "https://cpa.example.test/webhooks/mastercard"
EVENT = "authorization.expiration.reminder"


class AuthenticateOnce:
    def __init__(self, client: FinicityClient) -> None:
        self.client = client
        self.token: str | None = None

    async def get(self) -> str:
        if self.token is None:
            self.token = await self.client.authenticate()
        return self.token

    async def invalidate(self, token: str) -> None:
        self.token = None


@pytest.fixture
def invoke() -> Callable[..., Any]:
    sandbox = create_app(CONFIG)

    @asynccontextmanager
    async def factory() -> AsyncIterator[FinicityClient]:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox))
        client = FinicityClient("http://sandbox.test", SecretStr(CONFIG.app_key), CONFIG.partner_id,
                                SecretStr(CONFIG.partner_secret), http=http, max_retries=0)
        client.token_provider = AuthenticateOnce(client)
        try:
            yield client
        finally:
            await http.aclose()

    def run(*args: str, client_factory: Callable[[], AbstractAsyncContextManager[Any]] = factory) -> Any:
        return CliRunner().invoke(subscriptions, list(args), obj={"client_factory": client_factory})

    return run


def printed_json(output: str) -> list[dict[str, Any]]:
    """The JSON document in the output (log lines, if logging goes to stdout, are skipped)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "[")
    end = next(i for i in range(len(lines) - 1, -1, -1) if lines[i] == "]")
    return json.loads("\n".join(lines[start:end + 1]))


def create(invoke: Callable[..., Any], *events: str) -> dict[str, Any]:
    args = ["create", "--url", URL, "--json"]
    for event in events or (EVENT,):
        args += ["--event", event]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return printed_json(result.output)[0]


def test_create_prints_the_new_subscription(invoke: Callable[..., Any]) -> None:
    created = create(invoke)
    assert created["url"] == URL
    assert [e["name"] for e in created["events"]] == [EVENT]
    assert len(created["subscriptionId"]) == 36


def test_list_shows_every_subscription_as_a_table(invoke: Callable[..., Any]) -> None:
    first, second = create(invoke), create(invoke, "authorization.accesstoken.expiry")
    result = invoke("list")
    assert result.exit_code == 0, result.output
    assert first["subscriptionId"] in result.output and second["subscriptionId"] in result.output


def test_get_shows_one_subscription(invoke: Callable[..., Any]) -> None:
    created = create(invoke)
    result = invoke("get", created["subscriptionId"], "--json")
    assert result.exit_code == 0, result.output
    assert printed_json(result.output)[0]["subscriptionId"] == created["subscriptionId"]


def test_update_replaces_the_url_and_events(invoke: Callable[..., Any]) -> None:
    created = create(invoke)
    result = invoke("update", created["subscriptionId"], "--url", URL + "/v2", "--event", "a.b", "--event", "c.d",
                    "--json")
    assert result.exit_code == 0, result.output
    updated = printed_json(result.output)[0]
    assert updated["url"] == URL + "/v2"
    assert [e["name"] for e in updated["events"]] == ["a.b", "c.d"]


def test_delete_removes_it_and_a_second_delete_exits_1(invoke: Callable[..., Any]) -> None:
    created = create(invoke)
    assert invoke("delete", created["subscriptionId"]).exit_code == 0
    again = invoke("delete", created["subscriptionId"])
    assert again.exit_code == 1
    assert "no subscription" in again.output


def test_getting_an_unknown_subscription_exits_1_with_the_api_code(invoke: Callable[..., Any]) -> None:
    result = invoke("get", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 1
    assert "1501" in result.output


def test_create_without_an_event_is_a_usage_error(invoke: Callable[..., Any]) -> None:
    result = invoke("create", "--url", URL)
    assert result.exit_code == 2
    assert "--event" in result.output


def test_an_unknown_command_is_a_usage_error(invoke: Callable[..., Any]) -> None:
    assert invoke("rename", "x").exit_code == 2
