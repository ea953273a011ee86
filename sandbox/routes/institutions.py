"""Institutions: GetInstitution, GetInstitutionBranding (not billable at Mastercard)."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.params import FromPath

from sandbox.auth import guard
from sandbox.errors import error, invalid_param, json_response
from sandbox.institutions import branding_json, institution_json, lookup, svg
from sandbox.state import SandboxState


def _entry(state: SandboxState, institution_id: str) -> tuple[int, dict]:
    if not institution_id.isdigit():
        raise invalid_param("institutionId", "must be a number")
    entry = lookup(state, int(institution_id))
    if entry is None:
        raise error(404, 10201, f"Institution not found (institutionId = {institution_id})")
    return int(institution_id), entry


@get("/institution/v2/institutions/{institution_id:str}", opt={"op": "GetInstitution"})
async def get_institution(request: Request, institution_id: FromPath[str]) -> Response:
    state = await guard(request, "institutions")
    iid, entry = _entry(state, institution_id)
    return json_response({"institution": institution_json(iid, entry)})


@get("/institution/v2/institutions/{institution_id:str}/branding", opt={"op": "GetInstitutionBranding"})
async def get_institution_branding(request: Request, institution_id: FromPath[str]) -> Response:
    state = await guard(request, "institutions")
    iid, entry = _entry(state, institution_id)
    return json_response({"branding": branding_json(str(request.base_url), iid, entry)})


@get("/_sandbox/branding/{institution_id:int}/{asset:str}")
async def branding_asset(request: Request, institution_id: FromPath[int], asset: FromPath[str]) -> Response:
    """The SVGs the branding URLs point at (no auth: they stand in for Mastercard's public asset bucket)."""
    name = asset.removesuffix(".svg")
    entry = lookup(request.app.state.sandbox, institution_id)
    if entry is None or name not in ("logo", "alternateLogo", "icon", "tile") or not asset.endswith(".svg"):
        return Response(content=b"not found", status_code=404, media_type="text/plain")
    return Response(content=svg(entry, name).encode(), media_type="image/svg+xml")
