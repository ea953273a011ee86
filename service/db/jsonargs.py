"""Argument encoding shared by both adapters: RPC arguments travel as JSON (PostgREST's wire
format), so Decimal, datetime and UUID values are turned into exact strings, never floats."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal
from typing import Any

_FUNCTION_NAME = re.compile(r"^ob_[a-z0-9_]{1,60}$")
_ARG_NAME = re.compile(r"^p_[a-z0-9_]{1,60}$")


def check_function_name(name: str) -> str:
    if not _FUNCTION_NAME.fullmatch(name):
        raise ValueError(f"not an RPC function name: {name!r}")
    return name


def check_arg_name(name: str) -> str:
    if not _ARG_NAME.fullmatch(name):
        raise ValueError(f"not an RPC argument name: {name!r}")
    return name


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} to the database")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def to_jsonable(value: Any) -> Any:
    """Plain JSON types (for supabase-py, which serialises with the stdlib json module)."""
    return json.loads(dumps(value))
