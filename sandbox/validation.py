"""The judge: every request to a Mastercard route is validated against the official spec.

`specs/openbanking-us.yaml` is loaded once per process and validated with openapi-core (path, query and
header parameters, the security headers, the JSON body). An invalid request is answered the way
Mastercard answers one, 400 with an `ErrorMessage` naming the field (`ErrorWrapper` on the OBWMS
routes), and counted per operation. A request without the security headers is counted and then left
to the route, which answers 401 with Mastercard's own codes.

Strict mode (the default) enforces everything the spec says, including `required` lists and `format`s;
lax mode (`SANDBOX_STRICT_VALIDATION=false`) skips those two keywords and still enforces types.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import yaml
from jsonschema_path import SchemaPath
from litestar.types import ASGIApp
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.exceptions import (
    InvalidParameter,
    MissingParameter,
    MissingRequestBody,
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)
from openapi_core.validation.request.validators import V30RequestValidator
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_PATH = Path(os.environ.get("SANDBOX_SPEC_PATH") or Path(__file__).parents[1] / "specs/openbanking-us.yaml")
HOST_URL = "https://api.finicity.com"
METHODS = ("get", "put", "post", "delete", "patch")
# Keywords lax mode ignores; strict mode enforces them like every other keyword.
STRICT_ONLY = frozenset({"required", "format"})
_REQUIRED_RE = re.compile(r"^'([^']+)' is a required property")
_PARAM_MEMO_LIMIT = 8192


def load_spec(path: Path = SPEC_PATH) -> dict:
    """The official spec, with its one self-contradiction fixed.

    `ErrorMessage.code` is declared `type: object` while its own description says "can be returned as a
    number or a string" (and real responses carry numbers); nothing but a JSON object could satisfy
    `type: object`, so follow the description.
    """
    if not path.is_file():
        raise RuntimeError(f"official spec missing: {path}")
    with path.open("rb") as fh:
        spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    spec["components"]["schemas"]["ErrorMessage"]["properties"]["code"] = {
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    }
    return spec


def _inline_refs(node: Any, root: dict, seen: frozenset[str] = frozenset()) -> Any:
    """`paths` with their `$ref`s inlined (cycles keep theirs): openapi-core then resolves far fewer refs
    per request, which halves validation time."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None and len(node) == 1 and ref.startswith("#/") and ref not in seen:
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return _inline_refs(target, root, seen | {ref})
        return {k: _inline_refs(v, root, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, root, seen) for v in node]
    return node


class _MemoValidator(V30RequestValidator):
    """openapi-core's request validator, remembering each parameter's verdict per (parameter, raw value).

    A parameter's verdict depends only on its schema and its raw value, and a sync asks with the same
    dates, limits and ids page after page; casting and validating them again costs ~0.3 ms each.
    """

    _memo: dict[tuple, tuple[bool, Any]]
    _lock: threading.Lock

    def _get_parameter(self, parameters: RequestParameters, param: SchemaPath) -> Any:
        return self.get_parameter(parameters, (param / "name").read_str(), (param / "in").read_str(), param)

    def get_parameter(
        self, parameters: RequestParameters, name: str, where: str, param: SchemaPath, free: bool = False
    ) -> Any:
        """_get_parameter with the parameter's name and location already read from the spec. A `free`
        parameter's verdict is the same for every single value present (its value is not kept)."""
        location = parameters[where]
        raw = tuple(location.getlist(name)) if hasattr(location, "getlist") else location.get(name)
        if free and (raw if isinstance(raw, str) else isinstance(raw, tuple) and len(raw) == 1 and raw[0]):
            raw = ("<any string>",)  # one value, not empty (an empty query value is judged on its own)
        key = (param.parts, raw)
        hit = self._memo.get(key)
        if hit is None:
            try:
                hit = (True, super()._get_parameter(parameters, param))
            except (ParameterValidationError, MissingParameter) as exc:
                hit = (False, exc)
            with self._lock:
                if len(self._memo) >= _PARAM_MEMO_LIMIT:
                    self._memo.clear()
                self._memo[key] = hit
        ok, value = hit
        if ok:
            return value
        raise value


@dataclass(frozen=True)
class Violation:
    field: str
    kind: str  # missing | invalid | security
    keyword: str  # the failing JSON-schema keyword (required, type, format, ...), or the check
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "kind": self.kind, "keyword": self.keyword, "detail": self.detail}


