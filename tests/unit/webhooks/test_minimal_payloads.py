"""The cut a webhook body gets before it is stored: account numbers masked, unlisted fields dropped,
numbers kept exact, and the raw bytes kept when nothing needs cutting."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from service.finicity.models import CustomerAccount
from service.sync.mapping import map_account
from service.webhooks.minimal import ACCOUNT_KEYS, minimal_connect, minimal_obwms, storable

FULL = "8402215512"


def sandbox_account(number: str = FULL) -> dict:
    """An account as the sandbox's `added` event carries it (sandbox/routes/common.py account_json)."""
    return {
        "id": "5011648377", "number": number, "accountNumberDisplay": number[-4:],
        "realAccountNumberLast4": number[-4:], "accountNickname": "Rainy day", "name": "Savings",
        "balance": 1234.56, "type": "savings", "aggregationStatusCode": 0, "status": "active",
        "customerId": "1005061234", "institutionId": "102105", "balanceDate": 1700000000,
        "aggregationSuccessDate": 1700000000, "aggregationAttemptDate": 1700000000,
        "createdDate": 1690000000, "lastUpdatedDate": 1700000000, "currency": "USD",
        "lastTransactionDate": 1700000000, "institutionLoginId": 1007302745, "marketSegment": "personal",
        "displayPosition": 1, "oldestTransactionDate": 1690000000,
        "authorizationStartDate": 1690000000, "authorizationEndDate": 1790000000,
    }


def added_event(accounts: list) -> dict:
    return {"customerId": "1005061234", "consumerId": "0bf46322c167b562a2e4b4fd9e2e9f41",
            "eventType": "added", "eventId": "1700000000000-0123456789abcdef01234567",
            "payload": {"institutionId": "102105", "oauth": True, "accounts": accounts},
            "webhookData": {"platformClientId": "8f0e6c1e-0000-4000-8000-000000000001", "requestId": "9"}}


def stored(source: str, event: dict) -> dict:
    raw = json.dumps(event).encode()
    return json.loads(bytes(storable(source, json.loads(raw), raw)))


def test_an_added_event_keeps_what_processing_maps_and_masks_the_number() -> None:
    cut = stored("connect", added_event([sandbox_account()]))
    assert FULL not in json.dumps(cut)
    assert set(cut) == {"customerId", "eventType", "eventId", "payload"}  # consumerId, webhookData gone
    account = cut["payload"]["accounts"][0]
    assert account["numberMasked"] == "****" + FULL[-4:]
    assert set(account) <= ACCOUNT_KEYS
    assert "authorizationEndDate" not in account and "marketSegment" not in account
    # What processing writes from it is unchanged.
    assert map_account(CustomerAccount.model_validate(account)) == map_account(
        CustomerAccount.model_validate(sandbox_account()))


def test_a_mask_that_shows_more_than_four_digits_is_masked_again() -> None:
    account = {"id": "1", "institutionLoginId": 5, "numberMasked": "xxxx" + FULL}
    assert stored("connect", added_event([account]))["payload"]["accounts"][0]["numberMasked"] == "****" + FULL[-4:]


def test_numbers_keep_their_exact_text_when_a_body_is_cut() -> None:
    raw = (b'{"customerId":"1","eventType":"added","eventId":"e","consumerId":"c","payload":{"accounts":'
           b'[{"id":"1","institutionLoginId":5,"balance":12345678901234567.10,"number":"99990000"}]}}')
    body = bytes(storable("connect", json.loads(raw), raw))
    assert b'"balance":12345678901234567.10' in body and b"99990000" not in body


def test_a_minimal_body_is_stored_as_its_raw_bytes() -> None:
    raw = b'{"customerId":"1","eventType":"done","eventId":"e", "payload":{"institutionId":"102105"}}'
    assert bytes(storable("connect", json.loads(raw), raw)) == raw


def test_accounts_deleted_keeps_bare_ids_and_object_ids() -> None:
    accounts = ["1", 2, {"id": "3", "number": FULL}, []]
    cut = minimal_connect({"eventType": "accountsDeleted", "payload": {"accounts": accounts}})
    assert cut["payload"]["accounts"] == ["1", 2, {"id": "3", "numberMasked": "****" + FULL[-4:]}]


def test_an_error_event_keeps_its_code() -> None:
    cut = minimal_connect({"eventType": "unableToConnect", "payload": {"institutionId": "1", "code": 185, "x": 1}})
    assert cut["payload"] == {"institutionId": "1", "code": 185}


def test_obwms_keeps_ids_times_and_the_consent_window_only() -> None:
    body = {"eventId": "u", "eventType": "authorization.expiration.reminder", "eventTime": "2026-01-01T00:00:00Z",
            "customerId": "1", "institutionLoginId": 7, "consumer": {"email": "dana@client.example"},
            "data": {"institutionId": "102105", "authorizationEndDate": "2026-02-01T00:00:00Z",
                     "daysUntilExpiration": 3, "accountNumber": FULL, "email": "dana@client.example"}}
    cut = stored("obwms", body)
    assert "dana@" not in json.dumps(cut) and FULL not in json.dumps(cut)
    assert cut["data"] == {"institutionId": "102105", "authorizationEndDate": "2026-02-01T00:00:00Z",
                           "daysUntilExpiration": 3}
    assert cut["institutionLoginId"] == 7 and cut["eventId"] == "u"
    assert minimal_obwms({"eventId": "u", "data": "not an object"}) == {"eventId": "u"}


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)


@given(extra=st.dictionaries(st.text(max_size=10), _json, max_size=5),
       number=st.from_regex(r"[0-9]{6,17}", fullmatch=True))
def test_no_full_number_survives_whatever_else_the_account_holds(extra: dict, number: str) -> None:
    account = {**extra, **sandbox_account(number)}
    kept = stored("connect", added_event([account]))["payload"]["accounts"][0]
    assert set(kept) <= ACCOUNT_KEYS and kept["numberMasked"] == "****" + number[-4:]
    assert number not in {str(value) for key, value in kept.items() if key not in sandbox_account(number)}
