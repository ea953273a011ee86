"""The client asks the call budget before every request it sends, retries included."""

from __future__ import annotations

from collections.abc import Callable

from pytest_httpx import HTTPXMock

from service.finicity.client import FinicityClient


async def test_every_attempt_waits_for_a_permit(
        make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock) -> None:
    permits: list[int] = []

    async def permit() -> None:
        permits.append(len(httpx_mock.get_requests()))

    client = make_client()
    client.call_permit = permit
    httpx_mock.add_response(status_code=503, text="busy")
    httpx_mock.add_response(json={"accounts": []})
    await client.list_accounts("1005061234")
    # one permit before each of the two requests, each asked before its request went out
    assert permits == [0, 1]
    assert len(httpx_mock.get_requests()) == 2
