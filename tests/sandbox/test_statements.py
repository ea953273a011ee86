"""Statements and certified institutions: spec-valid answers (the client validates every response),
real PDFs that show the account and period, 404 where the institution is not certified, faults."""

import io

from pypdf import PdfReader

from tests.sandbox.support import connect, new_customer

CUSTOMERS = "/aggregation/v1/customers"


async def _account(client, h, institution_id: str = "102105", months: int = 4) -> tuple[str, str]:
    cid = await new_customer(client, h, f"stmt_{institution_id}")
    out = await connect(client, h, cid, months=months, institutionId=institution_id)
    return cid, out["accounts"][0]


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def test_statement_pdf_shows_account_and_period_and_is_deterministic(client, h):
    cid, aid = await _account(client, h)
    url = f"/aggregation/v1/customers/{cid}/accounts/{aid}/statement"
    first = await client.get(url, params={"index": 2}, headers=h)
    assert first.status_code == 200 and first.headers["content-type"] == "application/octet-stream"
    assert first.content.startswith(b"%PDF-")
    text = _text(first.content)
    assert f"Account ID: {aid}" in text and "Statement period:" in text
    again = await client.get(url, params={"index": 2}, headers=h)
    assert again.content == first.content
    other = await client.get(url, params={"index": 1}, headers=h)
    assert other.content != first.content


async def test_statement_details_then_asset(client, h):
    cid, aid = await _account(client, h, months=2)
    r = await client.get(
        f"/aggregation/v3/customers/{cid}/accounts/{aid}/statement", params={"index": "1,2,24"}, headers=h
    )
    assert r.status_code == 200, r.text
    items = r.json()["statements"]
    assert [i["index"] for i in items] == ["1", "2", "24"]
    assert items[2] == {
        "index": "24",
        "asOfDate": items[2]["asOfDate"],
        "code": "960",
        "message": "statement not found.",
    }
    one = items[0]
    start, end = one["description"].split(" - ")
    assert one["documentDate"].endswith(end[3:5]) and start[3:5] == "01"
    pdf = await client.get(f"/aggregation/v1/customers/{cid}/assets/{one['id']}", headers=h)
    assert pdf.status_code == 200 and f"Statement period: {one['description']}" in _text(pdf.content)
    direct = await client.get(f"/aggregation/v1/customers/{cid}/accounts/{aid}/statement", headers=h)
    assert direct.content == pdf.content


async def test_unknown_asset_and_index_out_of_range(client, h):
    cid, aid = await _account(client, h)
    r = await client.get(f"/aggregation/v1/customers/{cid}/assets/00000000-0000-0000-0000-000000000000-1", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 13002
    r = await client.get(f"/aggregation/v1/customers/{cid}/accounts/{aid}/statement?index=25", headers=h)
    assert r.status_code == 400
    r = await client.get(f"/aggregation/v1/customers/{cid}/accounts/{aid}/statement?index=24", headers=h)
    assert r.status_code == 404 and r.json()["code"] == 960


async def test_not_certified_institution_answers_404(client, h):
    cid, aid = await _account(client, h, institution_id="101732")
    for url in (
        f"/aggregation/v1/customers/{cid}/accounts/{aid}/statement",
        f"/aggregation/v3/customers/{cid}/accounts/{aid}/statement",
    ):
        r = await client.get(url, headers=h)
        assert r.status_code == 404 and "not available" in r.json()["message"]


async def test_statement_faults_and_stats(client, h):
    cid, aid = await _account(client, h)
    await client.post("/_sandbox/faults", json={"endpoint": "statements", "kind": "503", "count": 1})
    url = f"/aggregation/v1/customers/{cid}/accounts/{aid}/statement"
    assert (await client.get(url, headers=h)).status_code == 503
    assert (await client.get(url, headers=h)).status_code == 200
    ops = (await client.get("/_sandbox/stats")).json()["operations"]
    assert ops["GetCustomerAccountStatement"] == {"503": 1, "200": 1}


async def test_certified_institutions_filter_by_statement_product(client, h):
    r = await client.get("/institution/v2/certifiedInstitutions", params={"type": "stateAgg"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"] == len(body["institutions"]) >= 1
    assert all(i["stateAgg"] for i in body["institutions"])
    assert 101732 not in [i["id"] for i in body["institutions"]]
    r = await client.get(
        "/institution/v2/certifiedInstitutions", params={"search": "finbank", "limit": 1, "start": 2}, headers=h
    )
    assert r.json()["displaying"] == 1 and r.json()["moreAvailable"] is True


async def test_an_institution_without_assets_offers_statements_only_by_index(client, h):
    cid, aid = await _account(client, h, institution_id="102168", months=3)
    r = await client.get(
        f"/aggregation/v3/customers/{cid}/accounts/{aid}/statement", params={"index": "1,2"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert [set(i) for i in r.json()["statements"]] == [{"index", "asOfDate"}] * 2
    pdf = await client.get(f"/aggregation/v1/customers/{cid}/accounts/{aid}/statement", params={"index": 2}, headers=h)
    assert pdf.status_code == 200 and "Statement period:" in _text(pdf.content)
