"""OPEN_BANKING_ENV=production refuses unsafe values: one line per refusal, naming the variable, and
exit code 2 from the CLI. Local and test environments accept the committed throwaway values."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.settings import (
    LOCAL_PUBLIC_KEY_FINGERPRINTS,
    LOCAL_SECRET_FINGERPRINTS,
    Settings,
    SettingsError,
    fingerprint,
    load_settings,
    public_key_fingerprint,
)
from tests.support.processes import local_env

ROOT = Path(__file__).resolve().parents[2]
LOCAL = local_env()


def _public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def safe_production_values() -> dict[str, Any]:
    """Settings production accepts: fresh random secrets, https URLs, a real-looking API host."""
    return {
        "open_banking_env": "production",
        "open_banking_partner_id": "1445585709999",
        "open_banking_partner_secret": secrets.token_urlsafe(20),
        "open_banking_app_key": secrets.token_hex(16),
        "open_banking_base_url": "https://api.finicity.com",
        "open_banking_webhook_public_key": _public_pem(),
        "open_banking_encryption_key": base64.b64encode(os.urandom(32)).decode(),
        "open_banking_redirect_uri": "https://app.cpa.example/bank-link/done",
        "open_banking_webhook_base_url": "https://ob.cpa.example",
        "open_banking_internal_secret": secrets.token_urlsafe(32),
        "supabase_url": "https://abcdefgh.supabase.co",
        "supabase_service_role_key": secrets.token_urlsafe(48),
        "metrics_bearer_token": secrets.token_urlsafe(32),
    }


def refusals(**changes: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **(safe_production_values() | changes))
    assert caught.value.code == 2
    return caught.value.lines


def test_safe_production_values_are_accepted() -> None:
    settings = load_settings(_env_file=None, **safe_production_values())
    assert settings.open_banking_env == "production" and settings.production_refusals() == []


def test_production_is_the_default_environment() -> None:
    values = safe_production_values()
    del values["open_banking_env"]
    assert load_settings(_env_file=None, **values).open_banking_env == "production"
    with pytest.raises(SettingsError):
        load_settings(_env_file=None, **(values | {"open_banking_internal_secret": "short"}))


@pytest.mark.parametrize(("name", "value", "minimum"), [
    ("open_banking_internal_secret", "x" * 31, 32),
    ("open_banking_partner_secret", "x" * 11, 12),
    ("open_banking_partner_secret_previous", "x" * 11, 12),
    ("open_banking_app_key", "x" * 15, 16),
    ("supabase_service_role_key", "x" * 31, 32),
    ("metrics_bearer_token", "x" * 31, 32),
])
def test_each_secret_has_a_minimum_length(name: str, value: str, minimum: int) -> None:
    assert refusals(**{name: value}) == [
        f"refused in production: {name.upper()}: must be at least {minimum} characters in production"]
    # One character more is accepted.
    load_settings(_env_file=None, **(safe_production_values() | {name: value + "x"}))


@pytest.mark.parametrize("name", ["open_banking_redirect_uri", "open_banking_webhook_base_url", "supabase_url"])
def test_urls_must_be_https(name: str) -> None:
    assert refusals(**{name: "http://public.example/path"}) == [
        f"refused in production: {name.upper()}: must be an https:// URL in production, not http://"]


def test_an_http_mastercard_base_url_is_refused() -> None:
    assert refusals(open_banking_base_url="http://api.finicity.com") == [
        "refused in production: OPEN_BANKING_BASE_URL: must be an https:// URL in production, not http://"]


@pytest.mark.parametrize("url", [
    "https://127.0.0.1:8001", "https://localhost:8001", "https://10.1.2.3", "https://[::1]:8001",
    "https://sandbox.internal", "https://192.168.0.10",
])
def test_the_sandbox_base_url_is_refused(url: str) -> None:
    assert refusals(open_banking_base_url=url) == [
        "refused in production: OPEN_BANKING_BASE_URL: points at a local or private host (the sandbox?); "
        "production talks to Mastercard"]


@pytest.mark.parametrize("name", [
    "OPEN_BANKING_PARTNER_SECRET", "OPEN_BANKING_APP_KEY", "OPEN_BANKING_ENCRYPTION_KEY",
    "OPEN_BANKING_INTERNAL_SECRET",
])
def test_each_committed_local_secret_is_refused_by_fingerprint(name: str) -> None:
    lines = refusals(**{name.lower(): LOCAL[name]})
    assert lines == [f"refused in production: {name}: is the committed local value from scripts/local.env; "
                     "set your own"]
    assert LOCAL[name] not in "".join(lines)


def test_the_committed_local_secret_is_refused_as_the_previous_partner_secret_too() -> None:
    assert refusals(open_banking_partner_secret_previous=LOCAL["OPEN_BANKING_PARTNER_SECRET"]) == [
        "refused in production: OPEN_BANKING_PARTNER_SECRET_PREVIOUS: is the committed local value from "
        "scripts/local.env; set your own"]


@pytest.mark.parametrize("layout", ["as committed", "real newlines", "beside a real key"])
def test_the_committed_obwms_key_is_refused_whatever_its_pem_layout(layout: str) -> None:
    committed = LOCAL["OPEN_BANKING_WEBHOOK_PUBLIC_KEY"]
    value = {"as committed": committed, "real newlines": committed.replace("\\n", "\n"),
             "beside a real key": _public_pem() + committed.replace("\\n", "\n")}[layout]
    assert refusals(open_banking_webhook_public_key=value) == [
        "refused in production: OPEN_BANKING_WEBHOOK_PUBLIC_KEY: is the committed local sandbox key from "
        "scripts/local.env; use Mastercard's"]


def test_env_example_placeholders_are_refused() -> None:
    assert refusals(open_banking_partner_secret="<partner-secret>") == [
        "refused in production: OPEN_BANKING_PARTNER_SECRET: is still the .env.example placeholder"]


def test_the_fingerprints_match_scripts_local_env() -> None:
    """If local.env's values change, the refusal list must change with them."""
    names = ["OPEN_BANKING_PARTNER_SECRET", "OPEN_BANKING_APP_KEY", "OPEN_BANKING_ENCRYPTION_KEY",
             "OPEN_BANKING_INTERNAL_SECRET"]
    assert {fingerprint(LOCAL[n]) for n in names} == LOCAL_SECRET_FINGERPRINTS
    local = load_settings(_env_file=None, **({k.lower(): v for k, v in LOCAL.items()
                                               if k.lower() in Settings.model_fields}
                                              | {"database_url": "postgresql://x@127.0.0.1/db"}))
    assert {public_key_fingerprint(k) for k in local.webhook_public_keys} == LOCAL_PUBLIC_KEY_FINGERPRINTS


