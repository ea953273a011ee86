"""The Dockerfile (no Docker engine here): what can be checked without building it."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            pairs.append((keyword.upper(), args.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _words(args: str) -> list[str]:
    """An exec-form (JSON array) or shell-form argument list as words."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def _final_command() -> list[str]:
    stage = dict(_final_stage())
    return _words(stage.get("ENTRYPOINT", "[]")) + _words(stage.get("CMD", "[]"))


def test_dockerfile_has_a_build_stage_and_a_runtime_stage() -> None:
    froms = [args for keyword, args in _instructions() if keyword == "FROM"]
    assert len(froms) >= 2, froms
    assert froms[-1].split()[0] == "python:3.11-slim"


def test_runtime_stage_copies_the_venv_from_the_builder() -> None:
    copies = [args for keyword, args in _final_stage() if keyword == "COPY"]
    assert any(args.startswith("--from=builder") and "/opt/venv" in args for args in copies), copies


def test_runtime_stage_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in _final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER (it would run as root)"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_container_runs_python_m_service_serve_on_port_8000() -> None:
    command = _final_command()
    assert command[:4] == ["python", "-m", "service", "serve"], command
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - inside a container
    assert command[command.index("--port") + 1] == "8000"
    assert ("EXPOSE", "8000") in _final_stage()


def test_healthcheck_probes_healthz() -> None:
    checks = [args for keyword, args in _final_stage() if keyword == "HEALTHCHECK"]
    assert checks and "/healthz" in checks[-1] and "urllib" in checks[-1], checks


def test_docker_context_leaves_out_secrets_and_local_environments() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv/", "node_modules/", ".git"} <= ignored


def test_the_entrypoint_command_exists_in_the_cli() -> None:
    command = _final_command()
    assert command[0] == "python"
    # The same command from this checkout's venv, asking only for help (no settings needed).
    argv = [sys.executable, *command[1:4], "--help"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--host" in result.stdout and "--port" in result.stdout
