"""`python -m sandbox [--host 127.0.0.1] [--port 8001]`."""

from __future__ import annotations

import click
import uvicorn

from sandbox.app import create_app
from sandbox.config import SandboxConfig


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--log-level", default="info", show_default=True)
def main(host: str, port: int, log_level: str) -> None:
    uvicorn.run(create_app(SandboxConfig()), host=host, port=port, log_level=log_level)


if __name__ == "__main__":
    main()
