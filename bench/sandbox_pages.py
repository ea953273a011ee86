"""Sandbox page-serving benchmark: a 100k-transaction customer, limit=1000 pages over real HTTP.

Run: .venv/bin/python -m bench.sandbox_pages   (starts `python -m sandbox` on a free port)
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import alternate, expect, figure

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "OPEN_BANKING_PARTNER_ID": "1000000001",
    "OPEN_BANKING_PARTNER_SECRET": "bench-secret-1",
    "OPEN_BANKING_APP_KEY": "bench-app-key",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(base: str) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if httpx.get(base + "/_sandbox/health").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("sandbox did not start")


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "sandbox", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, **ENV},
    )
    try:
        wait_up(base)
        with httpx.Client(base_url=base, timeout=120) as c:
            tok = c.post(
                "/aggregation/v2/partners/authentication",
                headers={"Finicity-App-Key": ENV["OPEN_BANKING_APP_KEY"]},
                json={
                    "partnerId": ENV["OPEN_BANKING_PARTNER_ID"],
                    "partnerSecret": ENV["OPEN_BANKING_PARTNER_SECRET"],
                },
            ).json()["token"]
            h = {"Finicity-App-Key": ENV["OPEN_BANKING_APP_KEY"], "Finicity-App-Token": tok}
            cid = c.post(
                "/aggregation/v2/customers/testing", json={"username": "bench_user"}, headers=h
            ).json()["id"]
            c.post(
                "/connect/v2/generate",
                json={"partnerId": ENV["OPEN_BANKING_PARTNER_ID"], "customerId": cid},
                headers=h,
            )
            t0 = time.perf_counter()
            info = c.post(
                "/_sandbox/connect/complete",
                json={
                    "customerId": cid,
                    "profile": {
                        "accounts": 10,
                        "months": 24,
                        "transactionsPerAccountPerMonth": 420,
                        "seed": 7,
                        "historyLoaded": True,  # every month served: pages deep in the history exist
                    },
                },
            ).json()
            gen = time.perf_counter() - t0
            print(
                f"generated {info['transactions']:,} transactions in {len(info['accounts'])} accounts "
                f"in {gen:.2f} s (incl. index build)"
            )
            path = f"/aggregation/v3/customers/{cid}/transactions"
            q = {"fromDate": 0, "toDate": 4_102_444_800, "limit": 1000}
            found = c.get(path, params=q | {"limit": 1}, headers=h).json()["found"]
            acct = info["accounts"][0]
            apath = f"/aggregation/v4/customers/{cid}/accounts/{acct}/transactions"
            c.get(apath, params=q, headers=h)  # build that account's index once

            def sweep(url: str, starts: list[int]) -> tuple[float, float, float]:
                lat: list[float] = []
                began = time.perf_counter()
                for start in starts:
                    t = time.perf_counter()
                    r = c.get(url, params=q | {"start": start}, headers=h)
                    lat.append((time.perf_counter() - t) * 1000)
                    expect(r.status_code == 200, f"sandbox pages: {url} answered {r.status_code}")
                return statistics.median(lat), pct(lat, 99), len(lat) / (time.perf_counter() - began)

            rounds = alternate({
                "v3": lambda _i: sweep(path, list(range(1, found + 1, 1000))),
                "v4": lambda _i: sweep(apath, [1, 1001, 2001, 3001, 4001, 5001, 6001, 7001, 8001, 9001] * 5),
            })
            for name, label in (("v3", "customer-wide (v3)"), ("v4", "account (v4)")):
                runs = rounds[name]
                print(f"{label} limit=1000 pages: p50 {figure(r[0] for r in runs).show('.2f', ' ms')}, "
                      f"p99 {figure(r[1] for r in runs).show('.2f', ' ms')}, "
                      f"{figure(r[2] for r in runs).show(unit=' pages/s')}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
