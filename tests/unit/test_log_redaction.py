"""The redacting log processor: whatever a log call binds, secrets, tokens and account numbers
come out masked."""

from __future__ import annotations

import io
import json

import structlog

from service.observability import REDACTED, configure_logging


def _log_line(secrets: list[str], **fields: object) -> dict:
    stream = io.StringIO()
    configure_logging("INFO", json_logs=True, secrets=secrets, stream=stream)
    structlog.get_logger("test").info("event.name", **fields)
    return json.loads(stream.getvalue().splitlines()[-1])


def test_values_of_sensitive_keys_are_replaced_whatever_they_hold() -> None:
    line = _log_line([], partner_secret="abc", app_key="k", authorization="Bearer x", token="t", number="12345678")
    assert [line[k] for k in ("partner_secret", "app_key", "authorization", "token", "number")] == [REDACTED] * 5


def test_a_configured_secret_is_masked_inside_any_text() -> None:
    line = _log_line(["s3cret-partner-value"], error="auth failed for s3cret-partner-value at /x")
    assert line["error"] == f"auth failed for {REDACTED} at /x"


def test_long_digit_runs_keep_only_their_last_four_digits() -> None:
    line = _log_line([], error="account 4111111111111111 declined")
    assert line["error"] == "account ************1111 declined"


def test_nested_payloads_are_scrubbed_too() -> None:
    line = _log_line([], payload={"accounts": [{"number": "99998888", "name": "Checking 55554444"}]})
    assert line["payload"] == {"accounts": [{"number": REDACTED, "name": "Checking ****4444"}]}


def test_identifier_fields_and_timestamps_are_left_alone() -> None:
    line = _log_line([], finicity_customer_id="7000123456", job_id=123456789)
    assert line["finicity_customer_id"] == "7000123456" and line["job_id"] == 123456789
    assert line["timestamp"][:4].isdigit() and "*" not in line["timestamp"]


def test_a_short_secret_is_masked_too() -> None:
    line = _log_line(["k9"], error="wake refused: header k9 does not match")
    assert line["error"] == f"wake refused: header {REDACTED} does not match"


def test_the_service_masks_every_secret_setting_including_the_previous_partner_secret() -> None:
    """What the app hands the redactor: each SecretStr setting, however short."""
    from service.settings import Settings
    from tests.support.processes import local_env

    values = {k.lower(): v for k, v in local_env().items() if k.lower() in Settings.model_fields}
    settings = Settings(_env_file=None, **(values | {  # type: ignore[call-arg]
        "open_banking_partner_secret_previous": "old1", "database_url": "postgresql://u:pw@h/db"}))
    text = " ".join(["old1", settings.open_banking_internal_secret.get_secret_value(), "postgresql://u:pw@h/db"])
    line = _log_line(settings.secret_values(), error=text)
    assert line["error"] == " ".join([REDACTED] * 3)
