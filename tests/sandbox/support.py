"""Sandbox test support: the official spec (loaded once, as the sandbox loads it), a spec-validating client,
a webhook receiver."""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

import httpx
import pytest
import uvicorn
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sandbox.app import create_app
from sandbox.config import SandboxConfig
from sandbox.validation import load_spec
from tests.support.waiting import wait_for

API = "https://api.finicity.com"
PARTNER_ID = "1445585709680"
SECRET = "test-partner-secret-1"
APP_KEY = "test-app-key-0123456789"


_SPEC: dict | None = None
_OPENAPI: OpenAPI | None = None


def spec() -> dict:
    global _SPEC, _OPENAPI
    if _SPEC is None:
        _SPEC = load_spec()
        _OPENAPI = OpenAPI.from_dict(_SPEC, config=Config(spec_validator_cls=None))
    return _SPEC


class _Req:
    def __init__(self, r: httpx.Request) -> None:
        self.host_url = API
        self.path = r.url.path
        self.method = r.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(r.url.params.multi_items())),
            header=Headers(list(r.headers.items())),
            cookie=ImmutableMultiDict(),
        )
        self.content_type = r.headers.get("content-type", "")
        self.body = r.content


class _Resp:
    def __init__(self, r: httpx.Response) -> None:
        self.status_code = r.status_code
        self.content_type = r.headers.get("content-type", "")
        self.headers = Headers(list(r.headers.items()))
        self.data = r.content


VALIDATED: dict[str, int] = defaultdict(int)


def validate_response(resp: httpx.Response) -> None:
    """Validate one sandbox API response against the official spec; raise on any violation."""
    spec()
    assert _OPENAPI is not None
    try:
        _OPENAPI.validate_response(_Req(resp.request), _Resp(resp))
    except ResponseNotFound:
        # Statuses the spec does not list for an operation (429/500/503 from fault injection, 400 from the
        # judge for an operation that lists none): the body must still be the spec's ErrorMessage, as JSON.
        assert resp.status_code in (400, 429, 500, 503), resp.status_code
        assert resp.headers["content-type"].startswith("application/json")
        OAS30Validator(spec()["components"]["schemas"]["ErrorMessage"]).validate(resp.json())
    VALIDATED[f"{resp.request.method} {resp.status_code}"] += 1


async def _validate_hook(resp: httpx.Response) -> None:
    if not resp.request.url.path.startswith("/_sandbox"):
        await resp.aread()
        validate_response(resp)


def make_config(**kw) -> SandboxConfig:
    base = dict(
        partner_id=PARTNER_ID,
        partner_secret=SECRET,
        app_key=APP_KEY,
        webhook_max_attempts=5,
        webhook_retry_delays=[0.01, 0.02, 0.03, 0.04],
        webhook_timeout=2.0,
    )
    return SandboxConfig(**(base | kw))


def make_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=API, event_hooks={"response": [_validate_hook]}
    )


@pytest.fixture
def config() -> SandboxConfig:
    return make_config()


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
async def client(app):
    async with make_client(app) as c:
        yield c
    await app.state.deliverer.close()


async def get_token(client: httpx.AsyncClient) -> str:
    r = await client.post(
        "/aggregation/v2/partners/authentication",
        json={"partnerId": PARTNER_ID, "partnerSecret": SECRET},
        headers={"Finicity-App-Key": APP_KEY},
    )
    assert r.status_code == 200, r.text
    return r.json()["token"]


@pytest.fixture
async def h(client) -> dict[str, str]:
    return {
        "Finicity-App-Key": APP_KEY,
        "Finicity-App-Token": await get_token(client),
        "Accept": "application/json",
    }


async def new_customer(client, h, username: str = "customer_01") -> str:
    r = await client.post("/aggregation/v2/customers/testing", json={"username": username}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()["id"]


CONSUMER = {
    "firstName": "Maya",
    "lastName": "Lopez",
    "state": "OR",
    "birthday": {"year": 1984, "month": 4, "dayOfMonth": 12},
    "email": "maya@maple.test",
}


async def new_consumer(client, h, customer_id: str, **fields) -> str:
    r = await client.post(
        f"/decisioning/v1/customers/{customer_id}/consumer", json=CONSUMER | fields, headers=h
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def connect(
    client, h, customer_id: str, webhook: str | None = None, wait: bool = True, **profile
) -> dict:
    body = {"partnerId": PARTNER_ID, "customerId": customer_id}
    if webhook:
        body |= {"webhook": webhook, "webhookData": {"u": "1"}, "webhookHeaders": {"X-Corr": "c-1"}}
    r = await client.post("/connect/v2/generate", json=body, headers=h)
    assert r.status_code == 200, r.text
    prof = {"accounts": 2, "months": 2, "transactionsPerAccountPerMonth": 20, "seed": 7} | profile
    r = await client.post(
        "/_sandbox/connect/complete", json={"customerId": customer_id, "profile": prof, "wait": wait}
    )
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- webhook receiver (real HTTP server)
class Receiver:
    """Records every request; `/fail/<n>/<tag>` answers 500 for the first n hits, `/down/...` always 503."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.hits: dict[str, int] = defaultdict(int)
        self.base = ""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"]
        self.hits[path] += 1
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"path": path, "headers": headers, "body": body})
        status = 200
        parts = path.strip("/").split("/")
        if parts[0] == "fail" and self.hits[path] <= int(parts[1]):
            status = 500
        if parts[0] == "down":
            status = 503
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    def at(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def url(self, path: str) -> str:
        return self.base + path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def receiver():
    rec = Receiver()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(rec, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for("the webhook receiver to start", lambda: server.started, timeout=10)
    rec.base = f"http://127.0.0.1:{port}"
    yield rec
    server.should_exit = True
    thread.join(5)


