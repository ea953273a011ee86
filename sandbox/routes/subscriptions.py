"""OBWMS webhook subscriptions: create, list, get, update (PUT), delete. Errors use `ErrorWrapper`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath

from sandbox.auth import guard
from sandbox.errors import json_response, obwms_error
from sandbox.state import SandboxState, Subscription

BASE = "/notification-subscriptions/webhooks"


def _now_iso(state: SandboxState) -> str:
    return datetime.fromtimestamp(state.clock.now_int(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bad() -> Exception:
    return obwms_error(400, 1502, "Bad Request.")


def _not_found() -> Exception:
    return obwms_error(404, 1501, "Resource not found.")


def _valid_url(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 2048 and value.startswith(("http://", "https://"))


async def _parse(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise _bad() from None
    if not isinstance(body, dict) or not isinstance(body.get("events"), list) or not body["events"]:
        raise _bad()
    if "url" in body and not _valid_url(body["url"]):
        raise _bad()
    for ev in body["events"]:
        if not isinstance(ev, dict) or not isinstance(ev.get("name"), str) or not 1 <= len(ev["name"]) <= 255:
            raise _bad()
        if "url" in ev and not _valid_url(ev["url"]):
            raise _bad()
        if "url" not in ev and "url" not in body:
            raise _bad()
        cond = ev.get("condition")
        if cond is not None and (not isinstance(cond, dict) or not isinstance(cond.get("subscribeFor"), str)):
            raise _bad()
    return body


def _events(body: dict) -> list[dict]:
    out = []
    for ev in body["events"]:
        item = {"webhookEventId": str(uuid.uuid4()), "name": ev["name"]}
        if ev.get("url"):
            item["url"] = ev["url"]
        item["status"] = "active"
        if ev.get("condition"):
            item["condition"] = {
                k: ev["condition"][k]
                for k in ("subscribeFor", "includes", "excludes")
                if k in ev["condition"]
            }
        out.append(item)
    return out


def subscription_json(s: Subscription) -> dict:
    out: dict = {"subscriptionId": s.id}
    if s.url:
        out["url"] = s.url
    out |= {"events": s.events, "status": s.status, "createdDate": s.created, "lastUpdatedDate": s.updated}
    return out


def _get(state: SandboxState, sub_id: str) -> Subscription:
    sub = state.subscriptions.get(sub_id)
    if sub is None:
        raise _not_found()
    return sub


@post(BASE, opt={"op": "createWebhookSubscription"})
async def create_subscription(request: Request) -> Response:
    state = await guard(request, "subscriptions", obwms=True)
    body = await _parse(request)
    now = _now_iso(state)
    sub = Subscription(str(uuid.uuid4()), body.get("url"), _events(body), "active", now, now)
    state.subscriptions[sub.id] = sub
    return json_response(subscription_json(sub), 201)


@get(BASE, opt={"op": "listWebhookSubscriptions"})
async def list_subscriptions(request: Request) -> Response:
    state = await guard(request, "subscriptions", obwms=True)
    try:
        offset = int(request.query_params.get("offset") or 1)
        limit = int(request.query_params.get("limit") or 10)
    except ValueError:
        raise _bad() from None
    if offset < 1 or not 1 <= limit <= 100:
        raise _bad()
    subs = list(state.subscriptions.values())
    page = subs[offset - 1 : offset - 1 + limit]
    if not page:
        raise _not_found()
    return json_response(
        {
            "count": len(page),
            "offset": offset,
            "limit": limit,
            "total": len(subs),
            "subscriptions": [subscription_json(s) for s in page],
        }
    )


@get(BASE + "/{subscription_id:str}", opt={"op": "getWebhookSubscriptionById"})
async def get_subscription(request: Request, subscription_id: FromPath[str]) -> Response:
    state = await guard(request, "subscriptions", obwms=True)
    return json_response(subscription_json(_get(state, subscription_id)))


@put(BASE + "/{subscription_id:str}", opt={"op": "updateWebhookSubscription"})
async def update_subscription(request: Request, subscription_id: FromPath[str]) -> Response:
    state = await guard(request, "subscriptions", obwms=True)
    sub = _get(state, subscription_id)
    body = await _parse(request)
    sub.url = body.get("url")
    sub.events = _events(body)
    sub.updated = _now_iso(state)
    return json_response(subscription_json(sub))


@delete(BASE + "/{subscription_id:str}", opt={"op": "deleteWebhookSubscription"}, status_code=204)
async def delete_subscription(request: Request, subscription_id: FromPath[str]) -> None:
    state = await guard(request, "subscriptions", obwms=True)
    _get(state, subscription_id)
    del state.subscriptions[subscription_id]
