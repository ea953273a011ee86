"""The sandbox judges every request the service sends by the official spec; a test that used the sandbox
ends by asserting it judged none invalid (`GET /_sandbox/violations`, or the in-process state)."""

from __future__ import annotations

import json
from typing import Any

import httpx


def assert_no_violations(summary: dict[str, Any]) -> None:
    """`summary` is the control API's `{total, byOperation, recent}`."""
    assert summary["total"] == 0, "requests the official spec calls invalid:\n" + json.dumps(
        summary["recent"][-10:], indent=1
    )


def sandbox_violations(sandbox_url: str) -> dict[str, Any]:
    response = httpx.get(f"{sandbox_url}/_sandbox/violations", timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def assert_sandbox_clean(sandbox_url: str) -> None:
    """For a sandbox process (e2e, resilience, demo)."""
    assert_no_violations(sandbox_violations(sandbox_url))


def assert_state_clean(state: Any) -> None:
    """For an in-process sandbox app (`app.state.sandbox`)."""
    assert_no_violations(state.violations.as_json())
