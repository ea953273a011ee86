"""Shared helpers for the webhook tests: real Settings (values from scripts/local.env, with test
keys), a minimal Litestar app with the webhook routes and real Services, and independent signers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from litestar import Litestar

from service.db.postgres import PostgresRpc
from service.finicity.client import FinicityClient
from service.finicity.tokens import PartnerTokenService, TokenCipher
from service.observability import Metrics
from service.runtime import Services
from service.settings import Settings
from service.webhooks.routes import webhook_handlers

ROOT = Path(__file__).resolve().parents[3]
OBWMS_KEY = ec.generate_private_key(ec.SECP256R1())
OBWMS_KEY_NEXT = ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def local_env() -> dict[str, str]:
    values = {}
    for line in (ROOT / "scripts" / "local.env").read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip().strip('"')
    return values


def local_settings(database_url: str, **overrides: Any) -> Settings:
    env = local_env()
    values: dict[str, Any] = {k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields}
    # Two keys configured (rotation), as literal "\n" PEM text like the env file carries.
    values["open_banking_webhook_public_key"] = (_pem(OBWMS_KEY) + _pem(OBWMS_KEY_NEXT)).replace("\n", "\\n")
    values["database_url"] = database_url
    values["supabase_url"] = None
    values["supabase_service_role_key"] = None
    return Settings(**(values | overrides))


def make_services(settings: Settings, rpc: Any) -> Services:
    finicity = FinicityClient(str(settings.open_banking_base_url), settings.open_banking_app_key,
                              settings.open_banking_partner_id, settings.open_banking_partner_secret)
    cipher = TokenCipher(settings.open_banking_encryption_key)
    tokens = PartnerTokenService(rpc, finicity.authenticate, cipher, holder_id="webhook-tests")
    finicity.token_provider = tokens
    return Services(settings=settings, rpc=rpc, finicity=finicity, tokens=tokens, metrics=Metrics())


def make_app(settings: Settings, rpc_factory: Callable[[], Any] | None = None, **kwargs: Any) -> Litestar:
    """The webhook routes on a bare Litestar app whose Services are built at startup, inside the
    loop that serves requests (the test clients run the app in their own thread and loop)."""

    async def start(app: Litestar) -> None:
        assert settings.database_url is not None
        dsn = settings.database_url.get_secret_value()
        rpc = rpc_factory() if rpc_factory else PostgresRpc(dsn, max_size=4)
        await rpc.open()
        app.state.services = make_services(settings, rpc)

    async def stop(app: Litestar) -> None:
        services: Services = app.state.services
        await services.finicity.aclose()
        await services.rpc.close()

    return Litestar(route_handlers=webhook_handlers, on_startup=[start], on_shutdown=[stop], **kwargs)


def closed_port_rpc() -> PostgresRpc:
    return PostgresRpc("postgresql://postgres:postgres@127.0.0.1:9/postgres?connect_timeout=1",
                       max_size=1, timeout=0.5)


# ---- signing, independently of the service code ----------------------------------------------------

def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def connect_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json",
            "X-Finicity-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def obwms_headers(body: bytes, *, key: ec.EllipticCurvePrivateKey = OBWMS_KEY, timestamp: int | None = None,
                  message_id: str | None = None, encoding: str = "der", text: str = "hex") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    der = key.sign(body + b"." + ts.encode(), ec.ECDSA(hashes.SHA256()))
    if encoding == "raw":
        r, s = decode_dss_signature(der)
        der = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    signature = der.hex() if text == "hex" else base64.b64encode(der).decode()
    return {"Content-Type": "application/json", "X-Mastercard-Signature": signature,
            "X-Mastercard-Signature-Timestamp": ts, "X-Mastercard-Signature-Algorithm": "SHA256withECDSA",
            "X-Mastercard-Webhook-Message-Id": message_id or str(uuid.uuid4())}


def connect_event_id(ms: int | None = None) -> str:
    return f"{int(time.time() * 1000) if ms is None else ms:013d}-{uuid.uuid4().hex[:24]}"


def connect_event(finicity_customer_id: str, event_type: str, payload: dict[str, Any] | None = None,
                  event_id: str | None = None) -> dict[str, Any]:
    return {"customerId": finicity_customer_id, "eventType": event_type, "eventId": event_id or connect_event_id(),
            "payload": payload or {}}


# ---- looking at the database ----------------------------------------------------------------------

TABLES_SQL = """
select table_schema || '.' || table_name from information_schema.tables
 where table_type = 'BASE TABLE'
   and ((table_schema = 'public' and table_name like 'open\\_banking\\_%') or table_schema = 'private')
 order by 1
"""


def table_counts(pg: psycopg.Connection) -> dict[str, int]:
    tables = [row[0] for row in pg.execute(TABLES_SQL).fetchall()]
    assert tables, "no open_banking_* / private tables found"
    union = " union all ".join(f"select '{t}', count(*) from {t}" for t in tables)
    return {name: count for name, count in pg.execute(union).fetchall()}


def events_with(pg: psycopg.Connection, source: str, message_id: str) -> list[tuple[Any, ...]]:
    return pg.execute("select id, event_type, finicity_customer_id, headers, verified"
                      " from private.ob_webhook_events where source = %s and message_id = %s",
                      (source, message_id)).fetchall()


def jobs_for_event(pg: psycopg.Connection, event_id: int) -> int:
    return pg.execute("select count(*) from private.ob_jobs where kind = 'process_webhook_event'"
                      " and payload ->> 'event_id' = %s", (str(event_id),)).fetchone()[0]


def forget_events(pg: psycopg.Connection, event_ids: list[int]) -> None:
    """Leave no queued jobs behind for someone else's worker to claim."""
    if not event_ids:
        return
    pg.execute("delete from private.ob_jobs where kind = 'process_webhook_event'"
               " and (payload ->> 'event_id')::bigint = any(%s)", (event_ids,))
    pg.execute("delete from private.ob_webhook_events where id = any(%s)", (event_ids,))
