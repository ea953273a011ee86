"""account_request: a CPA's per-bank change, carried out at Mastercard and then in our rows.

disconnect_login -> DeleteCustomerAccountsByInstitutionLogin; remove_account -> DeleteCustomerAccount
(a 404 means Mastercard had already removed it: confirmed all the same); exclude_account /
include_account -> GetCustomerAccounts confirms the account is still the customer's. Only then does
`ob_account_request_finish` change exactly the rows the request names (one transaction). A failure
Mastercard will not get over (or the last attempt) marks the request failed with a message the CPA
can read; anything else is retried as a job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from service.finicity.errors import FinicityError, NotFound
from service.jobs.types import Job, PermanentJobError

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)

NOT_LINKED = "This client has not linked a bank account yet."
ACCOUNT_GONE = "Mastercard no longer has this account; it will disappear at the next refresh."


async def account_request_job(services: Services, job: Job) -> None:
    request_id = job.payload.get("account_request_id")
    if not request_id:
        raise PermanentJobError("account_request needs account_request_id")
    request: dict[str, Any] | None = await services.rpc.call("ob_account_request_begin", {"p_id": request_id})
    if request is None or request["status"] in ("succeeded", "failed"):
        return  # gone with its client, or already carried out by an earlier run of this job
    finish = {"p_id": request_id}
    finicity_id = request.get("finicity_customer_id")
    if not finicity_id:
        await services.rpc.call("ob_account_request_finish", finish | {"p_error": NOT_LINKED})
        return
    try:
        await _at_mastercard(services, finicity_id, request)
    except NotFound:
        await services.rpc.call("ob_account_request_finish", finish | {"p_error": ACCOUNT_GONE})
        return
    except FinicityError as exc:
        if job.attempts >= job.max_attempts:
            await services.rpc.call("ob_account_request_finish", finish | {"p_error": exc.reason})
        raise
    outcome = await services.rpc.call("ob_account_request_finish", finish)
    log.info("account_request.done", action=request["action"], finicity_customer_id=finicity_id,
             accounts_removed=outcome.get("accounts_removed"))


async def _at_mastercard(services: Services, finicity_id: str, request: dict[str, Any]) -> None:
    action, finicity = request["action"], services.finicity
    if action == "disconnect_login":
        await finicity.delete_institution_login(finicity_id, int(request["institution_login_id"]))
    elif action == "remove_account":
        await finicity.delete_account(finicity_id, request["account_id"])
    elif action in ("exclude_account", "include_account"):
        accounts = await finicity.list_accounts(finicity_id)
        if not any(a.id == request["account_id"] for a in accounts):
            raise NotFound(404, None, "the account is not among the customer's accounts")
    else:
        raise PermanentJobError(f"unknown account request action {action!r}")
