"""Every request the client sends is valid by the official spec: the sandbox's judge (openapi-core over
specs/openbanking-us.yaml, strict mode) checks the exact requests the client put on the wire."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from sandbox.validation import judge_for
from service.finicity.client import FinicityClient
from service.finicity.models import Birthday, NewConsumer, Subscription, WebhookEvent

REFRESH_ID = "bec83f1a-5f65-44f5-8f00-b4a0fc60c2cc"
SUB_ID = "661f3c48-f596-423b-81f5-d275d4dd1345"
ACCOUNT = {"id": "5", "institutionLoginId": 7, "customerId": "1"}
SUB = {"subscriptionId": SUB_ID, "events": [], "status": "active"}
PAGE = {"found": 0, "displaying": 0, "moreAvailable": "false", "transactions": []}
CONSUMER = NewConsumer(
    first_name="Maya",
    last_name="Lopez",
    state="OR",
    birthday=Birthday(year=1984, month=4, day_of_month=12),
    email="maya@maple.test",
)

Call = Callable[[FinicityClient], Awaitable[Any]]
# operationId, the call, the answer the mock gives
CASES: list[tuple[str, Call, int, Any]] = [
    ("CreateToken", lambda c: c.authenticate(), 200, {"token": "t" * 20}),
    (
        "AddTestingCustomer",
        lambda c: c.create_customer("client_0001", "A", "B", testing=True),
        201,
        {"id": "1", "username": "client_0001", "createdDate": 1},
    ),
    (
        "AddCustomer",
        lambda c: c.create_customer("client_0001", testing=False),
        201,
        {"id": "1", "username": "client_0001", "createdDate": 1},
    ),
    (
        "GetCustomers",
        lambda c: c.find_customer_by_username("client_0001"),
        200,
        {"found": 0, "displaying": 0, "moreAvailable": False, "customers": []},
    ),
    ("DeleteCustomer", lambda c: c.delete_customer("1"), 204, None),
    ("GetConsumerForCustomer", lambda c: c.get_consumer_for_customer("1"), 200, {"id": "c0ffee", "customerId": 1}),
    ("CreateConsumer", lambda c: c.create_consumer("1", CONSUMER), 201, {"id": "c0ffee", "customerId": 1}),
    (
        "GenerateConnectUrl",
        lambda c: c.generate_connect_link("1", "https://app/done", "https://svc/wh", webhook_data={"k": "v"}),
        200,
        {"link": "https://x"},
    ),
    (
        "SendConnectEmail",
        lambda c: c.send_connect_email(
            "1", "c0ffee", "a@b.test", "Al", "https://app/done", "https://svc/wh", webhook_data={"k": "v"}
        ),
        200,
        {"link": "https://x"},
    ),
    (
        "GenerateFixConnectUrl",
        lambda c: c.generate_fix_link("1", 7, "https://app/done", "https://svc/wh"),
        200,
        {"link": "https://x"},
    ),
    ("GetCustomerAccounts", lambda c: c.list_accounts("1"), 200, {"accounts": [ACCOUNT]}),
    ("GetCustomerAccountTransactions", lambda c: c.get_account_transactions("1", "5", 1, 2), 200, PAGE),
    ("GetAllCustomerTransactions", lambda c: c.get_customer_transactions("1", 1, 2), 200, PAGE),
    (
        "refreshTransactions",
        lambda c: c.refresh_transactions("1", "historic", institution_login_id=7),
        202,
        {"refreshId": REFRESH_ID, "status": "NEW"},
    ),
    (
        "refreshTransactions",
        lambda c: c.refresh_transactions("1", "standard", account_ids=["5", "6"]),
        202,
        {"refreshId": REFRESH_ID, "status": "NEW"},
    ),
    (
        "getTransactionRefreshStatus",
        lambda c: c.get_transaction_refresh_status("1", REFRESH_ID),
        200,
        {"refreshId": REFRESH_ID, "status": "COMPLETED"},
    ),
    (
        "getCustomerAuthorizationDetails",
        lambda c: c.get_authorization_details(7),
        200,
        {
            "institutionLoginId": 7,
            "authorizationStartDate": "2026-01-01T00:00:00Z",
            "authorizationEndDate": "2027-01-01T00:00:00Z",
        },
    ),
    (
        "createWebhookSubscription",
        lambda c: c.create_subscription(
            Subscription(url="https://svc/wh", events=[WebhookEvent(name="data-refresh.transaction.status-changed")])
        ),
        201,
        SUB,
    ),
    (
        "listWebhookSubscriptions",
        lambda c: c.list_subscriptions(),
        200,
        {"count": 1, "offset": 1, "limit": 10, "total": 1, "subscriptions": [SUB]},
    ),
    ("getWebhookSubscriptionById", lambda c: c.get_subscription(SUB_ID), 200, SUB),
    (
        "updateWebhookSubscription",
        lambda c: c.update_subscription(
            SUB_ID, Subscription(events=[WebhookEvent(name="authorization.expiration.reminder")])
        ),
        200,
        SUB,
    ),
    ("deleteWebhookSubscription", lambda c: c.delete_subscription(SUB_ID), 204, None),
]


@pytest.mark.parametrize(("op", "call", "status", "answer"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_request_is_valid_by_the_spec(
    client: FinicityClient, httpx_mock: HTTPXMock, op: str, call: Call, status: int, answer: Any
) -> None:
    judge = judge_for(True)
    assert judge.knows(op)
    if answer is None:
        httpx_mock.add_response(status_code=status)
    else:
        httpx_mock.add_response(status_code=status, json=answer)
    await call(client)
    (request,) = httpx_mock.get_requests()
    found = judge.check(
        op,
        request.url.path,
        list(request.url.params.multi_items()),
        list(request.headers.items()),
        request.headers.get("content-type", "").split(";")[0],
        request.content,
    )
    assert found == [], found


def test_the_judge_is_not_a_rubber_stamp() -> None:
    """The same check refuses a request the spec calls invalid."""
    request = httpx.Request(
        "POST",
        "https://api.finicity.com/connect/v2/send/email",
        json={"partnerId": "1", "customerId": "2", "email": {"to": "a@b.test"}},
    )
    found = judge_for(True).check(
        "SendConnectEmail", request.url.path, [], [("Finicity-App-Key", "k")], "application/json", request.content
    )
    assert {v.field for v in found} == {"consumerId", "Finicity-App-Token"}
