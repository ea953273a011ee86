"""Helpers for the fault, storm and hostile-input resilience tests: an in-process sandbox, truth on
both sides (sandbox and database) with a lost/duplicated/mismatched comparison, Connect signing,
and polling with a deadline (never a sleep used as an assertion)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg

from sandbox.config import SandboxConfig
from tests.support.processes import local_env
from tests.support.truth import Truth, db_truth_on

T = TypeVar("T")

# per account: (transaction count, amount sum, transaction ids)


def sandbox_config(**overrides: Any) -> SandboxConfig:
    env = local_env()
    values: dict[str, Any] = {
        "partner_id": env["OPEN_BANKING_PARTNER_ID"],
        "partner_secret": env["OPEN_BANKING_PARTNER_SECRET"],
        "app_key": env["OPEN_BANKING_APP_KEY"],
        "webhook_max_attempts": 1,
        "webhook_retry_delays": [0.01],
        "webhook_timeout": 0.5,
    }
    return SandboxConfig(**(values | overrides))


def db_client_truth(pg: psycopg.Connection[Any], client_id: uuid.UUID) -> Truth:
    return db_truth_on(pg, client_id)


@dataclass
class Comparison:
    accounts: int = 0
    rows_compared: int = 0
    lost: int = 0
    duplicated: int = 0  # rows in the database beyond the bank's (extra ids, or stale copies)
    sum_mismatches: int = 0
    account_mismatches: list[str] = field(default_factory=list)

    def add(self, expected: Truth, actual: Truth) -> None:
        self.accounts += len(expected)
        for account_id in set(expected) | set(actual):
            if account_id not in expected or account_id not in actual:
                self.account_mismatches.append(account_id)
                continue
            n_exp, sum_exp, ids_exp = expected[account_id]
            n_act, sum_act, ids_act = actual[account_id]
            self.rows_compared += n_exp
            self.lost += len(ids_exp - ids_act)
            self.duplicated += len(ids_act - ids_exp) + max(0, n_act - len(ids_act))
            if sum_exp != sum_act or n_exp != n_act:
                self.sum_mismatches += 1

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.sum_mismatches or self.account_mismatches)


def connect_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


