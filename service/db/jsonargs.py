"""Argument encoding shared by both adapters: RPC arguments travel as JSON (PostgREST's wire
format), so Decimal, datetime and UUID values are turned into exact strings, never floats."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

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


_encoder = msgspec.json.Encoder(decimal_format="string")


def dumps(value: Any) -> bytes:
    """Compact JSON bytes; Decimal as its exact string, datetimes as RFC 3339, UUIDs as text."""
    try:
        return _encoder.encode(value)
    except TypeError as exc:
        raise TypeError(f"cannot send this value to the database: {exc}") from None


def to_jsonable(value: Any) -> Any:
    """Plain JSON types (for supabase-py, which serialises with the stdlib json module)."""
    return json.loads(dumps(value))
