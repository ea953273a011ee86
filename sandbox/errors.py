"""API errors in the spec's shapes: `ErrorMessage` ({"code", "message"}) and OBWMS `ErrorWrapper`."""

from __future__ import annotations

import msgspec
from litestar import Request, Response

JSON = "application/json"


class ApiError(Exception):
    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, {"code": code, "message": message}, headers)


def obwms_error(status: int, reason_code: int, description: str) -> ApiError:
    item = {
        "source": "Event Subscription Service",
        "reasonCode": reason_code,
        "description": description,
        "recoverable": False,
        "details": None,
    }
    return ApiError(status, {"Errors": {"Error": [item]}})


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=msgspec.json.encode(body), status_code=status, media_type=JSON, headers=headers)


def api_error_handler(_: Request, exc: ApiError) -> Response:
    return json_response(exc.body, exc.status, exc.headers)


# Common codes (see notes section 9).
def missing_param(name: str) -> ApiError:
    return error(400, 10005, f"Missing parameter ({name})")


def invalid_param(name: str, detail: str = "") -> ApiError:
    return error(400, 10010, f"Invalid parameter ({name}){': ' + detail if detail else ''}")


def bad_request() -> ApiError:
    return error(400, 14020, "Bad request.")


def customer_not_found() -> ApiError:
    return error(404, 14001, "Customer not found.")
