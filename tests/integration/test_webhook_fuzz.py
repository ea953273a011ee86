"""Fuzzing both webhook routes of a real app (real Postgres behind it): requests generated from the
service's own OpenAPI document (schemathesis) and raw malformed deliveries (hypothesis), some of them
correctly signed. None may cause a 5xx, and nothing may be stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from schemathesis.generation import GenerationMode

from service.settings import Settings
from tests.unit.webhooks.support import (
    connect_headers,
    local_settings,
    make_app,
    obwms_headers,
    table_counts,
)

ROUTES = ["/webhooks/connect", "/webhooks/mastercard"]
ACCEPTABLE = {400, 401, 413}
fuzz = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
pytestmark = pytest.mark.soak  # ~1,400 generated deliveries: make test runs them, make test-fast does not


@pytest.fixture(scope="module")
def app_settings(database_url: str) -> Settings:
    return local_settings(database_url)


@pytest.fixture(scope="module")
def client(app_settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=make_app(app_settings)) as test_client:
        yield test_client


@pytest.fixture
def untouched(database_url: str) -> Iterator[None]:
    """Row counts of every open_banking_* and private table are the same after each fuzz run."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = table_counts(conn)
        yield
        after = table_counts(conn)
        assert {t: (before[t], after.get(t)) for t in before if before[t] != after.get(t)} == {}


def send(client: TestClient[Any], path: str, body: bytes, headers: dict[str, str]) -> int:
    status = client.post(path, content=body, headers=headers).status_code
    assert status < 500, f"{path} answered {status}"
    return status


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_requests_generated_from_the_openapi_document_never_fail_the_server(
    client: TestClient[Any], untouched: None, path: str, mode: GenerationMode
) -> None:
    document = client.get("/schema/openapi.json").json()
    operation = schemathesis.openapi.from_dict(document)[path]["POST"]

    @settings(fuzz, max_examples=80)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        headers = {k: v for k, v in (case.headers or {}).items() if _latin1(k) and _latin1(v)}
        body = case.body
        raw = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
        assert send(client, path, raw, headers) in ACCEPTABLE  # never signed: never stored

    check()


def _latin1(text: object) -> bool:
    try:
        str(text).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return "\r" not in str(text) and "\n" not in str(text)


header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
junk_headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Finicity-Signature",
            "X-Mastercard-Signature",
            "X-Mastercard-Signature-Timestamp",
            "X-Mastercard-Signature-Algorithm",
            "X-Mastercard-Webhook-Message-Id",
            "Content-Type",
            "Content-Length-Ignored",
            "Authorization",
        ]
    ),
    header_values,
)
not_an_object = st.one_of(
    st.binary(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"{", b"{}}", b'{"a":NaN}', b'{"a":Infinity}', b"\xff\xfe", b'{"a":1,}', b"[" * 3000]),
    st.dictionaries(
        st.just("eventType"), st.integers() | st.lists(st.text(max_size=3)) | st.booleans(), min_size=1
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(fuzz, max_examples=700)
@given(path=st.sampled_from(ROUTES), body=st.binary(max_size=400) | not_an_object, headers=junk_headers)
def test_unsigned_or_badly_signed_deliveries_are_refused(
    client: TestClient[Any], untouched: None, path: str, body: bytes, headers: dict[str, str]
) -> None:
    assert send(client, path, body, headers) in ACCEPTABLE


@settings(fuzz, max_examples=600)
@given(path=st.sampled_from(ROUTES), body=not_an_object, drop_message_id=st.booleans())
def test_correctly_signed_malformed_deliveries_are_400(
    client: TestClient[Any], app_settings: Settings, untouched: None, path: str, body: bytes, drop_message_id: bool
) -> None:
    if path == ROUTES[0]:
        headers = connect_headers(body, app_settings.open_banking_partner_secret.get_secret_value())
    else:
        headers = obwms_headers(body)
        if drop_message_id:
            del headers["X-Mastercard-Webhook-Message-Id"]
    assert send(client, path, body, headers) == 400
