"""Webhook intake: signed Connect events at 50 concurrent senders against the service (signature
check and the durable write included), and the same load against a bare Litestar endpoint.

The load generator writes pre-built HTTP/1.1 requests on 50 keep-alive connections with asyncio
streams, so it costs far less CPU than the servers it measures. The service runs without its
worker, so only intake is measured. The bare endpoint (bench/bare_app.py) has every advantage the
service has. The two take turns, at least three rounds each; medians, spreads and per-round ratios
are reported, and any answer other than 202 fails the bench.

Run: .venv/bin/python -m bench.webhooks
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import psycopg

from bench.common import (
    DATABASE_URL,
    LOG_DIR,
    ROOT,
    ROUNDS,
    alternate,
    expect,
    expect_statuses,
    figure,
    new_client,
    ratios,
)
from tests.support.processes import Proc, free_port, local_env, service_env, start
from tests.support.wire import read_response, signed_connect_request

SENDERS = 50
DURATION_S = float(__import__("os").environ.get("BENCH_WINDOW_S", "5"))


def signed_requests(n: int, finicity_customer_id: str, secret: str, port: int) -> list[bytes]:
    requests = []
    for i in range(n):
        body = json.dumps(
            {
                "customerId": finicity_customer_id,
                "eventType": "processing",
                "eventId": f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:24]}",
                "payload": {"institutionId": "102105", "n": i},
            },
            separators=(",", ":"),
        ).encode()
        requests.append(signed_connect_request(port, body, secret))
    return requests


async def load(port: int, requests: list[bytes]) -> tuple[int, float, list[float], dict[int, int]]:
    queue = iter(requests)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + DURATION_S

    async def sender() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                request = next(queue, None)
                if request is None:
                    return
                start = time.perf_counter()
                writer.write(request)
                status, _ = await read_response(reader)
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return len(latencies), time.perf_counter() - began, latencies, statuses


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_bare() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    bare = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.bare_app", str(port)], cwd=ROOT
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return bare, port
        except OSError:
            time.sleep(0.1)
    bare.kill()
    raise RuntimeError("the bare endpoint did not start")


PER_ROUND = 40_000


def main() -> None:
    env = local_env()
    secret = env["OPEN_BANKING_PARTNER_SECRET"]
    client_id = new_client()
    finicity_customer_id = f"bench{uuid.uuid4().int % 10**9}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("set role service_role")
        conn.execute(
            "select public.ob_customer_upsert(%s, %s, 'testing', %s)",
            (client_id, f"u{client_id.hex}", finicity_customer_id),
        )

    port = free_port()
    service: Proc = start(
        "service",
        ["-m", "service", "serve", "--port", str(port), "--no-worker"],
        port,
        {**service_env(DATABASE_URL, "http://127.0.0.1:9", port), "LOG_LEVEL": "WARNING"},
        LOG_DIR,
        "/healthz",
    )
    bare, bare_port = start_bare()
    targets = {"service": port, "bare": bare_port}
    try:
        requests = {name: signed_requests(ROUNDS * PER_ROUND + 500, finicity_customer_id, secret, p)
                    for name, p in targets.items()}
        warm_up = 0
        for name, p in targets.items():
            _, _, _, statuses = asyncio.run(load(p, requests[name][:500]))
            expect_statuses(statuses, 202, f"webhooks {name} warm-up")
            warm_up += statuses.get(202, 0) if name == "service" else 0

        def round_of(name: str) -> Callable[[int], tuple[float, list[float], dict[int, int]]]:
            def run(index: int) -> tuple[float, list[float], dict[int, int]]:
                offset = 500 + index * PER_ROUND
                count, elapsed, latencies, statuses = asyncio.run(
                    load(targets[name], requests[name][offset:offset + PER_ROUND]))
                # A fast 401 or 503 would count as throughput: every answer must be the stored one.
                expect_statuses(statuses, 202, f"webhooks {name}")
                return count / elapsed, latencies, statuses
            return run

        # The two servers take turns (service, bare, service, ...) so that both see the same machine.
        results = alternate({"service": round_of("service"), "bare": round_of("bare")})
    finally:
        service.stop()
        bare.terminate()
        bare.wait(timeout=10)
    with psycopg.connect(DATABASE_URL) as conn:
        (stored,) = conn.execute(
            "select count(*) from private.ob_webhook_events where finicity_customer_id = %s", (finicity_customer_id,)
        ).fetchone()
    sent = sum(sum(statuses.values()) for _, _, statuses in results["service"]) + warm_up
    expect(stored == sent, f"webhooks: {sent} accepted but {stored} stored")

    rates = {name: [rate for rate, _, _ in rounds] for name, rounds in results.items()}
    latencies = {name: [v for _, values, _ in rounds for v in values] for name, rounds in results.items()}
    for name, label in (("service", "service (verify + store event and job)"), ("bare", "bare endpoint")):
        print(
            f"webhooks  {label}: {figure(rates[name]).show(unit=' req/s')} at {SENDERS} senders, "
            f"p50 {pct(latencies[name], 50) * 1000:.1f} ms, p99 {pct(latencies[name], 99) * 1000:.1f} ms, "
            f"all {sum(len(r[1]) for r in results[name]):,} answers 202"
        )
    print(
        f"webhooks  ratio service/bare = {ratios(rates['service'], rates['bare']).show('.2f')} (target >= 0.5); "
        f"service p99 {pct(latencies['service'], 99) * 1000:.1f} ms (target < 50 ms)"
    )


if __name__ == "__main__":
    main()
