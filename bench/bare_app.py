"""The baseline for the webhook benchmark: a bare Litestar endpoint that reads the body and answers
202, with every advantage the service has: the same server and settings (uvicorn, one process, no
access log), the same raw ASGI body read and plain ASGI reply, and the startup heap frozen out of the
garbage collector. It only skips the work being measured (signature check, parse, durable write).

Run: python -m bench.bare_app PORT
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, post
from litestar.types import ASGIApp

from service.webhooks.routes import _raw_headers, _read_body, _Reply

_count = 0


@post("/webhooks/connect", status_code=202)
async def accept(request: Request[Any, Any, Any]) -> ASGIApp:
    global _count
    await _read_body(request, _raw_headers(request))
    _count += 1
    return _Reply(202, {"stored": True, "event_id": _count})


@asynccontextmanager
async def lifespan(_app: Litestar) -> AsyncIterator[None]:
    gc.collect()
    gc.freeze()  # as the service's lifespan does
    yield


app = Litestar(route_handlers=[accept], lifespan=[lifespan], openapi_config=None, debug=False)


if __name__ == "__main__":
    import uvicorn

    # The arguments `python -m service serve` passes.
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False,
                timeout_graceful_shutdown=15)
