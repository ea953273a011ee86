"""Shared set-up for the benchmarks: a sandbox process, services wired to it, CPAs and clients; and
the rules every bench follows: at least 3 rounds, alternating between what is measured and its
baseline (a shared machine drifts by tens of percent over a minute, so one long run of each would
measure the drift), medians with their spread, and every answer asserted."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg

from service.observability import configure_logging
from service.settings import Settings
from tests.support.processes import LOCAL_ENV, Proc, local_env, start_sandbox

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:54331/postgres")
LOG_DIR = Path(tempfile.mkdtemp(prefix="obcpa-bench-"))
configure_logging("WARNING")  # benchmarks print their figures, not the service's info logs


def settings(sandbox_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": DATABASE_URL,
        "open_banking_base_url": sandbox_url,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=str(LOCAL_ENV), **values)  # type: ignore[call-arg]


def sandbox() -> Proc:
    return start_sandbox(LOG_DIR)


def new_client() -> uuid.UUID:
    cpa, client = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            "insert into auth.users (id, aud, role, email) values (%s, 'authenticated', 'authenticated', %s)",
            (cpa, f"bench-{cpa.hex[:8]}@example.test"),
        )
        conn.execute("insert into public.clients (id, user_id) values (%s, %s)", (client, cpa))
    return client


def connect_customer(
    sandbox_url: str, finicity_customer_id: str, accounts: int, months: int, per_month: int, seed: int = 7
) -> dict:
    env = local_env()
    with httpx.Client(base_url=sandbox_url, timeout=300) as http:
        token = http.post(
            "/aggregation/v2/partners/authentication",
            headers={"Finicity-App-Key": env["OPEN_BANKING_APP_KEY"], "Accept": "application/json"},
            json={"partnerId": env["OPEN_BANKING_PARTNER_ID"], "partnerSecret": env["OPEN_BANKING_PARTNER_SECRET"]},
        ).json()["token"]
        headers = {
            "Finicity-App-Key": env["OPEN_BANKING_APP_KEY"],
            "Finicity-App-Token": token,
            "Accept": "application/json",
        }
        http.post(
            "/connect/v2/generate",
            headers=headers,
            json={"partnerId": env["OPEN_BANKING_PARTNER_ID"], "customerId": finicity_customer_id},
        ).raise_for_status()
        done = http.post(
            "/_sandbox/connect/complete",
            json={
                "customerId": finicity_customer_id,
                "wait": False,
                "profile": {
                    "accounts": accounts,
                    "months": months,
                    "transactionsPerAccountPerMonth": per_month,
                    "seed": seed,
                    # the whole backfill at once (a login whose historic load is done): the figure
                    # measures ingest, not the 180-day rule
                    "historyLoaded": True,
                },
            },
        )
        done.raise_for_status()
        return done.json()


def timed() -> float:
    return time.perf_counter()


# ---- rounds, medians, spreads, asserted answers ------------------------------------------------------

ROUNDS = max(3, int(os.environ.get("BENCH_ROUNDS", "3")))
T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    """One measured quantity over the rounds: its median and its spread (min..max)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def show(self, spec: str = ",.0f", unit: str = "") -> str:
        """E.g. "2,673 req/s (2,510-2,790 over 3 rounds)"."""
        return (f"{self.median:{spec}}{unit} ({self.low:{spec}}-{self.high:{spec}} over "
                f"{len(self.values)} rounds)")


def figure(values: Iterable[float]) -> Figure:
    return Figure(tuple(values))


def alternate(runs: Mapping[str, Callable[[int], T]], rounds: int = ROUNDS) -> dict[str, list[T]]:
    """Run each callable once per round, in turn (a, b, a, b, ...), and collect their results."""
    results: dict[str, list[T]] = {name: [] for name in runs}
    for index in range(rounds):
        for name, run in runs.items():
            results[name].append(run(index))
    return results


def ratios(numerator: Iterable[float], denominator: Iterable[float]) -> Figure:
    """Per-round ratios of two alternating series (each pair measured side by side)."""
    return figure(a / b for a, b in zip(numerator, denominator, strict=True))


class UnexpectedAnswer(AssertionError):
    """A bench saw an answer it did not expect: its figures would measure the wrong thing."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise UnexpectedAnswer(message)


def expect_statuses(counted: Mapping[int, int], expected: int, what: str) -> None:
    other = {status: n for status, n in counted.items() if status != expected}
    expect(not other, f"{what}: expected only {expected} answers, also got {other}")
