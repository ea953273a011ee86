"""Peak memory of a 200k-transaction backfill: the sync runs in a fresh process that reports its
own peak resident set size (ru_maxrss) at the end.

Each round is a new customer in a new process.

Run: .venv/bin/python -m bench.memory
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time

from bench.common import ROOT, alternate, connect_customer, expect, figure, new_client, sandbox, settings
from service.observability import configure_logging
from service.sync.customer import sync_customer
from service.sync.link import ensure_customer
from service.wiring import services_for


async def backfill(sandbox_url: str) -> None:
    configure_logging("WARNING")
    client_id = new_client()
    async with services_for(settings(sandbox_url)) as services:
        finicity_customer_id = await ensure_customer(services, client_id, "Memory")
        made = connect_customer(sandbox_url, finicity_customer_id, accounts=10, months=24, per_month=840)
        start = time.perf_counter()
        result = await sync_customer(services, finicity_customer_id)
        elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    expect(result.transactions == made["transactions"],
           f"memory: synced {result.transactions} of {made['transactions']} transactions")
    print(peak_mb, elapsed, result.transactions)  # read by the parent


def main() -> None:
    proc = sandbox()

    def one_round(_index: int) -> tuple[float, float, int]:
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.memory", "--child", proc.url], cwd=ROOT, check=True,
            capture_output=True, text=True,
        ).stdout.split()
        return float(out[0]), float(out[1]), int(out[2])

    try:
        rounds = alternate({"memory": one_round})["memory"]
    finally:
        proc.stop()
    print(f"memory  backfill of {rounds[0][2]:,} transactions in {figure(r[1] for r in rounds).show('.1f', ' s')}: "
          f"peak RSS {figure(r[0] for r in rounds).show(unit=' MB')}  (target < 200 MB)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        asyncio.run(backfill(sys.argv[2]))
    else:
        main()
