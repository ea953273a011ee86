"""Webhook intake: `POST /webhooks/connect` (Data Connect, HMAC) and `POST /webhooks/mastercard`
(OBWMS, ECDSA). Mounted by the app from `webhook_handlers`; the Services object is read from
`request.app.state.services`.

Contract, for both routes, in this order:
  1. the raw body is read before anything is parsed; over 1 MiB (Content-Length or actual) → 413;
  2. the signature is verified against those exact bytes → 401 {"detail"} on failure, nothing stored,
     counted and logged without the payload;
  3. the body must be a JSON object (eventType, if present, a string) → else 400;
     an OBWMS delivery also needs X-Mastercard-Webhook-Message-Id → else 400;
  4. Connect `ping` → 200, nothing stored;
  5. the body is cut to what processing, replay and audit need (service.webhooks.minimal: account
     numbers masked, other fields dropped);
  6. one RPC stores the event and its `process_webhook_event` job in one transaction (group-committed
     with concurrent deliveries through `ob_webhook_events_ingest`); 202 {"stored", "event_id"} only
     after it returns; a repeat of a message id → 202 with stored=false and nothing new; database
     unreachable, or no answer within 3 s → 503 + Retry-After so Mastercard retries. Duplicates are
     judged on the message id AND on the body's signed eventId (an OBWMS delivery replayed within the
     signature window under a new X-Mastercard-Webhook-Message-Id is still a duplicate).
Nothing else happens on the request path: processing is the job's work (service.webhooks.process).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, post
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.types import ASGIApp, Receive, Scope, Send

from service.db.port import DatabaseUnavailable, RpcError
from service.webhooks.events import (
    CONNECT,
    KNOWN_CONNECT_TYPES,
    KNOWN_OBWMS_TYPES,
    OBWMS,
    as_id,
    obwms_customer_id,
    obwms_event_type,
    safe_headers,
)
from service.webhooks.minimal import storable
from service.webhooks.verify import (
    CONNECT_SIGNATURE_HEADER,
    OBWMS_ALGORITHM_HEADER,
    OBWMS_MESSAGE_ID_HEADER,
    OBWMS_SIGNATURE_HEADER,
    OBWMS_TIMESTAMP_HEADER,
    MessageIdMissing,
    ObwmsVerifier,
    SignatureInvalid,
    verify_connect_signature,
)

if TYPE_CHECKING:
    from service.runtime import Services
    from service.settings import Settings

MAX_BODY_BYTES = 1024 * 1024
RETRY_AFTER_SECONDS = "5"
_MAX_MESSAGE_ID = 255

# One verifier per Settings object (keys are parsed once, not per request).
_verifiers: dict[int, tuple[Settings, ObwmsVerifier]] = {}


def obwms_verifier(settings: Settings) -> ObwmsVerifier:
    cached = _verifiers.get(id(settings))
    if cached is not None and cached[0] is settings:
        return cached[1]
    verifier = ObwmsVerifier.from_settings(settings)
    _verifiers[id(settings)] = (settings, verifier)
    return verifier


class _Reject(Exception):
    def __init__(self, status: int, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.outcome = outcome
        self.detail = detail


class _Reply:
    """A finished JSON answer as a plain ASGI app: the intake hot path needs no Response machinery."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, content: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = msgspec.json.encode(content)
        self.headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(self.body))]
        for name, value in (headers or {}).items():
            self.headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def _raw_headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    # Read straight from the ASGI scope (cheaper than Litestar's Headers, built several times per
    # request). The server hands over lowercase names; the first of a repeated header wins, as there.
    headers: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def _count(services: Services, source: str, outcome: str) -> None:
    services.metrics.webhook_outcome(source, outcome).inc()


async def _read_body(request: Request[Any, Any, Any], headers: dict[str, str]) -> bytes:
    # The 1 MiB limit is enforced here: the body is read from the ASGI channel, not Litestar's stream.
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _Reject(413, "too_large", "request body over 1 MiB")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":  # the sender went away mid-body
            raise _Reject(400, "malformed", "unreadable request")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Reject(413, "too_large", "request body over 1 MiB")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _parse_object(body: bytes) -> dict[str, Any]:
    # Read for routing and for the cut (service.webhooks.minimal): a body that needs no cut is stored
    # as its raw bytes, one that does is re-read with exact numbers. msgspec refuses NaN/Infinity.
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise _Reject(400, "malformed", "body is not valid JSON") from None
    if not isinstance(value, dict):
        raise _Reject(400, "malformed", "body must be a JSON object")
    event_type = value.get("eventType")
    if event_type is not None and not isinstance(event_type, str):
        raise _Reject(400, "malformed", "eventType must be a string")
    return value


