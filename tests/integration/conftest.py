"""The in-process sandbox the integration tests sync against: one definition, so every module runs
against the same Mastercard stand-in on the local credentials, judged at the end of each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from sandbox.app import create_app as create_sandbox
from sandbox.config import SandboxConfig
from tests.support.judge import assert_state_clean
from tests.support.processes import local_env

SANDBOX_URL = "http://sandbox.test"


@asynccontextmanager
async def in_process_sandbox(**config: Any) -> AsyncIterator[AsyncTestClient]:
    """The sandbox app in this process: webhooks tried once and soon (a test waits on their effect),
    `config` on top. It ends with 0 requests the official spec calls invalid (tests/support/judge.py)."""
    env = local_env()
    settings = {
        "partner_id": env["OPEN_BANKING_PARTNER_ID"],
        "partner_secret": env["OPEN_BANKING_PARTNER_SECRET"],
        "app_key": env["OPEN_BANKING_APP_KEY"],
        "webhook_max_attempts": 1,
        "webhook_retry_delays": [0.01],
    }
    async with AsyncTestClient(create_sandbox(SandboxConfig(**(settings | config))), base_url=SANDBOX_URL) as client:
        yield client
        assert_state_clean(client.app.state.sandbox)


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[AsyncTestClient]:
    """A fresh in-process sandbox per test; a module's `pytest.mark.sandbox(**config)` sets its config."""
    marker = request.node.get_closest_marker("sandbox")
    async with in_process_sandbox(**(marker.kwargs if marker else {})) as client:
        yield client
