"""Peak memory of a 200k-transaction backfill: the sync runs in a fresh process that reports its
own peak resident set size (ru_maxrss) at the end.

Run: .venv/bin/python -m bench.memory
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time

from bench.common import ROOT, connect_customer, new_client, sandbox, settings
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
    assert result.transactions == made["transactions"]
    print(f"memory  backfill of {result.transactions} transactions in {elapsed:.1f}s: "
          f"peak RSS {peak_mb:.0f} MB  (target < 200 MB)")


def main() -> None:
    proc = sandbox()
    try:
        subprocess.run([sys.executable, "-m", "bench.memory", "--child", proc.url], cwd=ROOT, check=True)  # noqa: S603
    finally:
        proc.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        asyncio.run(backfill(sys.argv[2]))
    else:
        main()
