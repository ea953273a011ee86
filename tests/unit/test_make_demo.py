"""`make demo` runs the demo with the local stack's settings (the demo refuses production settings,
and OPEN_BANKING_ENV defaults to production)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_runs_the_demo_with_the_local_settings() -> None:
    make = shutil.which("make")
    assert make, "make is on PATH (the project's commands need it)"
    plan = subprocess.run([make, "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True).stdout  # noqa: S603
    demo_line = next(line for line in plan.splitlines() if "-m service demo" in line)
    assert ". scripts/local.env" in demo_line
    assert "OPEN_BANKING_ENV=local" in (ROOT / "scripts" / "local.env").read_text().splitlines()