async def _ingest(
    services: Services, source: str, message_id: str, event_key: str | None, event_type: str | None,
    finicity_customer_id: str | None, headers: dict[str, str], payload: msgspec.Raw,
) -> _Reply:
    log = services.webhook_log
    try:
        # Group commit; a write that does not answer within 3 s fails as DatabaseUnavailable, so the
        # sender hears 503 quickly when the database is gone instead of timing out and retrying blind.
        result = await services.webhook_intake.call({
            "p_source": source, "p_message_id": message_id, "p_event_key": event_key, "p_event_type": event_type,
            "p_finicity_customer_id": finicity_customer_id, "p_headers": headers, "p_payload": payload,
            "p_verified": True,
        })
    except DatabaseUnavailable:
        _count(services, source, "unavailable")
        log.warning("webhook.unavailable", source=source, event_type=event_type)
        return _Reply(503, {"detail": "temporarily unable to store the event; retry later"},
                      {"Retry-After": RETRY_AFTER_SECONDS})
    except RpcError as exc:
        if (exc.code or "").startswith("22"):  # data exception: the payload cannot be stored as jsonb
            _count(services, source, "malformed")
            log.warning("webhook.unstorable", source=source, event_type=event_type, sqlstate=exc.code)
            return _Reply(400, {"detail": "payload cannot be stored"})
        _count(services, source, "error")
        log.error("webhook.ingest_failed", source=source, event_type=event_type, sqlstate=exc.code)
        return _Reply(500, {"detail": "internal error"})
    stored = bool(result.get("stored"))
    event_id = result.get("event_id")
    _count(services, source, "stored" if stored else "duplicate")
    known = event_type in (KNOWN_CONNECT_TYPES if source == CONNECT else KNOWN_OBWMS_TYPES)
    log.info("webhook.received", source=source, event_type=event_type, event_id=event_id, stored=stored,
             finicity_customer_id=finicity_customer_id, known_type=known)
    return _Reply(202, {"stored": stored, "event_id": event_id})


def _rejected(services: Services, source: str, request: Request[Any, Any, Any],
              exc: _Reject) -> _Reply:
    _count(services, source, exc.outcome)
    client = request.client.host if request.client else None
    services.webhook_log.warning("webhook.refused", source=source, status=exc.status, outcome=exc.outcome,
                                 reason=exc.detail, remote=client)
    return _Reply(exc.status, {"detail": exc.detail})


def _body_event_id(body: dict[str, Any]) -> str | None:
    """The body's own (signed) eventId, the dedupe key a replay under a new message id cannot dodge."""
    event_id = body.get("eventId")
    if isinstance(event_id, int | str) and not isinstance(event_id, bool):
        text = str(event_id)
        if 0 < len(text) <= _MAX_MESSAGE_ID:
            return text
    return None


def _connect_message_id(envelope: dict[str, Any], body: bytes) -> str:
    return _body_event_id(envelope) or "sha256:" + hashlib.sha256(body).hexdigest()


# ---- OpenAPI description (the handlers read the raw body, so Litestar cannot infer these) --------

def _json_response(description: str, schema: Schema,
                   headers: dict[str, OpenAPIHeader | Reference] | None = None) -> OpenAPIResponse:
    return OpenAPIResponse(description=description, headers=headers,
                           content={"application/json": OpenAPIMediaType(schema=schema)})


_DETAIL = Schema(type=OpenAPIType.OBJECT, properties={"detail": Schema(type=OpenAPIType.STRING)},
                 required=["detail"])
