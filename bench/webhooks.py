"""Webhook intake: signed Connect events at 50 concurrent senders against the service (signature
check and the durable write included), and the same load against a bare Litestar endpoint.

The load generator writes pre-built HTTP/1.1 requests on 50 keep-alive connections with asyncio
streams, so it costs far less CPU than the servers it measures. The service runs without its
worker, so only intake is measured.

Run: .venv/bin/python -m bench.webhooks
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import statistics
import subprocess
import sys
import time
import uuid

import psycopg

from bench.common import DATABASE_URL, LOG_DIR, ROOT, new_client
from tests.support.processes import Proc, free_port, local_env, service_env, start

SENDERS = 50
DURATION_S = 8.0


def signed_requests(n: int, customer_id: str, secret: str, port: int) -> list[bytes]:
    requests = []
    for i in range(n):
        body = json.dumps(
            {
                "customerId": customer_id,
                "eventType": "processing",
                "eventId": f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:24]}",
                "payload": {"institutionId": "102105", "n": i},
            },
            separators=(",", ":"),
        ).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        head = (
            f"POST /webhooks/connect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"X-Finicity-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


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
                status = await _read_response(reader)
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


def report(name: str, count: int, elapsed: float, latencies: list[float], statuses: dict[int, int]) -> float:
    rps = count / elapsed
    print(
        f"webhooks  {name}: {rps:,.0f} req/s at {SENDERS} senders, p50 {pct(latencies, 50) * 1000:.1f} ms, "
        f"p99 {pct(latencies, 99) * 1000:.1f} ms, mean {statistics.fmean(latencies) * 1000:.1f} ms, "
        f"statuses {statuses}"
    )
    return rps


def main() -> None:
    env = local_env()
    secret = env["OPEN_BANKING_PARTNER_SECRET"]
    client_id = new_client("Webhook bench")
    customer_id = f"bench{uuid.uuid4().int % 10**9}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("set role service_role")
        conn.execute(
            "select public.ob_customer_upsert(%s, %s, 'testing', %s)", (client_id, f"u{client_id.hex}", customer_id)
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
    try:
        requests = signed_requests(60_000, customer_id, secret, port)
        asyncio.run(load(port, requests[:500]))  # warm-up
        count, elapsed, latencies, statuses = asyncio.run(load(port, requests[500:]))
        service_rps = report("service (verify + store event and job)", count, elapsed, latencies, statuses)
        service_p99 = pct(latencies, 99)
    finally:
        service.stop()

    bare_port = free_port()
    bare = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
    )
    try:
        time.sleep(1.5)
        requests = signed_requests(60_000, customer_id, secret, bare_port)
        asyncio.run(load(bare_port, requests[:500]))
        count, elapsed, latencies, statuses = asyncio.run(load(bare_port, requests[500:]))
        bare_rps = report("bare Litestar endpoint", count, elapsed, latencies, statuses)
    finally:
        bare.terminate()
        bare.wait(timeout=10)
    print(
        f"webhooks  ratio service/bare = {service_rps / bare_rps:.2f} (target >= 0.5); "
        f"service p99 {service_p99 * 1000:.1f} ms (target < 50 ms)"
    )


if __name__ == "__main__":
    main()