@dataclass(frozen=True)
class _Operation:
    op_id: str
    method: str
    template: str
    path: SchemaPath
    operation: SchemaPath
    pattern: re.Pattern[str]
    # (name, location, schema, free) of each parameter, as openapi-core walks them (the operation's, then the
    # path item's not overridden): read from the spec once, not per request. `free`: a plain string (no
    # pattern, format, length or enum), which every value passes: a customer id in the path.
    params: tuple[tuple[str, str, SchemaPath, bool], ...]
    # (location, name) of every apiKey the operation's security requirements name: whether the request
    # passes depends only on which of them it carries. None when a scheme is of another type.
    api_keys: tuple[tuple[str, str], ...] | None


class SpecJudge:
    """Validates requests of known operations (by operationId, as the sandbox routes name them)."""

    def __init__(self, spec: dict, strict: bool = True) -> None:
        self.strict = strict
        inlined = dict(spec)
        inlined["paths"] = _inline_refs(spec["paths"], spec)
        self._openapi = OpenAPI.from_dict(inlined, config=Config(spec_validator_cls=None))
        validator = _MemoValidator(self._openapi.spec)
        validator._memo = {}
        validator._lock = threading.Lock()
        self._validator = validator
        self._ops: dict[str, _Operation] = {}
        paths = self._openapi.spec / "paths"
        for template, item in inlined["paths"].items():
            for method in METHODS:
                op = item.get(method)
                if not op or "operationId" not in op:
                    continue
                regex = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
                path_sp = paths / template
                self._ops[op["operationId"]] = _Operation(
                    op["operationId"], method, template, path_sp, path_sp / method, re.compile(regex),
                    _parameters(path_sp / method, path_sp), _api_keys(inlined, op),
                )
        # Security verdicts per (operation, which api keys are present): openapi-core's check walks the
        # spec's schemes on every request.
        self._security: dict[tuple[str, tuple[bool, ...]], bool] = {}

    def knows(self, op_id: str) -> bool:
        return op_id in self._ops

    def check(
        self,
        op_id: str,
        path: str,
        query: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        content_type: str,
        body: bytes,
    ) -> list[Violation]:
        op = self._ops[op_id]
        match = op.pattern.match(path)
        if match is None:
            return [Violation("path", "invalid", "path", f"{path} does not match {op.template}")]
        request = _Request(path, op.method, query, headers, match.groupdict(), content_type, body)
        out: list[Violation] = []
        v = self._validator
        if not self._secure(op, request.parameters):
            out.append(_security_violation(self._openapi.spec, op.operation, request.parameters.header))
        # openapi-core's _get_parameters over the parameters read once: a parameter that is optional and
        # absent is skipped, any other failure is a violation.
        for name, where, param, free in op.params:
            try:
                v.get_parameter(request.parameters, name, where, param, free)
            except MissingParameter:
                continue
            except ParameterValidationError as exc:
                out.extend(self._param_violations(exc))
            except Exception as exc:  # as openapi-core's loop: anything else ends the parameter checks
                out.extend(self._param_violations(exc))
                break
        try:
            v._get_body(request.body, request.content_type, op.operation)
        except MissingRequiredRequestBody:
            out.append(Violation("body", "missing", "required", "a JSON body is required"))
        except RequestBodyValidationError as exc:
            if not isinstance(exc, MissingRequestBody):
                out.extend(self._body_violations(exc))
        return out

    def _secure(self, op: _Operation, parameters: RequestParameters) -> bool:
        if op.api_keys is None:
            try:
                self._validator._get_security(parameters, op.operation)
            except SecurityValidationError:
                return False
            return True
        key = (op.op_id, tuple(name in parameters[where] for where, name in op.api_keys))
        verdict = self._security.get(key)
        if verdict is None:
            try:
                self._validator._get_security(parameters, op.operation)
            except SecurityValidationError:
                verdict = False
            else:
                verdict = True
            self._security[key] = verdict
        return verdict

    # ---- turning openapi-core's exceptions into named fields --------------------------------------

    def _keep(self, keyword: str) -> bool:
        return self.strict or keyword not in STRICT_ONLY

    def _param_violations(self, err: Exception) -> list[Violation]:
        if isinstance(err, MissingRequiredParameter):
            return (
                [Violation(err.name, "missing", "required", f"missing {err.location} parameter")]
                if self._keep("required")
                else []
            )
        if isinstance(err, InvalidParameter) and isinstance(err.__cause__, InvalidSchemaValue):
            out = []
            for schema_error in err.__cause__.schema_errors:
                keyword = str(getattr(schema_error, "validator", "schema"))
                if self._keep(keyword):
                    out.append(
                        Violation(err.name, "invalid", keyword, getattr(schema_error, "message", str(schema_error)))
                    )
            return out
        if isinstance(err, ParameterValidationError):
            cause = err.__cause__
            return [Violation(err.name, "invalid", "type", str(cause or err))]
        return [Violation("parameters", "invalid", "schema", str(err))]

    def _body_violations(self, exc: RequestBodyValidationError) -> list[Violation]:
        cause = exc.__cause__
        if not isinstance(cause, InvalidSchemaValue):
            # Not JSON, or not the media type the operation accepts.
            return [Violation("body", "invalid", "media", str(cause or exc)[:200])]
        out = []
        for err in _leaf_errors(cause.schema_errors):
            keyword = str(getattr(err, "validator", "schema"))
            if not self._keep(keyword):
                continue
            where = [str(p) for p in getattr(err, "absolute_path", [])]
            message = getattr(err, "message", str(err))
            if keyword == "required":
                m = _REQUIRED_RE.match(message)
                if m:
                    where.append(m.group(1))
                out.append(Violation(".".join(where) or "body", "missing", keyword, message))
            else:
                out.append(Violation(".".join(where) or "body", "invalid", keyword, message))
        return out


