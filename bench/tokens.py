"""One partner authentication per token lifetime: 200 concurrent callers in 2 processes, starting
from an empty token cache, each making a real API call that needs the partner token.

Run: .venv/bin/python -m bench.tokens
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import psycopg

from bench.common import DATABASE_URL, ROOT, alternate, expect, figure, sandbox, settings
from service.wiring import services_for

CALLERS_PER_PROCESS = 100


async def callers(sandbox_url: str, barrier_at: float) -> None:
    async with services_for(settings(sandbox_url)) as services:
        await asyncio.sleep(max(0.0, barrier_at - time.time()))  # both processes start together
        results = await asyncio.gather(
            *(services.finicity.find_customer_by_username(f"nobody-{i}") for i in range(CALLERS_PER_PROCESS))
        )
    assert all(r is None for r in results)


def main() -> None:
    proc = sandbox()

    def one_round(_index: int) -> int:
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute(
                "update private.ob_partner_tokens set token_ciphertext = null, expires_at = null, "
                "refresh_holder = null, refresh_lease_until = null"
            )
        before = httpx.get(proc.url + "/_sandbox/stats").json()["partnerAuth"]["count"]
        start_at = time.time() + 3
        workers = [
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "bench.tokens", "--worker", proc.url, str(start_at)], cwd=ROOT
            )
            for _ in range(2)
        ]
        codes = [w.wait(timeout=120) for w in workers]
        expect(codes == [0, 0], f"tokens: caller processes exited with {codes}")
        return httpx.get(proc.url + "/_sandbox/stats").json()["partnerAuth"]["count"] - before

    try:
        auths = alternate({"tokens": one_round})["tokens"]
    finally:
        proc.stop()
    print(f"tokens  {2 * CALLERS_PER_PROCESS} concurrent callers in 2 processes from an empty cache: "
          f"{figure(auths).show()} partner authentication(s) a round  (target 1)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        asyncio.run(callers(sys.argv[2], float(sys.argv[3])))
    else:
        main()
