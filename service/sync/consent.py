"""check_consent: read an OAuth login's authorization window and flag `needs_reauth` ahead of
expiry (the SQL compares the end with the configured warning window)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from service.jobs.types import Job, PermanentJobError

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)


async def check_consent_job(services: Services, job: Job) -> None:
    login_id = job.payload.get("institution_login_id")
    if login_id is None:
        raise PermanentJobError("check_consent needs institution_login_id")
    row = await check_consent(services, int(login_id))
    wants_fix = job.payload.get("request_fix_link") or services.settings.open_banking_request_fix_links
    if wants_fix and row and row.get("needs_reauth"):
        # A Fix request row, like a CPA's: the link flow generates the link and records it.
        request = await services.rpc.call("ob_request_fix_link", {"p_institution_login_id": int(login_id)})
        log.info("consent.fix_link_requested", institution_login_id=login_id, created=request["created"])


async def check_consent(services: Services, login_id: int) -> dict | None:
    details = await services.finicity.get_authorization_details(login_id)
    if details is None:
        # Legacy (non-OAuth) logins have no consent window: record that it was checked.
        return await services.rpc.call(
            "ob_institution_login_set_consent",
            {
                "p_login_id": login_id,
                "p_start_at": None,
                "p_end_at": None,
                "p_warning_days": services.settings.open_banking_consent_warning_days,
            },
        )
    row = await services.rpc.call(
        "ob_institution_login_set_consent",
        {
            "p_login_id": login_id,
            "p_start_at": details.authorization_start_date,
            "p_end_at": details.authorization_end_date,
            "p_warning_days": services.settings.open_banking_consent_warning_days,
        },
    )
    if row and row.get("needs_reauth"):
        log.warning("consent.expiring", institution_login_id=login_id, ends_at=str(details.authorization_end_date))
    return row
