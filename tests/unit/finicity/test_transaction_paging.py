"""iter_account_transaction_pages reads exactly `found` records with start/limit paging."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_httpx import HTTPXMock

from service.finicity.client import FinicityClient
from service.finicity.models import Transactions


def page(found: int, first_id: int, count: int) -> dict[str, object]:
    return {
        "found": found,
        "displaying": count,
        "moreAvailable": "true" if first_id + count <= found else "false",
        "fromDate": "1",
        "toDate": "2",
        "sort": "asc",
        "transactions": [
            {
                "id": first_id + i,
                "amount": -1.5,
                "accountId": 7,
                "customerId": 9,
                "status": "active",
                "description": "x",
                "createdDate": 1,
            }
            for i in range(count)
        ],
    }


async def collect(client: FinicityClient) -> list[Transactions]:
    return [p async for p in client.iter_account_transaction_pages("9", "7", 1, 2)]


def starts(httpx_mock: HTTPXMock) -> list[str]:
    return [r.url.params["start"] for r in httpx_mock.get_requests()]


@pytest.mark.parametrize(("found", "expected_starts"), [(2500, ["1", "1001", "2001"]), (2000, ["1", "1001"])])
async def test_pages_until_found_records_are_read(
    client: FinicityClient, httpx_mock: HTTPXMock, found: int, expected_starts: list[str]
) -> None:
    for index, start in enumerate(expected_starts):
        httpx_mock.add_response(json=page(found, int(start), min(1000, found - index * 1000)))
    pages = await collect(client)
    ids = [t.id for p in pages for t in p.transactions]
    assert len(ids) == found == len(set(ids))
    assert starts(httpx_mock) == expected_starts
    assert {r.url.params["limit"] for r in httpx_mock.get_requests()} == {"1000"}


async def test_found_zero_makes_one_request_and_yields_nothing(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=page(0, 1, 0))
    assert await collect(client) == []
    assert starts(httpx_mock) == ["1"]


async def test_an_empty_page_before_found_stops_paging(client: FinicityClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=page(3000, 1, 1000))
    httpx_mock.add_response(json=page(3000, 1001, 0))
    pages = await collect(client)
    assert len(pages) == 1
    assert starts(httpx_mock) == ["1", "1001"]


async def test_a_short_page_advances_start_by_records_read(
    make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock
) -> None:
    client = make_client()
    httpx_mock.add_response(json=page(1500, 1, 900))
    httpx_mock.add_response(json=page(1500, 901, 600))
    pages = await collect(client)
    assert sum(len(p.transactions) for p in pages) == 1500
    assert starts(httpx_mock) == ["1", "901"]
