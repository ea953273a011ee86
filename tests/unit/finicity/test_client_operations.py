"""Each operation's verb, path, query and body per the spec, and what it parses."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from service.finicity.client import FinicityClient
from service.finicity.errors import Conflict, NotFound, UnexpectedResponse
from service.finicity.models import Birthday, NewConsumer, Subscription, SubscriptionCondition, WebhookEvent

from .conftest import APP_KEY, BASE_URL, PARTNER_ID, PARTNER_SECRET

ACCOUNT = {
    "id": "5011648377",
    "number": "201940541",
    "accountNumberDisplay": "7528",
    "name": "Super Checking",
    "balance": 401.26,
    "type": "checking",
    "status": "active",
    "customerId": "1005061234",
    "institutionId": "4222",
    "createdDate": 1607450357,
    "currency": "USD",
    "institutionLoginId": 1007302745,
}
REFRESH_ID = "bec83f1a-5f65-44f5-8f00-b4a0fc60c2cc"
CONSUMER = NewConsumer(
    first_name="Maya", last_name="Lopez", state="OR", birthday=Birthday(year=1984, month=4, day_of_month=12),
    email="maya@maple.test",
)
SUBSCRIPTION_ID = "661f3c48-f596-423b-81f5-d275d4dd1345"
SUBSCRIPTION: dict[str, object] = {
    "subscriptionId": SUBSCRIPTION_ID,
    "url": "https://svc.example/webhooks/mastercard",
    "events": [
        {
            "webhookEventId": "661f3c48-f596-423b-81f5-d275d4dd1346",
            "name": "authorization.expiration.reminder",
            "status": "pending",
        }
    ],
    "status": "pending",
    "createdDate": "2024-03-16T06:06:20Z",
    "lastUpdatedDate": "2024-03-16T06:06:20Z",
}


def only_request(httpx_mock: HTTPXMock) -> httpx.Request:
    requests = httpx_mock.get_requests()
    assert len(requests) == 1
    return requests[0]


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


async def test_every_call_sends_app_key_app_token_and_json_headers(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"accounts": []})
    await client.list_accounts("1")
    headers = only_request(httpx_mock).headers
    assert headers["Finicity-App-Key"] == APP_KEY
    assert headers["Finicity-App-Token"] == "tok-1"
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json"


async def test_authenticate_posts_partner_credentials_without_app_token(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"token": "YBh22Sb9Es6e66Q7lWdt"})
    assert await client.authenticate() == "YBh22Sb9Es6e66Q7lWdt"
    request = only_request(httpx_mock)
    assert (request.method, request.url) == ("POST", f"{BASE_URL}/aggregation/v2/partners/authentication")
    assert body_of(request) == {"partnerId": PARTNER_ID, "partnerSecret": PARTNER_SECRET}
    assert request.headers["Finicity-App-Key"] == APP_KEY
    assert "Finicity-App-Token" not in request.headers


@pytest.mark.parametrize(("testing", "path"), [(True, "testing"), (False, "active")])
async def test_create_customer_posts_new_customer_to_its_type_path(
    client: FinicityClient, httpx_mock: HTTPXMock, testing: bool, path: str
) -> None:
    httpx_mock.add_response(
        status_code=201, json={"id": "1005061234", "username": "cust_1", "createdDate": 1}
    )
    created = await client.create_customer("cust_1", "John", None, "j@example.com", testing=testing)
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("POST", f"/aggregation/v2/customers/{path}")
    assert body_of(request) == {"username": "cust_1", "firstName": "John", "email": "j@example.com"}
    assert created.id == "1005061234"


async def test_create_customer_duplicate_username_raises_conflict_110002(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=409, json={"code": "110002", "message": "Username is not available."})
    with pytest.raises(Conflict) as caught:
        await client.create_customer("cust_1", "John", testing=True)
    assert caught.value.code == "110002"


async def test_find_customer_by_username_queries_exact_username(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        json={
            "found": 1,
            "displaying": 1,
            "moreAvailable": False,
            "customers": [
                {"id": "1005061234", "username": "cust_1", "type": "testing", "createdDate": "1607450357"}
            ],
        }
    )
    customer = await client.find_customer_by_username("cust_1")
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("GET", "/aggregation/v1/customers")
    assert dict(request.url.params) == {"username": "cust_1"}
    assert customer is not None and customer.id == "1005061234" and customer.created_date == 1607450357


async def test_find_customer_by_username_returns_none_when_unknown(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"found": 0, "displaying": 0, "moreAvailable": "false", "customers": []})
    assert await client.find_customer_by_username("nobody_1") is None


async def test_an_unknown_customer_raises_not_found_with_numeric_code(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=404, json={"code": 14001, "message": "Customer not found."})
    with pytest.raises(NotFound) as caught:
        await client.list_accounts("999")
    assert caught.value.code == "14001"
    assert only_request(httpx_mock).url.path == "/aggregation/v1/customers/999/accounts"


async def test_delete_customer_returns_true_on_204(client: FinicityClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=204)
    assert await client.delete_customer("1005061234") is True
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("DELETE", "/aggregation/v1/customers/1005061234")


async def test_delete_customer_already_gone_returns_false(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=404, json={"code": 14001, "message": "Customer not found."})
    assert await client.delete_customer("1005061234") is False


async def test_send_connect_email_sends_email_options(client: FinicityClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        json={"link": "https://connect2.finicity.com?x=1", "emailConfig": {"to": "b@x.com"}}
    )
    sent = await client.send_connect_email(
        "1", "c0ffee", "b@x.com", "Bob", "https://app/done", "https://svc/webhooks/connect", {"r": "9"}
    )
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("POST", "/connect/v2/send/email")
    assert body_of(request) == {
        "partnerId": PARTNER_ID,
        "customerId": "1",
        "consumerId": "c0ffee",
        "redirectUri": "https://app/done",
        "webhook": "https://svc/webhooks/connect",
        "webhookContentType": "application/json",
        "webhookData": {"r": "9"},
        "email": {"to": "b@x.com", "firstName": "Bob"},
    }
    assert sent.email_config == {"to": "b@x.com"}


async def test_generate_fix_link_sends_institution_login_id_as_string(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"link": "https://connect2.finicity.com?fix=1"})
    await client.generate_fix_link("1", 1007302745, "https://app/done", "https://svc/webhooks/connect")
    request = only_request(httpx_mock)
    assert request.url.path == "/connect/v2/generate/fix"
    assert body_of(request)["institutionLoginId"] == "1007302745"


async def test_list_accounts_parses_accounts_with_masked_numbers(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"accounts": [ACCOUNT]})
    accounts = await client.list_accounts("1005061234")
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("GET", "/aggregation/v1/customers/1005061234/accounts")
    assert accounts[0].number_masked == "****0541"
    assert accounts[0].balance == Decimal("401.26")


async def test_consumer_get_returns_none_when_the_customer_has_none(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=404, json={"code": "10100", "message": "Cannot find consumer for customer"})
    assert await client.get_consumer_for_customer("1005061234") is None
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("GET", "/decisioning/v1/customers/1005061234/consumer")


async def test_create_consumer_sends_birthday_never_ssn(client: FinicityClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=201, json={"id": "0bf46322c167b562e6cbed9d40e19a4c", "createdDate": 1, "customerId": 1005061234}
    )
    created = await client.create_consumer("1005061234", CONSUMER)
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("POST", "/decisioning/v1/customers/1005061234/consumer")
    assert body_of(request) == {
        "firstName": "Maya",
        "lastName": "Lopez",
        "state": "OR",
        "birthday": {"year": 1984, "month": 4, "dayOfMonth": 12},
        "email": "maya@maple.test",
    }
    assert created.id == "0bf46322c167b562e6cbed9d40e19a4c" and created.customer_id == "1005061234"


async def test_refresh_transactions_posts_mode_and_login_as_string(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=202,
        json={
            "refreshId": REFRESH_ID,
            "customerId": "1005061234",
            "institutionLoginId": "1007302745",
            "mode": "historic",
            "status": "NEW",
            "createdAt": "2026-12-02T10:00:00.000Z",
        },
    )
    refresh = await client.refresh_transactions("1005061234", "historic", institution_login_id=1007302745)
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("POST", "/aggregation/customers/1005061234/transactions/refreshes")
    assert body_of(request) == {"institutionLoginId": "1007302745", "mode": "historic"}
    assert (refresh.refresh_id, refresh.status) == (REFRESH_ID, "NEW")
    with pytest.raises(ValueError):
        await client.refresh_transactions("1005061234", "standard")


async def test_refresh_status_parses_a_final_failure(client: FinicityClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        json={
            "refreshId": REFRESH_ID,
            "customerId": "1005061234",
            "mode": "historic",
            "status": "FAILED",
            "totalCount": 1,
            "successCount": 0,
            "failedCount": 1,
            "accounts": [
                {"accountId": "5011648377", "code": 325, "message": "Your data is currently being aggregated"}
            ],
        }
    )
    status = await client.get_transaction_refresh_status("1005061234", REFRESH_ID)
    path = only_request(httpx_mock).url.path
    assert path == f"/aggregation/customers/1005061234/transactions/refreshes/{REFRESH_ID}"
    assert status.final and status.failure_reason() == "Your data is currently being aggregated"


async def test_account_transactions_use_v4_path_and_paging_query(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        content=(
            b'{"found":1,"displaying":1,"moreAvailable":"false","fromDate":"100","toDate":"200","sort":"asc",'
            b'"transactions":[{"id":21284820852,"amount":-1234.56,"accountId":5011648377,"customerId":1005061234,'
            b'"status":"pending","description":"COFFEE","createdDate":150}]}'
        )
    )
    page = await client.get_account_transactions("1005061234", "5011648377", 100, 200, start=1001)
    request = only_request(httpx_mock)
    assert request.url.path == "/aggregation/v4/customers/1005061234/accounts/5011648377/transactions"
    assert dict(request.url.params) == {
        "fromDate": "100",
        "toDate": "200",
        "start": "1001",
        "limit": "1000",
        "sort": "asc",
        "includePending": "true",
    }
    assert page.transactions[0].amount == Decimal("-1234.56")
    assert page.transactions[0].id == 21284820852


async def test_authorization_details_path_has_no_version_prefix(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        json={
            "institutionLoginId": 7008461438,
            "authorizationStartDate": "2024-01-01T16:11:23.20Z",
            "authorizationEndDate": "2024-12-31T16:11:23.20Z",
        }
    )
    details = await client.get_authorization_details(7008461438)
    assert (
        only_request(httpx_mock).url.path == "/customers/institution-logins/7008461438/authorization-details"
    )
    assert details is not None and details.authorization_end_date.year == 2024


async def test_authorization_details_absent_for_legacy_login_is_none(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=404, json={"code": "3003", "status": "404", "message": "Resource Not Found."}
    )
    assert await client.get_authorization_details(1) is None


async def test_create_subscription_posts_subscription_with_obwms_headers(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=201, json=SUBSCRIPTION)
    subscription = Subscription(
        url="https://svc.example/webhooks/mastercard",
        events=[
            WebhookEvent(
                name="authorization.expiration.reminder",
                condition=SubscriptionCondition(subscribe_for="institutionId"),
            )
        ],
    )
    detail = await client.create_subscription(subscription)
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == ("POST", "/notification-subscriptions/webhooks")
    assert body_of(request) == {
        "url": "https://svc.example/webhooks/mastercard",
        "events": [
            {"name": "authorization.expiration.reminder", "condition": {"subscribeFor": "institutionId"}}
        ],
    }
    assert request.headers["App-Key"] == APP_KEY
    assert request.headers["App-Token"] == request.headers["Finicity-App-Token"] == "tok-1"
    assert request.headers["X-External-Request-Id"]
    assert detail.subscription_id == SUBSCRIPTION_ID


async def test_list_subscriptions_sends_offset_and_limit(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        json={"count": 1, "offset": 1, "limit": 10, "total": 1, "subscriptions": [SUBSCRIPTION]}
    )
    listed = await client.list_subscriptions()
    assert dict(only_request(httpx_mock).url.params) == {"offset": "1", "limit": "10"}
    assert listed.subscriptions[0].events[0].name == "authorization.expiration.reminder"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_subscription_by_id_operations_use_its_path(
    make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock, method: str
) -> None:
    client = make_client()
    sid = SUBSCRIPTION_ID
    httpx_mock.add_response(
        status_code=204 if method == "DELETE" else 200, json=None if method == "DELETE" else SUBSCRIPTION
    )
    if method == "GET":
        await client.get_subscription(sid)
    elif method == "PUT":
        await client.update_subscription(sid, Subscription(events=[WebhookEvent(name="x.y")]))
    else:
        assert await client.delete_subscription(sid) is True
    request = only_request(httpx_mock)
    assert (request.method, request.url.path) == (method, f"/notification-subscriptions/webhooks/{sid}")


async def test_body_not_matching_spec_raises_unexpected_response_without_values(
    client: FinicityClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"accounts": [{**ACCOUNT, "institutionLoginId": "not-a-number"}]})
    with pytest.raises(UnexpectedResponse) as caught:
        await client.list_accounts("1")
    assert "institution_login_id" in caught.value.message or "institutionLoginId" in caught.value.message
    assert "not-a-number" not in str(caught.value)
    assert "201940541" not in str(caught.value)


async def test_on_call_hook_gets_path_template_without_ids(
    make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock
) -> None:
    calls: list[tuple[Any, ...]] = []
    client = make_client(on_call=lambda *args: calls.append(args))
    httpx_mock.add_response(status_code=404, json={"code": 14001, "message": "Customer not found."})
    with pytest.raises(NotFound):
        await client.list_accounts("1005061234")
    method, template, status, duration, code = calls[0]
    assert (method, template, status, code) == ("GET", "/aggregation/v1/customers/{customerId}/accounts", 404, "14001")
    assert duration >= 0


async def test_failing_on_call_hook_does_not_fail_the_call(
    make_client: Callable[..., FinicityClient], httpx_mock: HTTPXMock
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("metrics down")

    client = make_client(on_call=broken)
    httpx_mock.add_response(json={"accounts": []})
    assert await client.list_accounts("1") == []