@pytest.mark.parametrize("environment", ["local", "test"])
def test_local_and_test_accept_the_committed_values(environment: str) -> None:
    values = {k.lower(): v for k, v in LOCAL.items() if k.lower() in Settings.model_fields}
    settings = load_settings(_env_file=None, **(values | {"open_banking_env": environment,
                                                          "database_url": "postgresql://x@127.0.0.1/db"}))
    # the 9 committed values, and no METRICS_BEARER_TOKEN (local.env sets none)
    assert settings.open_banking_env == environment and len(settings.production_refusals()) == 10


@pytest.mark.parametrize("environment", ["local", "test", "production"])
@pytest.mark.parametrize("name", ["open_banking_internal_secret", "open_banking_partner_secret", "database_url"])
def test_an_empty_secret_is_refused_everywhere(environment: str, name: str) -> None:
    values = safe_production_values() | {"open_banking_env": environment, "database_url": "postgresql://h/db"}
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **(values | {name: "  "}))
    assert caught.value.lines == [f"invalid configuration: {name.upper()}: Value error, must not be empty"]


def test_an_unknown_environment_is_one_clear_line() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **(safe_production_values() | {"open_banking_env": "prod"}))
    assert caught.value.lines == [
        "invalid configuration: OPEN_BANKING_ENV: Input should be 'local', 'test' or 'production'"]


def test_every_secret_setting_reaches_the_redactor_whatever_its_length() -> None:
    values = safe_production_values() | {"open_banking_env": "local", "open_banking_internal_secret": "ab",
                                         "open_banking_partner_secret_previous": "old",
                                         "database_url": "postgresql://u:pw@h/db"}
    settings = load_settings(_env_file=None, **values)
    secret_fields = {name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)}
    assert set(settings.secret_settings()) == secret_fields
    assert {"ab", "old", "postgresql://u:pw@h/db", values["open_banking_app_key"]} <= set(settings.secret_values())


# ---- the CLI: one line per refusal on stderr, exit code 2 ----------------------------------------------

def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPEN_BANKING_", "SUPABASE_", "DATABASE_"))}
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=base | env,  # noqa: S603
                          capture_output=True, text=True, timeout=60)


def _env(values: dict[str, Any]) -> dict[str, str]:
    return {k.upper(): str(v) for k, v in values.items()}


def test_serve_refuses_an_unsafe_production_value_in_one_line_with_exit_code_2() -> None:
    result = _cli("serve", "--port", "1", **_env(safe_production_values() | {"open_banking_internal_secret": "short"}))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "refused in production: OPEN_BANKING_INTERNAL_SECRET: must be at least 32 characters in production"]


def test_the_local_env_file_is_refused_in_production_one_line_per_value() -> None:
    env = LOCAL | {"OPEN_BANKING_ENV": "production", "DATABASE_URL": "postgresql://x@127.0.0.1/db"}
    result = _cli("status", **env)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 10 and all(line.startswith("refused in production: OPEN_BANKING_") for line in lines[1:])
    assert lines[0].startswith("refused in production: METRICS_BEARER_TOKEN: is required")
    assert not any(LOCAL[name] in result.stderr for name in ("OPEN_BANKING_PARTNER_SECRET", "OPEN_BANKING_APP_KEY"))


@pytest.mark.parametrize("environment", [None, "production"])
def test_demo_refuses_to_run_in_production(environment: str | None) -> None:
    env = {"DATABASE_URL": "postgresql://postgres:postgres@127.0.0.1:1/postgres"}
    if environment:
        env["OPEN_BANKING_ENV"] = environment
    result = _cli("demo", "--sandbox-url", "http://127.0.0.1:1", "--service-url", "http://127.0.0.1:1", **env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "refused in production: demo: it writes demo users and clients into DATABASE_URL; "
        "set OPEN_BANKING_ENV=local to run it against a local stack"]


def test_production_requires_a_metrics_token() -> None:
    assert refusals(metrics_bearer_token=None) == [
        "refused in production: METRICS_BEARER_TOKEN: is required in production: /metrics must not be public"]