_ACCEPTED = Schema(type=OpenAPIType.OBJECT, required=["stored", "event_id"], properties={
    "stored": Schema(type=OpenAPIType.BOOLEAN, description="false: this message id was stored before"),
    "event_id": Schema(one_of=[Schema(type=OpenAPIType.INTEGER), Schema(type=OpenAPIType.NULL)]),
})
_RESPONSES = {
    "202": _json_response("stored with its processing job (or already stored)", _ACCEPTED),
    "400": _json_response("not a JSON object, or (OBWMS) no message id", _DETAIL),
    "401": _json_response("missing or invalid signature; nothing stored", _DETAIL),
    "413": _json_response("body over 1 MiB", _DETAIL),
    "503": _json_response("the event could not be stored now; retry", _DETAIL, {
        "Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description="seconds")}),
}
_PING = _json_response("Connect ping: acknowledged, nothing stored", Schema(
    type=OpenAPIType.OBJECT, properties={"status": Schema(type=OpenAPIType.STRING)}))


def _operation_class(headers: list[tuple[str, str]], body_description: str,
                     extra_responses: dict[str, OpenAPIResponse] | None = None) -> type[Operation]:
    @dataclass
    class WebhookOperation(Operation):
        def __post_init__(self) -> None:
            self.responses = {**_RESPONSES, **(extra_responses or {})}
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=Schema(
                    type=OpenAPIType.OBJECT,
                    properties={"eventType": Schema(type=OpenAPIType.STRING),
                                "eventId": Schema(type=OpenAPIType.STRING),
                                "customerId": Schema(type=OpenAPIType.STRING)},
                ))},
                description=body_description, required=True,
            )
            self.parameters = [
                Parameter(name=name, param_in="header", required=False, description=text,
                          schema=Schema(type=OpenAPIType.STRING))
                for name, text in headers
            ]

    return WebhookOperation


_ConnectOperation = _operation_class(
    [(CONNECT_SIGNATURE_HEADER, "lowercase hex HMAC-SHA256 of the raw body, keyed by the partner secret")],
    "Data Connect webhook envelope {customerId, eventType, eventId, payload, webhookData?} (max 1 MiB)",
    {"200": _PING},
)
_ObwmsOperation = _operation_class(
    [(OBWMS_SIGNATURE_HEADER, "ECDSA P-256/SHA-256 signature (see service/webhooks/README.md)"),
     (OBWMS_TIMESTAMP_HEADER, "epoch seconds"),
     (OBWMS_ALGORITHM_HEADER, "SHA256withECDSA"),
     (OBWMS_MESSAGE_ID_HEADER, "idempotency key (required)")],
    "OBWMS notification {eventId, eventType, eventTime, customerId?, institutionLoginId?, data} (max 1 MiB)",
)


# ---- handlers -------------------------------------------------------------------------------------

@post("/webhooks/connect", status_code=202, tags=["webhooks"],
      summary="Receive a Data Connect webhook", operation_class=_ConnectOperation)
async def connect_webhook(request: Request[Any, Any, Any]) -> ASGIApp:
    services: Services = request.app.state.services
    headers = _raw_headers(request)
    try:
        body = await _read_body(request, headers)
        try:
            verify_connect_signature(body, headers.get(CONNECT_SIGNATURE_HEADER.lower()),
                                     services.settings.connect_webhook_secrets)
        except SignatureInvalid as exc:
            raise _Reject(401, "rejected", exc.reason) from None
        envelope = _parse_object(body)
    except _Reject as exc:
        return _rejected(services, CONNECT, request, exc)
    event_type = envelope.get("eventType")
    if event_type == "ping":
        _count(services, CONNECT, "ping")
        return _Reply(200, {"status": "ok"})
    return await _ingest(services, CONNECT, _connect_message_id(envelope, body), _body_event_id(envelope), event_type,
                         as_id(envelope.get("customerId")), safe_headers(headers), storable(CONNECT, envelope, body))


@post("/webhooks/mastercard", status_code=202, tags=["webhooks"],
      summary="Receive an OBWMS (OFNMS) notification", operation_class=_ObwmsOperation)
async def obwms_webhook(request: Request[Any, Any, Any]) -> ASGIApp:
    services: Services = request.app.state.services
    headers = _raw_headers(request)
    try:
        body = await _read_body(request, headers)
        try:
            message_id = obwms_verifier(services.settings).verify(body, headers, time.time())
        except SignatureInvalid as exc:
            raise _Reject(401, "rejected", exc.reason) from None
        except MessageIdMissing as exc:
            raise _Reject(400, "malformed", str(exc)) from None
        notification = _parse_object(body)
        event_type = obwms_event_type(notification)
        if event_type is not None and not isinstance(event_type, str):
            raise _Reject(400, "malformed", "eventType must be a string")
    except _Reject as exc:
        return _rejected(services, OBWMS, request, exc)
    return await _ingest(services, OBWMS, message_id, _body_event_id(notification), event_type,
                         obwms_customer_id(notification), safe_headers(headers), storable(OBWMS, notification, body))


webhook_handlers: list[Any] = [connect_webhook, obwms_webhook]
