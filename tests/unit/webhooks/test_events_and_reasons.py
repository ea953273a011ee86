"""Pure helpers: readable failure reasons, event times, and which headers are kept."""

from __future__ import annotations

import datetime as dt

import pytest

from service.webhooks.events import connect_event_time, obwms_login_id, safe_headers
from service.webhooks.process import readable_reason


@pytest.mark.parametrize(("code", "words"), [(103, "sign-in details"), (185, "security step"),
                                             (187, "security question"), (108, "take an action"),
                                             (109, "update their password"), (102, "could not be reached"),
                                             (903, "temporarily unavailable"), (925, "does not support")])
def test_common_aggregation_codes_read_as_sentences(code: int, words: str) -> None:
    assert words in readable_reason(code, "unableToConnect")


def test_an_unknown_code_names_the_code() -> None:
    assert readable_reason(4242, "unableToConnect") == "The bank connection could not be completed (code 4242)."


def test_an_event_without_a_code_reads_by_its_type() -> None:
    assert readable_reason(None, "institutionNotFound") == "The client's bank could not be found."


def test_the_connect_event_time_is_the_event_id_millisecond_prefix() -> None:
    assert connect_event_time("1688829066253-d10dac58486e33bf419919dc") == dt.datetime(
        2023, 7, 8, 15, 11, 6, 253000, tzinfo=dt.UTC)


@pytest.mark.parametrize("event_id", [None, 5, "", "abc-def", "0000000000001-aa", "16888290662531-aa"])
def test_an_event_id_without_a_plausible_time_has_none(event_id: object) -> None:
    assert connect_event_time(event_id) is None


def test_signatures_and_credentials_are_never_kept_with_an_event() -> None:
    kept = safe_headers({"Content-Type": "application/json", "User-Agent": "axios", "X-Finicity-Signature": "ab",
                         "X-Mastercard-Signature": "cd", "X-Mastercard-Signature-Timestamp": "1",
                         "Authorization": "Bearer t", "Cookie": "c", "X-Api-Key": "k", "Host": "h",
                         "X-Client-Ref": "custom"})
    assert kept == {"content-type": "application/json", "user-agent": "axios",
                    "x-mastercard-signature-timestamp": "1", "x-client-ref": "custom"}


@pytest.mark.parametrize(("body", "expected"), [({"institutionLoginId": 123}, 123),
                                                ({"data": {"institutionLoginId": "456"}}, 456),
                                                ({"institutionLoginId": True}, None), ({}, None)])
def test_the_obwms_login_id_is_found_where_it_is(body: dict, expected: int | None) -> None:
    assert obwms_login_id(body) == expected
