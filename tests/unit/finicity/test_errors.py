import json

import pytest

from service.finicity.errors import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    FinicityError,
    NotFound,
    RateLimited,
    ServerError,
    TokenExpired,
    TokenInvalid,
    error_from_response,
    normalise_code,
)


def _error(status: int, body: object, headers: dict[str, str] | None = None) -> FinicityError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return error_from_response(status, raw, headers or {})


def test_numeric_and_string_codes_normalise_to_the_same_string() -> None:
    assert _error(404, {"code": 14001, "message": "Customer not found."}).code == "14001"
    assert _error(404, {"code": "14001", "message": "Customer not found."}).code == "14001"


def test_decimal_parsed_code_normalises_without_fraction() -> None:
    assert normalise_code("14001.0") == "14001"


def test_customer_not_found_is_not_found_with_message() -> None:
    error = _error(404, {"code": 14001, "message": "Customer not found."})
    assert isinstance(error, NotFound)
    assert error.message == "Customer not found."
    assert error.reason


def test_duplicate_username_is_conflict() -> None:
    error = _error(409, {"code": "110002", "message": "Username is not available."})
    assert isinstance(error, Conflict)
    assert error.code == "110002"


@pytest.mark.parametrize(
    ("code", "kind"), [("10022", TokenInvalid), (10023, TokenExpired), ("10024", TokenInvalid)]
)
def test_token_codes_on_401_are_token_errors(code: object, kind: type[FinicityError]) -> None:
    assert type(_error(401, {"code": code, "message": "x"})) is kind


def test_invalid_partner_credentials_are_authentication_failed() -> None:
    assert isinstance(_error(401, {"code": 10001, "message": "Invalid credentials"}), AuthenticationFailed)


def test_plain_text_401_about_app_key_is_authentication_failed() -> None:
    error = _error(401, b"Invalid (Finicity-App-Key)")
    assert isinstance(error, AuthenticationFailed)
    assert error.code is None
    assert error.message == "Invalid (Finicity-App-Key)"


def test_plain_text_401_about_app_token_is_token_invalid() -> None:
    assert isinstance(_error(401, b"Invalid (Finicity-App-Token)"), TokenInvalid)


def test_obwms_error_wrapper_gives_reason_code_and_description() -> None:
    body = {
        "Errors": {
            "Error": [
                {
                    "source": "Event Subscription Service",
                    "reasonCode": 1501,
                    "description": "Resource not found.",
                    "recoverable": False,
                }
            ]
        }
    }
    error = _error(404, body)
    assert isinstance(error, NotFound)
    assert (error.code, error.message) == ("1501", "Resource not found.")


def test_obwms_capitalised_error_keys_are_read_too() -> None:
    body = {"Errors": {"Error": [{"ReasonCode": "1502", "Description": "Bad Request."}]}}
    assert (_error(400, body).code, _error(400, body).message) == ("1502", "Bad Request.")


def test_obwms_expired_app_token_is_token_expired() -> None:
    body = {"Errors": {"Error": [{"reasonCode": 1503, "description": "Expired (App-Token)"}]}}
    assert isinstance(_error(401, body), TokenExpired)


def test_429_carries_retry_after_seconds() -> None:
    error = _error(429, {"code": "3300001", "message": "Too many request."}, {"retry-after": "7"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


def test_5xx_is_server_error_and_retryable() -> None:
    error = _error(503, b"")
    assert isinstance(error, ServerError)
    assert error.retryable
    assert error.message == "HTTP 503"


def test_other_4xx_is_bad_request() -> None:
    assert isinstance(_error(400, {"code": 10010, "message": "bad"}), BadRequest)


def test_secrets_are_redacted_from_messages() -> None:
    error = error_from_response(
        400, b'{"code":1,"message":"token SECRET-TOKEN rejected"}', {}, ["SECRET-TOKEN"]
    )
    assert "SECRET-TOKEN" not in str(error)
    assert "[redacted]" in error.message