# Keywords that do not constrain a value.
_ANNOTATIONS = frozenset({"type", "description", "example", "examples", "title", "deprecated"})


def _free_string(param: SchemaPath) -> bool:
    with param.open() as raw:
        keys = set(raw) - {"name", "in", "description", "required", "schema", "example", "examples", "deprecated"}
        schema = raw.get("schema")
    return (not keys and isinstance(schema, dict) and schema.get("type") == "string"
            and set(schema) <= _ANNOTATIONS)


def _parameters(operation: SchemaPath, path: SchemaPath) -> tuple[tuple[str, str, SchemaPath, bool], ...]:
    out: list[tuple[str, str, SchemaPath, bool]] = []
    seen: set[tuple[str, str]] = set()
    for holder in (operation, path):
        if "parameters" not in holder:
            continue
        for param in holder / "parameters":
            name, where = (param / "name").read_str(), (param / "in").read_str()
            if (name, where) not in seen:  # a path item's parameter overridden by the operation's
                seen.add((name, where))
                out.append((name, where, param, _free_string(param)))
    return tuple(out)


def _api_keys(spec: dict, op: dict) -> tuple[tuple[str, str], ...] | None:
    requirements = op.get("security", spec.get("security")) or []
    schemes = spec.get("components", {}).get("securitySchemes", {})
    keys: list[tuple[str, str]] = []
    for requirement in requirements:
        for scheme_name in requirement:
            scheme = schemes.get(scheme_name)
            if scheme is None or scheme.get("type") != "apiKey":
                return None
            keys.append((scheme["in"], scheme["name"]))
    return tuple(dict.fromkeys(keys))


def _leaf_errors(errors: Any) -> list[Any]:
    """anyOf/oneOf failures carry their branches' errors in `context`: name those fields, not the union."""
    out = []
    for err in errors:
        context = getattr(err, "context", None)
        out.extend(_leaf_errors(context) if context else [err])
    return out


def _security_violation(spec: SchemaPath, operation: SchemaPath, headers: Any) -> Violation:
    requirement = operation / "security" if "security" in operation else spec / "security"
    schemes = spec / "components" / "securitySchemes"
    missing = []
    for req in requirement:
        for name in req.str_keys():
            header = (schemes / name / "name").read_str()
            if header not in headers:
                missing.append(header)
    field = ", ".join(dict.fromkeys(missing)) or "security"
    return Violation(field, "security", "security", "missing security header")


class _Request:
    """openapi-core's Request protocol over the raw ASGI pieces."""

    def __init__(
        self,
        path: str,
        method: str,
        query: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        path_vars: dict[str, str],
        content_type: str,
        body: bytes,
    ) -> None:
        self.host_url = HOST_URL
        self.path = path
        self.full_url_pattern = HOST_URL + path
        self.method = method
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(headers),
            cookie=ImmutableMultiDict(),
            path=path_vars,
        )
        self.content_type = content_type
        self.body = body


