"""The baseline for the webhook benchmark: a bare Litestar endpoint that reads the body and answers
202, served exactly like the service (uvicorn, one process)."""

from litestar import Litestar, Request, post


@post("/webhooks/connect", status_code=202)
async def accept(request: Request) -> dict[str, bool]:
    await request.body()
    return {"stored": True}


app = Litestar(route_handlers=[accept], openapi_config=None)
