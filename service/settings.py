"""Typed configuration from environment variables, validated once at start.

Secrets are `SecretStr` with no defaults, so a missing one stops start-up with its name, and none
of them can appear in a repr or a log line.

`OPEN_BANKING_ENV` says where the process runs: `local` and `test` (scripts/local.env sets `local`)
accept the committed throwaway values and the sandbox; `production`, the default so that a deployment
that forgets it is checked rather than trusted, refuses unsafe values (short secrets, http URLs, the
committed local keys, a loopback/private Mastercard base URL). Each refusal is one line naming the
variable; the CLI prints them and exits 2.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
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


Environment = Literal["local", "test", "production"]

# SHA-256 fingerprints of the values committed in scripts/local.env (public, so never safe in
# production). Fingerprints, not values, so that the refusal list does not itself spread the keys;
# tests/unit/test_production_settings.py checks they still match the file.
LOCAL_SECRET_FINGERPRINTS = frozenset({
    "a1bf3180ee637dcdd0fd650796ba8d0964a0dc1c9696525196e8f1aaeda44c04",  # OPEN_BANKING_PARTNER_SECRET
    "3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9",  # OPEN_BANKING_APP_KEY
    "6a5411d29758968145699395f493b66907f7174d560f1ad28586ac0f59518eff",  # OPEN_BANKING_ENCRYPTION_KEY
    "38a1373fe5dfd50d7ceed54fc932b24c32674c6f3eb630eea963f2516caf5473",  # OPEN_BANKING_INTERNAL_SECRET
})
# ... and of the OBWMS public key there (SHA-256 of its DER SubjectPublicKeyInfo, whatever the PEM layout).
LOCAL_PUBLIC_KEY_FINGERPRINTS = frozenset({
    "ccd9040f1dc73c530643870a02b5cfa4a438041e03c0b633e73f8d5b84c8ce76",
})
# Minimum lengths in production. Ours (random, chosen by the operator) are long; Mastercard's are
# whatever it issues, so their floor only catches placeholders and typos.
MIN_SECRET_LENGTH = {
    "open_banking_internal_secret": 32,
    "open_banking_partner_secret": 12,
    "open_banking_partner_secret_previous": 12,
    "open_banking_app_key": 16,
    "supabase_service_role_key": 32,
    "metrics_bearer_token": 32,
}
HTTPS_URLS = ("open_banking_base_url", "open_banking_redirect_uri", "open_banking_webhook_base_url", "supabase_url")


def fingerprint(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def public_key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    return fingerprint(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _is_local_host(host: str | None) -> bool:
    """Loopback, private and link-local hosts: where the sandbox (or anything not Mastercard) runs."""
    if not host:
        return True
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified


class UnsafeSettings(ValueError):
    """Production refusals, one (VARIABLE, reason) pair each; load_settings prints one line per pair."""

    def __init__(self, refusals: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in refusals))
        self.refusals = refusals


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # local | test | production (the default: unknown means checked).
    open_banking_env: Environment = "production"

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
    # Incremental syncs read every account's window with one customer-level call (v3) when the
    # union of the windows spans at most this many days; 0 = always per account (v4).
    open_banking_customer_window_days: int = Field(default=62, ge=0, le=366)
    open_banking_consent_warning_days: int = Field(default=14, ge=1, le=180)
    # Failed partner authentications in a row (all processes) before authentication is held; Mastercard
    # locks the partner account at five. Then held this long (0: until `python -m service auth reset`).
    open_banking_auth_failure_limit: int = Field(default=2, ge=1, le=3)
    open_banking_auth_hold_minutes: int = Field(default=30, ge=0, le=24 * 60)
    open_banking_request_fix_links: bool = False
    # Following a refresh (refreshTransactions): first status poll after this many seconds, then doubling
    # up to the cap; the OBWMS event `data-refresh.transaction.status-changed` settles it sooner.
    open_banking_refresh_poll_seconds: float = Field(default=15.0, gt=0, le=3600)
    open_banking_refresh_poll_cap_seconds: float = Field(default=600.0, gt=0, le=86_400)
    webhook_signature_tolerance_seconds: int = Field(default=300, ge=1, le=86_400)
    webhook_signature_message_format: str = Field(default="body.timestamp", pattern="^(body.timestamp|timestamp.body)$")
    webhook_signature_encoding: str = Field(default="der", pattern="^(der|raw)$")
    webhook_signature_text: str = Field(default="hex", pattern="^(hex|base64)$")
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_poll_seconds: float = Field(default=15.0, gt=0)
    worker_lease_seconds: int = Field(default=60, ge=5)
    db_pool_max: int = Field(default=10, ge=1, le=100)
    # Without Supabase (DATABASE_URL only) documents are kept as Storage keeps them: a row in the
    # database's storage.objects and the bytes in this folder.
    open_banking_storage_dir: Path = Path("var/documents")
    log_level: str = "INFO"
    log_json: bool = True

    # Prometheus must send `Authorization: Bearer <token>` to GET /metrics when set (required in production).
    metrics_bearer_token: SecretStr | None = None
    # Job counts on /metrics are read from the database at most this often per process.
    metrics_queue_refresh_seconds: float = Field(default=15.0, ge=15.0, le=3600.0)
    # /schema (OpenAPI) and its Swagger UI: on unless OPEN_BANKING_ENV=production; set true to keep them there.
    openapi_enabled: bool | None = None

    @field_validator(
        "open_banking_partner_secret", "open_banking_partner_secret_previous", "open_banking_app_key",
        "open_banking_internal_secret", "supabase_service_role_key", "database_url",
    )
    @classmethod
    def _secrets_are_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # Anywhere, not only in production: an empty internal secret would open /internal/wake to anyone.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

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

    @model_validator(mode="after")
    def _production_refuses_unsafe_values(self) -> Settings:
        if self.open_banking_env != "production":
            return self
        refusals = self.production_refusals()
        if refusals:
            raise UnsafeSettings(refusals)
        return self

    def production_refusals(self) -> list[tuple[str, str]]:
        """What production would refuse in these settings, as (VARIABLE, reason) pairs."""
        refusals: list[tuple[str, str]] = []
        if self.metrics_bearer_token is None:
            refusals.append(("METRICS_BEARER_TOKEN", "is required in production: /metrics must not be public"))
        for name, value in self.secret_settings().items():
            text = value.get_secret_value()
            if fingerprint(text) in LOCAL_SECRET_FINGERPRINTS:
                refusals.append((name.upper(), "is the committed local value from scripts/local.env; set your own"))
            elif text.startswith("<") and text.endswith(">"):
                refusals.append((name.upper(), "is still the .env.example placeholder"))
            elif len(text) < MIN_SECRET_LENGTH.get(name, 0):
                refusals.append((name.upper(), f"must be at least {MIN_SECRET_LENGTH[name]} characters in production"))
        if any(public_key_fingerprint(key) in LOCAL_PUBLIC_KEY_FINGERPRINTS for key in self.webhook_public_keys):
            refusals.append(("OPEN_BANKING_WEBHOOK_PUBLIC_KEY",
                             "is the committed local sandbox key from scripts/local.env; use Mastercard's"))
        for name in HTTPS_URLS:
            url = getattr(self, name)
            if url is not None and url.scheme != "https":
                refusals.append((name.upper(), f"must be an https:// URL in production, not {url.scheme}://"))
        if _is_local_host(self.open_banking_base_url.host):
            refusals.append(("OPEN_BANKING_BASE_URL",
                             "points at a local or private host (the sandbox?); production talks to Mastercard"))
        return refusals

    def secret_settings(self) -> dict[str, SecretStr]:
        """Every secret setting that is set, by field name (what the log redactor must mask)."""
        found = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                found[name] = value
        return found

    def secret_values(self) -> list[str]:
        """Every configured secret value, whatever its length (the log redactor masks each)."""
        return [v for v in (s.get_secret_value() for s in self.secret_settings().values()) if v]

    @property
    def serves_openapi(self) -> bool:
        """/schema and Swagger: off in production unless OPENAPI_ENABLED=true."""
        if self.openapi_enabled is not None:
            return self.openapi_enabled
        return self.open_banking_env != "production"

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
    """Start-up stops with one line per missing, malformed or refused variable (exit code 2)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.code = 2


def settings_error_lines(exc: Exception) -> list[str]:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return [f"invalid configuration: {exc}"]
    lines = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, UnsafeSettings):
            lines += [f"refused in production: {name}: {reason}" for name, reason in cause.refusals]
            continue
        name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        lines.append(f"invalid configuration: {name}: {error['msg']}")
    return lines


def load_settings(**overrides: object) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(settings_error_lines(exc)) from None


class _EnvironmentOnly(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")
    open_banking_env: Environment = "production"


def current_environment() -> Environment:
    """OPEN_BANKING_ENV alone (from the environment or .env), for commands that need no other setting."""
    from pydantic import ValidationError

    try:
        return _EnvironmentOnly().open_banking_env
    except ValidationError as exc:
        raise SettingsError(settings_error_lines(exc)) from None
