"""Typed configuration from environment variables, validated once at start.

Secrets are `SecretStr` with no defaults, so a missing one stops start-up with its name, and none
of them can appear in a repr or a log line.
"""

from __future__ import annotations

import base64
import binascii
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _unescape_pem(text: str) -> str:
    # .env files and CI secrets often carry PEM blocks with literal "\n" sequences.
    return text.replace("\\n", "\n").strip()


def split_pem_keys(text: str) -> list[str]:
    """One or more PEM public keys concatenated (key rotation: old and new both verify)."""
    text = _unescape_pem(text)
    marker = "-----END PUBLIC KEY-----"
    return [block.strip() + "\n" + marker for block in text.split(marker) if block.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # Mastercard Open Banking US partner credentials.
    open_banking_partner_id: str = Field(min_length=1)
    open_banking_partner_secret: SecretStr
    # During a partner-secret rotation's grace period, Connect webhooks signed with the old secret
    # still verify when it is set here (remove it once the grace period ends).
    open_banking_partner_secret_previous: SecretStr | None = None
    open_banking_app_key: SecretStr
    open_banking_base_url: AnyHttpUrl = AnyHttpUrl("https://api.finicity.com")
    # OBWMS signature verification: one or more EC P-256 public keys (PEM, concatenated).
    open_banking_webhook_public_key: SecretStr
    # AES-256-GCM key (base64 of 32 bytes) that encrypts the cached partner token.
    open_banking_encryption_key: SecretStr
    open_banking_redirect_uri: AnyHttpUrl
    # Public base URL of this service; Connect webhooks go to {base}/webhooks/connect.
    open_banking_webhook_base_url: AnyHttpUrl
    # Shared secret for POST /internal/wake (what pg_net calls on hosted Supabase).
    open_banking_internal_secret: SecretStr

    # Database: either Supabase (PostgREST RPC) or a direct Postgres URL.
    supabase_url: AnyHttpUrl | None = None
    supabase_service_role_key: SecretStr | None = None
    database_url: SecretStr | None = None

    # Behaviour knobs (non-secret, with defaults).
    open_banking_customer_type: str = Field(default="testing", pattern="^(testing|active)$")
    open_banking_backfill_months: int = Field(default=24, ge=1, le=120)
    open_banking_overlap_days: int = Field(default=10, ge=0, le=90)
    open_banking_consent_warning_days: int = Field(default=14, ge=1, le=180)
    open_banking_request_fix_links: bool = False
    webhook_signature_tolerance_seconds: int = Field(default=300, ge=1, le=86_400)
    webhook_signature_message_format: str = Field(default="body.timestamp", pattern="^(body.timestamp|timestamp.body)$")
    webhook_signature_encoding: str = Field(default="der", pattern="^(der|raw)$")
    webhook_signature_text: str = Field(default="hex", pattern="^(hex|base64)$")
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_poll_seconds: float = Field(default=15.0, gt=0)
    worker_lease_seconds: int = Field(default=60, ge=5)
    db_pool_max: int = Field(default=10, ge=1, le=100)
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("open_banking_encryption_key")
    @classmethod
    def _encryption_key_is_32_bytes(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be base64") from exc
        if len(raw) != 32:
            raise ValueError(f"must decode to 32 bytes (AES-256), got {len(raw)}")
        return value

    @field_validator("open_banking_webhook_public_key")
    @classmethod
    def _public_keys_are_p256(cls, value: SecretStr) -> SecretStr:
        blocks = split_pem_keys(value.get_secret_value())
        if not blocks:
            raise ValueError("must hold at least one PEM public key")
        for block in blocks:
            try:
                key = load_pem_public_key(block.encode())
            except ValueError as exc:
                raise ValueError("is not a valid PEM public key") from exc
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                raise ValueError("must be EC P-256 (secp256r1) keys")
        return value

    @model_validator(mode="after")
    def _one_database_is_configured(self) -> Settings:
        supabase = self.supabase_url is not None and self.supabase_service_role_key is not None
        if not supabase and self.database_url is None:
            raise ValueError("set DATABASE_URL, or SUPABASE_URL together with SUPABASE_SERVICE_ROLE_KEY")
        return self

    @property
    def database_adapter(self) -> str:
        """`supabase` on hosted Supabase (PostgREST RPC), `postgres` with a direct URL."""
        if self.supabase_url is not None and self.supabase_service_role_key is not None:
            return "supabase"
        return "postgres"

    @cached_property
    def webhook_public_keys(self) -> list[ec.EllipticCurvePublicKey]:
        keys = []
        for block in split_pem_keys(self.open_banking_webhook_public_key.get_secret_value()):
            key = load_pem_public_key(block.encode())
            assert isinstance(key, ec.EllipticCurvePublicKey)
            keys.append(key)
        return keys

    @property
    def connect_webhook_secrets(self) -> list[str]:
        secrets = [self.open_banking_partner_secret, self.open_banking_partner_secret_previous]
        return [s.get_secret_value() for s in secrets if s is not None]

    @property
    def connect_webhook_url(self) -> str:
        return str(self.open_banking_webhook_base_url).rstrip("/") + "/webhooks/connect"

    @property
    def obwms_webhook_url(self) -> str:
        return str(self.open_banking_webhook_base_url).rstrip("/") + "/webhooks/mastercard"


class SettingsError(SystemExit):
    """Start-up stops with a message naming each missing or malformed variable."""


def load_settings(**overrides: object) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
            lines.append(f"  {name}: {error['msg']}")
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None