_JUDGES: dict[bool, SpecJudge] = {}
_JUDGES_LOCK = threading.Lock()


def judge_for(strict: bool) -> SpecJudge:
    """One judge per process and mode: loading and indexing the spec takes seconds (one thread loads it,
    any other caller waits for that one)."""
    with _JUDGES_LOCK:
        if strict not in _JUDGES:
            _JUDGES[strict] = SpecJudge(load_spec(), strict=strict)
        return _JUDGES[strict]


class JudgeLoader:
    """Loads the judge off the event loop: the sandbox answers /_sandbox/health at once, and the first
    Mastercard request waits for the spec (seconds on a busy machine) instead of the process start. Not
    bound to an event loop (an app may serve several in tests)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self._judge: SpecJudge | None = None

    def start(self) -> None:
        threading.Thread(target=judge_for, args=(self.strict,), daemon=True, name="spec-judge").start()

    async def get(self) -> SpecJudge:
        if self._judge is None:
            self._judge = await asyncio.to_thread(judge_for, self.strict)
        return self._judge


def judge_middleware(loader: JudgeLoader) -> Any:
    """Validate each request of a spec operation before its route runs (see sandbox/validation.py)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            handler = scope.get("route_handler") if scope["type"] == "http" else None
            op: str | None = handler.opt.get("op") if handler is not None else None
            judge = await loader.get() if op else None
            if op is None or judge is None or not judge.knows(op):
                await app(scope, receive, send)
                return
            # Read the whole body once, then hand the route a receive that replays it.
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            raw_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            content_type = next((v for k, v in raw_headers if k.lower() == "content-type"), "")
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            media = content_type.split(";")[0].strip()
            found = judge.check(op, scope["path"], query, raw_headers, media, body)
            if found:
                scope["app"].state.sandbox.violations.record(op, scope["method"], scope["path"], found)
                rejected = [v for v in found if v.kind != "security"]
                if rejected:
                    obwms = scope["path"].startswith("/notification-subscriptions/")
                    reply = msgspec.json.encode(error_body(rejected, obwms))
                    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(reply))]
                    await send({"type": "http.response.start", "status": 400, "headers": headers})
                    await send({"type": "http.response.body", "body": reply})
                    return
                # Missing security headers: the route answers 401 with Mastercard's own codes.
            sent = False

            async def replay() -> Any:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await app(scope, replay, send)

        return middleware

    return factory


class Violations:
    """Counts per operation plus the most recent violations, for the control API."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self.recent: deque[dict[str, Any]] = deque(maxlen=100)

    def record(self, op_id: str, method: str, path: str, found: list[Violation]) -> None:
        self.by_operation[op_id] += 1
        self.recent.append(
            {"operation": op_id, "method": method, "path": path, "violations": [v.as_json() for v in found]}
        )

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total, "byOperation": dict(self.by_operation), "recent": list(self.recent)}


# Where Mastercard documents its own code for a failed check, it answers with that one.
_DOCUMENTED = {
    ("limit", "minimum"): (41004, "Limit cannot be less than one."),
    ("start", "minimum"): (41003, "Start index cannot be less than one."),
}


def error_body(found: list[Violation], obwms: bool) -> dict[str, Any]:
    """Mastercard's answer to the first violation: 10005 for a missing field, 10010 for an invalid one."""
    first = found[0]
    if (first.field, first.keyword) in _DOCUMENTED:
        code, message = _DOCUMENTED[(first.field, first.keyword)]
    elif first.kind == "missing":
        code, message = 10005, f"Missing parameter ({first.field})"
    else:
        code, message = 10010, f"Invalid parameter ({first.field}): {first.detail}"
    if obwms:
        item = {
            "source": "Event Subscription Service",
            "reasonCode": 1502,
            "description": message,
            "recoverable": False,
            "details": None,
        }
        return {"Errors": {"Error": [item]}}
    return {"code": code, "message": message}


__all__ = [
    "JudgeLoader",
    "SpecJudge",
    "Violation",
    "Violations",
    "error_body",
    "judge_for",
    "judge_middleware",
    "load_spec",
]
