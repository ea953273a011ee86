"""Sandbox configuration, read from the environment (same variable names as the service)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxConfig(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    partner_id: str = Field(
        "1445585709680", validation_alias=AliasChoices("OPEN_BANKING_PARTNER_ID", "partner_id")
    )
    partner_secret: str = Field(
        "sandbox-partner-secret-0",
        validation_alias=AliasChoices("OPEN_BANKING_PARTNER_SECRET", "partner_secret"),
    )
    app_key: str = Field("sandbox-app-key", validation_alias=AliasChoices("OPEN_BANKING_APP_KEY", "app_key"))
    webhook_private_key: str | None = Field(
        None, validation_alias=AliasChoices("SANDBOX_WEBHOOK_PRIVATE_KEY", "webhook_private_key")
    )
    # Connect webhook delivery: attempts and the delays between them (seconds).
    webhook_max_attempts: int = Field(
        5, validation_alias=AliasChoices("SANDBOX_WEBHOOK_MAX_ATTEMPTS", "webhook_max_attempts")
    )
    webhook_retry_delays: list[float] = Field(
        [0.2, 0.5, 1.0, 2.0, 4.0],
        validation_alias=AliasChoices("SANDBOX_WEBHOOK_RETRY_DELAYS", "webhook_retry_delays"),
    )
    webhook_timeout: float = Field(
        5.0, validation_alias=AliasChoices("SANDBOX_WEBHOOK_TIMEOUT", "webhook_timeout")
    )
    # OBWMS signing options (see sandbox/signing.py).
    obwms_message_format: str = Field(
        "body.timestamp",
        validation_alias=AliasChoices("SANDBOX_OBWMS_MESSAGE_FORMAT", "obwms_message_format"),
    )
    obwms_signature_encoding: str = Field(
        "der", validation_alias=AliasChoices("SANDBOX_OBWMS_SIGNATURE_ENCODING", "obwms_signature_encoding")
    )
    obwms_text_encoding: str = Field(
        "hex", validation_alias=AliasChoices("SANDBOX_OBWMS_TEXT_ENCODING", "obwms_text_encoding")
    )
    # Which date `fromDate`/`toDate` filter (and `sort` orders) on; the spec does not say, so both exist:
    # `postedDate` (postedDate for posted rows, transactionDate while pending) or `transactionDate`.
    transaction_date_filter: Literal["postedDate", "transactionDate"] = Field(
        "postedDate",
        validation_alias=AliasChoices("SANDBOX_TRANSACTION_DATE_FILTER", "transaction_date_filter"),
    )
    # The partner account locks after this many failed authentications in a row (CreateToken).
    partner_lockout_failures: int = 5
    # Strict request validation: the spec's `required` lists and formats too (sandbox/validation.py).
    strict_validation: bool = Field(
        True, validation_alias=AliasChoices("SANDBOX_STRICT_VALIDATION", "strict_validation")
    )
    # refreshTransactions: seconds (real time) from NEW to the final status, standard and historic.
    refresh_delay_seconds: float = Field(
        0.5, validation_alias=AliasChoices("SANDBOX_REFRESH_DELAY", "refresh_delay_seconds")
    )
    historic_load_delay_seconds: float = Field(
        1.0, validation_alias=AliasChoices("SANDBOX_HISTORIC_LOAD_DELAY", "historic_load_delay_seconds")
    )
    token_lifetime_seconds: int = 7200
    link_ttl_seconds: int = 7200

    @field_validator("webhook_private_key")
    @classmethod
    def _unescape_newlines(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.replace("\\n", "\n").strip() + "\n"

    @field_validator("webhook_retry_delays", mode="before")
    @classmethod
    def _parse_delays(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [float(x) for x in value.split(",") if x.strip()]
        return value
