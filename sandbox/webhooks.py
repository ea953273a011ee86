"""Webhook construction and delivery (Connect HMAC-signed events and OBWMS ECDSA-signed events)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from datetime import UTC, datetime

import httpx

from sandbox import signing
from sandbox.config import SandboxConfig
from sandbox.faults import fire
from sandbox.state import SandboxState


def compact(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def connect_event_id(now: float) -> str:
    return f"{int(now * 1000):013d}-{secrets.token_hex(12)}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class Deliverer:
    def __init__(self, state: SandboxState, config: SandboxConfig) -> None:
        self.state = state
        self.config = config
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.webhook_timeout)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def post(
        self, kind: str, url: str, body: bytes, headers: dict[str, str], event_type: str, event_id: str
    ) -> dict:
        """POST with retries; every attempt is logged. Returns the final log entry."""
        stats = self.state.stats.webhooks[kind]
        delays = self.config.webhook_retry_delays
        entry: dict = {}
        for attempt in range(1, self.config.webhook_max_attempts + 1):
            entry = {
                "kind": kind,
                "url": url,
                "eventType": event_type,
                "eventId": event_id,
                "attempt": attempt,
                "statusCode": None,
                "error": None,
                "time": _iso(time.time()),
                "sandboxTime": self.state.clock.now_int(),
            }
            stats["attempts"] += 1
            try:
                resp = await self.client.post(url, content=body, headers=headers)
                entry["statusCode"] = resp.status_code
            except httpx.HTTPError as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"
            self.state.deliveries.append(entry)
            if entry["statusCode"] is not None and 200 <= entry["statusCode"] < 300:
                stats["delivered"] += 1
                return entry
            if attempt < self.config.webhook_max_attempts:
                await asyncio.sleep(delays[min(attempt - 1, len(delays) - 1)] if delays else 0)
        stats["failed"] += 1
        return entry

    async def send_batch(
        self, kind: str, items: list[tuple[str, bytes, dict[str, str], str, str]]
    ) -> list[dict]:
        """Deliver events in order, applying webhook_drop / webhook_duplicate / webhook_reorder faults."""
        faults = self.state.faults
        items = list(items)
        if len(items) > 1 and fire(faults, "webhooks", {"webhook_reorder"}):
            i = len(items) - 2
            items[i], items[i + 1] = items[i + 1], items[i]
            self.state.stats.webhooks[kind]["reordered"] += 1
        results = []
        for url, body, headers, event_type, event_id in items:
            self.state.stats.webhooks[kind]["events"] += 1
            if fire(faults, "webhooks", {"webhook_drop"}):
                entry = {
                    "kind": kind,
                    "url": url,
                    "eventType": event_type,
                    "eventId": event_id,
                    "attempt": 0,
                    "statusCode": None,
                    "error": "dropped (fault)",
                    "time": _iso(time.time()),
                    "sandboxTime": self.state.clock.now_int(),
                }
                self.state.deliveries.append(entry)
                self.state.stats.webhooks[kind]["dropped"] += 1
                results.append(entry)
                continue
            copies = 2 if fire(faults, "webhooks", {"webhook_duplicate"}) else 1
            for _ in range(copies):
                results.append(await self.post(kind, url, body, headers, event_type, event_id))
            if copies == 2:
                self.state.stats.webhooks[kind]["duplicated"] += 1
        return results

    def connect_item(
        self, url: str, customer_id: str, event_type: str, payload: dict, link, offset_ms: int = 0
    ) -> tuple:
        event_id = connect_event_id(self.state.clock.now() + offset_ms / 1000)
        envelope: dict = {"customerId": customer_id}
        if link is not None and link.consumer_id:
            envelope["consumerId"] = link.consumer_id
        envelope |= {"eventType": event_type, "eventId": event_id, "payload": payload}
        if link is not None and link.webhook_data:
            envelope["webhookData"] = link.webhook_data
        body = compact(envelope)
        headers = {str(k): str(v) for k, v in ((link.webhook_headers or {}) if link else {}).items()}
        headers |= {
            "Content-Type": "application/json",
            "Accept": "application/json, text/plain, */*",
            "X-Finicity-Signature": signing.connect_signature(self.config.partner_secret, body),
        }
        return (url, body, headers, event_type, event_id)

    def obwms_item(self, url: str, body_obj: dict, key) -> tuple:
        body = compact(body_obj)
        headers = {"Content-Type": "application/json"}
        headers |= signing.obwms_headers(
            key,
            body,
            # The sender's real clock: the sandbox clock models Mastercard's business time (token and
            # consent expiry), while a receiver checks signature timestamps against its own wall clock.
            int(time.time()),
            str(uuid.uuid4()),
            message_format=self.config.obwms_message_format,
            signature_encoding=self.config.obwms_signature_encoding,
            text_encoding=self.config.obwms_text_encoding,
        )
        return (url, body, headers, body_obj["eventType"], body_obj["eventId"])

    def obwms_items(self, body_obj: dict, key) -> list[tuple]:
        """One signed delivery per active subscription event of this name whose condition matches."""
        items = []
        for sub in self.state.subscriptions.values():
            if sub.status != "active":
                continue
            for ev in sub.events:
                if ev["name"] == body_obj["eventType"] and ev["status"] == "active" and _condition_ok(ev, body_obj):
                    url = ev.get("url") or sub.url
                    # _parse in routes/subscriptions.py rejects an event with no url when the subscription has none.
                    assert url is not None
                    items.append(self.obwms_item(url, body_obj, key))
        return items


def _condition_ok(ev: dict, body_obj: dict) -> bool:
    cond = ev.get("condition")
    if not cond:
        return True
    key = cond["subscribeFor"]
    value = body_obj.get(key, body_obj.get("data", {}).get(key))
    value = None if value is None else str(value)
    if cond.get("includes") and value not in cond["includes"]:
        return False
    return not (cond.get("excludes") and value in cond["excludes"])
