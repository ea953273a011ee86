"""Real processes for end-to-end tests: the sandbox and the service, each under uvicorn on a free
loopback port, configured the way `make up` configures them (scripts/local.env)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ENV = ROOT / "scripts" / "local.env"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_env() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in LOCAL_ENV.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key] = value.strip().strip('"')
    return values


@dataclass
class Proc:
    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=20)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def abandon_leftover_jobs(database_url: str) -> None:
    """Jobs queued or running from earlier tests belong to nobody: a service started now would claim
    them all. They are marked dead before it starts."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "update private.ob_jobs set status = 'dead', last_error = 'abandoned by an earlier test', "
            "locked_by = null, locked_until = null, finished_at = now() where status in ('queued', 'running')"
        )


def spawn(name: str, args: list[str], port: int, env: Mapping[str, str], log_dir: Path) -> Proc:
    log_path = log_dir / f"{name}-{port}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, *args],
        cwd=ROOT,
        env=full_env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Proc(name, port, popen, log_path)


def await_healthy(proc: Proc, health: str) -> Proc:
    def healthy() -> bool:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log()[-3000:]}")
        try:
            return httpx.get(proc.url + health, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(f"{proc.name} to answer {health}", healthy, timeout=30, interval=0.1)
    except (AssertionError, RuntimeError):
        proc.kill()
        raise RuntimeError(f"{proc.name} did not become healthy:\n{proc.log()[-3000:]}") from None
    return proc


def start(name: str, args: list[str], port: int, env: Mapping[str, str], log_dir: Path, health: str) -> Proc:
    return await_healthy(spawn(name, args, port, env, log_dir), health)


SANDBOX_HEALTH = "/_sandbox/health"
SERVICE_HEALTH = "/healthz"


def _sandbox_args(port: int) -> list[str]:
    return ["-m", "sandbox", "--port", str(port), "--log-level", "warning"]


def _service_args(port: int) -> list[str]:
    return ["-m", "service", "serve", "--port", str(port)]


def start_sandbox(log_dir: Path, extra_env: Mapping[str, str] | None = None) -> Proc:
    port = free_port()
    return start("sandbox", _sandbox_args(port), port, {**local_env(), **(extra_env or {})}, log_dir, SANDBOX_HEALTH)


def service_env(
    database_url: str, sandbox_url: str, port: int, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    return {
        **local_env(),
        "DATABASE_URL": database_url,
        "OPEN_BANKING_BASE_URL": sandbox_url,
        "OPEN_BANKING_WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}",
        "WORKER_POLL_SECONDS": "2",
        **(extra_env or {}),
    }


def start_service(
    log_dir: Path,
    database_url: str,
    sandbox_url: str,
    extra_env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Proc:
    port = port or free_port()
    env = service_env(database_url, sandbox_url, port, extra_env)
    return start("service", _service_args(port), port, env, log_dir, SERVICE_HEALTH)


def start_stack(
    log_dir: Path,
    database_url: str,
    sandbox_env: Mapping[str, str] | None = None,
    extra_service_env: Mapping[str, str] | None = None,
) -> tuple[Proc, Proc]:
    """The sandbox and the service started side by side (each spends its first second importing);
    the service's worker finds the sandbox answering by the time both are healthy."""
    sandbox_port, service_port = free_port(), free_port()
    while service_port == sandbox_port:
        service_port = free_port()
    sandbox = spawn("sandbox", _sandbox_args(sandbox_port), sandbox_port, {**local_env(), **(sandbox_env or {})},
                    log_dir)
    service = spawn("service", _service_args(service_port), service_port,
                    service_env(database_url, f"http://127.0.0.1:{sandbox_port}", service_port, extra_service_env),
                    log_dir)
    try:
        await_healthy(sandbox, SANDBOX_HEALTH)
        await_healthy(service, SERVICE_HEALTH)
    except RuntimeError:
        sandbox.kill()
        service.kill()
        raise
    return sandbox, service
