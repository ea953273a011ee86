"""Webhook intake: signed Connect events at 50 concurrent senders against the service (signature
check and the durable write included), and the same load against a bare Litestar endpoint.

The load generator writes pre-built HTTP/1.1 requests on 50 keep-alive connections with asyncio
streams, so it costs far less CPU than the servers it measures. The service runs without its
worker, so only intake is measured. The two take turns, three rounds each, and the medians are\ncompared.

Run: .venv/bin/python -m bench.webhooks
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
import uuid

import psycopg

from bench.common import DATABASE_URL, LOG_DIR, ROOT, new_client
from tests.support.processes import Proc, free_port, local_env, service_env, start
from tests.support.wire import read_response, signed_connect_request

SENDERS = 50
DURATION_S = float(__import__("os").environ.get("BENCH_WINDOW_S", "5"))
ROUNDS = 3


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
        [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT,
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


def main() -> None:
    env = local_env()
    secret = env["OPEN_BANKING_PARTNER_SECRET"]
    client_id = new_client("Webhook bench")
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
    # The two servers take turns (service, bare, service, ...) so that both see the same machine:
    # a shared host's speed drifts over tens of seconds, and one long run each would measure the drift.
    results: dict[str, list[tuple[float, list[float], dict[int, int]]]] = {"service": [], "bare": []}
    try:
        targets = {"service": port, "bare": bare_port}
        requests = {name: signed_requests(ROUNDS * 40_000 + 500, finicity_customer_id, secret, p)
                    for name, p in targets.items()}
        for name, p in targets.items():
            asyncio.run(load(p, requests[name][:500]))  # warm-up
        offset = 500
        for _ in range(ROUNDS):
            for name, p in targets.items():
                count, elapsed, latencies, statuses = asyncio.run(load(p, requests[name][offset:offset + 40_000]))
                results[name].append((count / elapsed, latencies, statuses))
            offset += 40_000
    finally:
        service.stop()
        bare.terminate()
        bare.wait(timeout=10)

    medians = {}
    for name, label in (("service", "service (verify + store event and job)"), ("bare", "bare Litestar endpoint")):
        rates = [rate for rate, _, _ in results[name]]
        latencies = [value for _, values, _ in results[name] for value in values]
        statuses: dict[int, int] = {}
        for _, _, counted in results[name]:
            for status, n in counted.items():
                statuses[status] = statuses.get(status, 0) + n
        medians[name] = statistics.median(rates)
        print(
            f"webhooks  {label}: {medians[name]:,.0f} req/s at {SENDERS} senders (median of {ROUNDS} rounds: "
            f"{', '.join(f'{r:,.0f}' for r in rates)}), p50 {pct(latencies, 50) * 1000:.1f} ms, "
            f"p99 {pct(latencies, 99) * 1000:.1f} ms, statuses {statuses}"
        )
        if name == "service":
            service_p99 = pct(latencies, 99)
    print(
        f"webhooks  ratio service/bare = {medians['service'] / medians['bare']:.2f} (target >= 0.5); "
        f"service p99 {service_p99 * 1000:.1f} ms (target < 50 ms)"
    )


if __name__ == "__main__":
    main()
