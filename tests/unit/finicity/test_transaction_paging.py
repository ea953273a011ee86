"""The guarded pager: exactly `found` records with start/limit paging, and an `IncompleteRead` (never a
short or endless read) when the server's pages do not add up."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_httpx import HTTPXMock

from service.finicity.client import FinicityClient
from service.finicity.models import TransactionPage
from service.finicity.paging import IncompleteRead, page_budget


def page(found: int, first_id: int, count: int, account_id: int = 7) -> dict[str, object]:
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
                "accountId": account_id,
                "customerId": 9,
                "status": "active",
                "description": "x",
                "createdDate": 1,
            }
            for i in range(count)
        ],
    }


async def collect(client: FinicityClient) -> list[TransactionPage]:
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


async def test_an_empty_page_before_found_is_an_incomplete_read(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=page(3000, 1, 1000))
    httpx_mock.add_response(json=page(3000, 1001, 0))
    pages: list[TransactionPage] = []
    with pytest.raises(IncompleteRead) as caught:
        async for p in client.iter_account_transaction_pages("9", "7", 1, 2):
            pages.append(p)
    assert len(pages) == 1 and "empty page" in caught.value.message
    assert caught.value.retryable  # the job runs again later
    assert starts(httpx_mock) == ["1", "1001"]


async def test_a_server_repeating_its_page_is_stopped_at_the_second_copy(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    # A mock that answers every request with its example: 50,000 found, the same 1,000 rows each time.
    httpx_mock.add_response(json=page(50_000, 1, 1000), is_reusable=True)
    with pytest.raises(IncompleteRead) as caught:
        await collect(client)
    assert "repeats" in caught.value.message
    assert starts(httpx_mock) == ["1", "1001"]


async def test_a_page_repeating_one_row_of_an_earlier_page_is_an_incomplete_read(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    # Rows shifted under the offset cursor: row 1000 comes again as the first of page two.
    httpx_mock.add_response(json=page(2000, 1, 1000))
    httpx_mock.add_response(json=page(2000, 1000, 1000))
    with pytest.raises(IncompleteRead):
        await collect(client)


async def test_the_same_id_in_two_accounts_is_not_a_repeat(client: FinicityClient, httpx_mock: HTTPXMock) -> None:
    # Transaction ids are unique per account only: the customer-wide read (v3) sees both.
    httpx_mock.add_response(json=page(2000, 1, 1000, account_id=7))
    httpx_mock.add_response(json=page(2000, 1, 1000, account_id=8))
    pages = [p async for p in client.iter_customer_transaction_pages("9", 1, 2)]
    assert sum(len(p.transactions) for p in pages) == 2000
    assert httpx_mock.get_requests()[0].url.path == "/aggregation/v3/customers/9/transactions"


async def test_more_pages_than_found_allows_is_an_incomplete_read(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    # 3,000 found at 1,000 a page is 3 pages (+1); a server sending one fresh row a page would take
    # 3,000 calls and still be wrong. The pager stops at page 5.
    for n in range(1, 6):
        httpx_mock.add_response(json=page(3000, n, 1))
    with pytest.raises(IncompleteRead) as caught:
        await collect(client)
    assert "page 5" in caught.value.message
    assert len(httpx_mock.get_requests()) == 5 == page_budget(3000, 1000) + 1


def test_the_page_budget_is_one_more_than_the_pages_found_needs() -> None:
    assert [page_budget(found, 1000) for found in (0, 1, 1000, 1001, 100_000)] == [1, 2, 2, 3, 101]


async def test_a_short_page_advances_start_by_records_read(
    make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock
) -> None:
    client = make_client()
    httpx_mock.add_response(json=page(1500, 1, 900))
    httpx_mock.add_response(json=page(1500, 901, 600))
    pages = await collect(client)
    assert sum(len(p.transactions) for p in pages) == 1500
    assert starts(httpx_mock) == ["1", "901"]
