"""refresh_institutions: names, URLs and logos of the institutions our logins and accounts name.

GetInstitution and GetInstitutionBranding are not billable. One institution that fails is
recorded (`fetch_error`, what was known is kept) and does not stop the others; the job fails
(and is retried) only when every institution failed, e.g. while Mastercard is down.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import structlog

from service.finicity.errors import FinicityError
from service.jobs.types import Job

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)


async def refresh_institutions_job(services: Services, job: Job) -> None:
    ids = job.payload.get("institution_ids")
    await refresh_institutions(services, list(ids) if ids else None)


async def refresh_institutions(services: Services, institution_ids: list[str] | None = None) -> dict[str, Any]:
    due: list[str] = await services.rpc.call("ob_institutions_to_refresh", {"p_ids": institution_ids})
    rows: list[dict[str, Any]] = []
    failures: list[FinicityError] = []
    for institution_id in due:
        try:
            rows.append(await _fetch(services, institution_id))
        except FinicityError as exc:
            failures.append(exc)
            rows.append({"id": institution_id, "fetch_error": f"{exc.reason} ({exc.status} {exc.code})"})
    result: dict[str, Any] = await services.rpc.call(
        "ob_institutions_upsert", {"p_institutions": rows, "p_fetched_at": dt.datetime.now(dt.UTC)}
    )
    log.info("institutions.refreshed", institutions=len(due), failed=len(failures), **result)
    if failures and len(failures) == len(due):
        raise failures[0]
    return result


async def _fetch(services: Services, institution_id: str) -> dict[str, Any]:
    institution = await services.finicity.get_institution(institution_id)
    if institution is None:
        return {"id": institution_id, "fetch_error": "Mastercard does not know this institution."}
    branding = await services.finicity.get_institution_branding(institution_id)
    row: dict[str, Any] = {
        "id": institution_id,
        "name": institution.name or institution.display_name,
        "display_name": institution.display_name,
        "url_home_app": institution.url_home_app,
        "url_logon_app": institution.url_logon_app,
        "oauth_enabled": institution.oauth_enabled,
        "status": institution.status,
    }
    if branding is not None:
        row |= {
            "logo_url": branding.logo,
            "alternate_logo_url": branding.alternate_logo,
            "icon_url": branding.icon,
            "tile_url": branding.tile,
            "primary_color": branding.primary_color,
        }
    return row
