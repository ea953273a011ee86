"""Statement operations: paths, query, the binary Accept header, the 180 s timeout, parsing, errors."""

from __future__ import annotations

import pytest
from pytest_httpx import HTTPXMock

from service.finicity.client import FinicityClient
from service.finicity.errors import NotFound, UnexpectedResponse

PDF = b"%PDF-1.3\n% a tiny test document\n%%EOF\n"
PREFIX = "/aggregation/v1/customers/1005061234"


@pytest.fixture
def client(make_client) -> FinicityClient:
    return make_client()


async def test_get_statement_asks_for_a_pdf_with_the_long_timeout(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(content=PDF, headers={"content-type": "application/octet-stream"})
    assert await client.get_statement("1005061234", "5011648377", 3) == PDF
    request = httpx_mock.get_requests()[0]
    assert request.url.path == f"{PREFIX}/accounts/5011648377/statement"
    assert request.url.params["index"] == "3"
    assert "application/octet-stream" in request.headers["accept"]
    assert request.extensions["timeout"]["read"] == 180.0


async def test_statement_details_join_indexes_and_keep_per_index_errors(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        json={
            "statements": [
                {
                    "index": "1",
                    "id": "a9e96186-2896-4a21-8759-450403dadf47-1063025272",
                    "asOfDate": 1669036741,
                    "description": "08/28/2020 - 09/27/2020",
                    "documentDate": "2020-09-27",
                },
                {"index": "2", "asOfDate": 1669036741, "code": "960", "message": "statement not found."},
            ]
        }
    )
    details = await client.get_statement_details("1005061234", "5011648377", [1, 2])
    request = httpx_mock.get_requests()[0]
    assert request.url.path == "/aggregation/v3/customers/1005061234/accounts/5011648377/statement"
    assert request.url.params["index"] == "1,2"
    assert [d.index for d in details] == [1, 2]
    assert details[0].id and details[0].description == "08/28/2020 - 09/27/2020" and details[0].code is None
    assert details[1].id is None and details[1].code == "960"


async def test_get_asset_returns_the_pdf_and_raises_not_found_with_code(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"https://api.finicity.test{PREFIX}/assets/a-1", content=PDF)
    assert await client.get_asset("1005061234", "a-1") == PDF
    httpx_mock.add_response(
        url=f"https://api.finicity.test{PREFIX}/assets/a-2", status_code=404, json={"code": "13002", "message": "x"}
    )
    with pytest.raises(NotFound) as caught:
        await client.get_asset("1005061234", "a-2")
    assert caught.value.code == "13002"


async def test_a_body_that_is_not_a_pdf_is_an_unexpected_response(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(content=b"<html>maintenance</html>")
    with pytest.raises(UnexpectedResponse):
        await client.get_statement("1005061234", "5011648377")


async def test_statement_download_retries_429_then_succeeds(
    client: FinicityClient, httpx_mock: HTTPXMock, sleeps
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "2"}, json={"code": 3300001})
    httpx_mock.add_response(content=PDF)
    assert await client.get_asset("1005061234", "a-1") == PDF
    assert sleeps.delays == [2.0]


async def test_certified_institutions_filter_by_product(client: FinicityClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        json={
            "found": 1,
            "displaying": 1,
            "moreAvailable": False,
            "requestedDate": 1607450357,
            "institutions": [
                {"id": 4222, "name": "FinBank", "stateAgg": True, "oauthEnabled": True, "productionStatus": {}}
            ],
        }
    )
    found = await client.get_certified_institutions(search="finbank")
    params = httpx_mock.get_requests()[0].url.params
    assert (params["type"], params["search"], params["start"], params["limit"]) == ("stateAgg", "finbank", "1", "1000")
    assert found.institutions[0].state_agg is True and found.institutions[0].id == 4222
