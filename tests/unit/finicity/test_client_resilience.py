"""Retries, backoff, the one-shot token refresh, and transport failures."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pytest_httpx import HTTPXMock
from structlog.testing import capture_logs

from service.finicity.client import FinicityClient
from service.finicity.errors import (
    AuthenticationFailed,
    BadRequest,
    RateLimited,
    ServerError,
    TokenExpired,
    TransportError,
)

from .conftest import APP_KEY, PARTNER_SECRET, FakeTokens, SleepRecorder

ACCOUNTS_OK: dict[str, list[object]] = {"accounts": []}
EXPIRED_TOKEN = {"code": "10023", "message": "Expired (Finicity-App-Token)"}
RATE_LIMITED = {"code": "3300001", "message": "Too many request. Please try after some time"}


async def test_429_is_retried_after_the_retry_after_seconds(
    client: FinicityClient, httpx_mock: HTTPXMock, sleeps: SleepRecorder
) -> None:
    httpx_mock.add_response(status_code=429, json=RATE_LIMITED, headers={"Retry-After": "7"})
    httpx_mock.add_response(json=ACCOUNTS_OK)
    assert await client.list_accounts("1") == []
    assert sleeps.delays == [7.0]


async def test_503_is_retried_with_jittered_exponential_backoff(
    client: FinicityClient, httpx_mock: HTTPXMock, sleeps: SleepRecorder
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=503, text="unavailable")
    httpx_mock.add_response(json=ACCOUNTS_OK)
    await client.list_accounts("1")
    assert sleeps.delays == [0.25, 0.5, 1.0]  # rng 0.5 x min(20, 0.5 * 2**attempt)


async def test_retries_are_bounded_then_the_typed_error_is_raised(
    make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock, sleeps: SleepRecorder
) -> None:
    client = make_client(max_retries=2)
    for _ in range(3):
        httpx_mock.add_response(status_code=429, json=RATE_LIMITED)
    with pytest.raises(RateLimited) as caught:
        await client.list_accounts("1")
    assert caught.value.code == "3300001"
    assert len(httpx_mock.get_requests()) == 3
    assert len(sleeps.delays) == 2


async def test_persistent_500_ends_in_server_error(
    make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock
) -> None:
    client = make_client(max_retries=1)
    httpx_mock.add_response(status_code=500, json={"code": 103, "message": "Invalid credentials"})
    httpx_mock.add_response(status_code=500, json={"code": 103, "message": "Invalid credentials"})
    with pytest.raises(ServerError) as caught:
        await client.list_accounts("1")
    assert caught.value.code == "103"


async def test_400_is_not_retried(
    client: FinicityClient, httpx_mock: HTTPXMock, sleeps: SleepRecorder
) -> None:
    httpx_mock.add_response(status_code=400, json={"code": 41003, "message": "start < 1"})
    with pytest.raises(BadRequest):
        await client.list_accounts("1")
    assert sleeps.delays == []


async def test_expired_token_401_refreshes_once_and_retries(
    client: FinicityClient, httpx_mock: HTTPXMock, tokens: FakeTokens, sleeps: SleepRecorder
) -> None:
    httpx_mock.add_response(
        status_code=401, json={"code": "10023", "message": "Expired (Finicity-App-Token)"}
    )
    httpx_mock.add_response(json=ACCOUNTS_OK)
    assert await client.list_accounts("1") == []
    first, second = httpx_mock.get_requests()
    assert (first.headers["Finicity-App-Token"], second.headers["Finicity-App-Token"]) == ("tok-1", "tok-2")
    assert tokens.invalidated == ["tok-1"]
    assert sleeps.delays == []


async def test_numeric_invalid_token_code_also_triggers_refresh(
    client: FinicityClient, httpx_mock: HTTPXMock, tokens: FakeTokens
) -> None:
    httpx_mock.add_response(status_code=401, json={"code": 10022, "message": "Invalid (Finicity-App-Token)"})
    httpx_mock.add_response(json=ACCOUNTS_OK)
    await client.list_accounts("1")
    assert tokens.invalidated == ["tok-1"]


async def test_second_token_401_after_refresh_is_raised_not_looped(
    client: FinicityClient, httpx_mock: HTTPXMock, tokens: FakeTokens
) -> None:
    httpx_mock.add_response(
        status_code=401, json={"code": "10023", "message": "Expired (Finicity-App-Token)"}
    )
    httpx_mock.add_response(
        status_code=401, json={"code": "10023", "message": "Expired (Finicity-App-Token)"}
    )
    with pytest.raises(TokenExpired):
        await client.list_accounts("1")
    assert len(httpx_mock.get_requests()) == 2
    assert tokens.invalidated == ["tok-1"]


async def test_plain_text_401_for_app_key_is_not_retried(
    client: FinicityClient, httpx_mock: HTTPXMock, tokens: FakeTokens
) -> None:
    httpx_mock.add_response(
        status_code=401, text="Invalid (Finicity-App-Key)", headers={"Content-Type": "text/plain"}
    )
    with pytest.raises(AuthenticationFailed) as caught:
        await client.list_accounts("1")
    assert caught.value.message == "Invalid (Finicity-App-Key)"
    assert tokens.invalidated == []


async def test_read_timeout_is_retried_then_succeeds(
    client: FinicityClient, httpx_mock: HTTPXMock, sleeps: SleepRecorder
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    httpx_mock.add_response(json=ACCOUNTS_OK)
    assert await client.list_accounts("1") == []
    assert len(sleeps.delays) == 1


async def test_persistent_timeouts_end_in_transport_error(
    make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock
) -> None:
    client = make_client(max_retries=2)
    for _ in range(3):
        httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    with pytest.raises(TransportError) as caught:
        await client.list_accounts("1")
    assert caught.value.status is None
    assert "ReadTimeout" in caught.value.message
    assert len(httpx_mock.get_requests()) == 3


async def test_send_connect_email_is_not_retried_after_an_ambiguous_read_timeout(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    with pytest.raises(TransportError):
        await client.send_connect_email("1", "c0ffee", "b@x.com", "Bob", None, None)
    assert len(httpx_mock.get_requests()) == 1


async def test_send_connect_email_is_retried_when_the_server_cannot_have_acted(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(status_code=503, text="busy")
    httpx_mock.add_response(status_code=429, json=RATE_LIMITED)
    httpx_mock.add_response(
        json={"link": "https://connect2.finicity.com?x", "emailConfig": {"to": "b@x.com"}}
    )
    sent = await client.send_connect_email("1", "c0ffee", "b@x.com", "Bob", None, None)
    assert sent.link.startswith("https://connect2")
    assert len(httpx_mock.get_requests()) == 4


async def test_send_connect_email_is_not_retried_after_a_500(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=500, text="oops")
    with pytest.raises(ServerError):
        await client.send_connect_email("1", "c0ffee", "b@x.com", "Bob", None, None)


async def test_customer_create_is_retried_after_a_timeout(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    # Safe: if the first attempt created the customer, the retry gets 409 and the flow looks it up.
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    httpx_mock.add_response(status_code=201, json={"id": "9", "username": "cust_1", "createdDate": 1})
    assert (await client.create_customer("cust_1", testing=True)).id == "9"


async def test_errors_never_contain_secrets_or_tokens(client: FinicityClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=400, json={"code": 1, "message": f"bad {APP_KEY} {PARTNER_SECRET} tok-1"}
    )
    with pytest.raises(BadRequest) as caught:
        await client.list_accounts("1")
    text = str(caught.value)
    assert APP_KEY not in text and PARTNER_SECRET not in text and "tok-1" not in text


async def test_logs_carry_path_templates_and_never_tokens_or_ids(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=401, json=EXPIRED_TOKEN)
    httpx_mock.add_response(status_code=429, json=RATE_LIMITED)
    httpx_mock.add_response(json=ACCOUNTS_OK)
    with capture_logs() as logs:
        await client.list_accounts("1005061234")
    text = repr(logs)
    assert {entry["path"] for entry in logs} == {"/aggregation/v1/customers/{customerId}/accounts"}
    for secret in (APP_KEY, PARTNER_SECRET, "tok-1", "tok-2", "1005061234"):
        assert secret not in text
