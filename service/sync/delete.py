"""delete_customer: remove the Finicity customer (and with it Mastercard's access to the client's
accounts), then every row we hold for it. Safe to repeat: a customer already gone at Finicity is
treated as deleted."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog

from service.jobs.types import Job, PermanentJobError

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)


async def delete_customer_job(services: Services, job: Job) -> None:
    await delete_customer(services, job.payload)


async def delete_customer(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("finicity_customer_id"):
        customer = await services.rpc.call(
            "ob_customer_get", {"p_finicity_customer_id": payload["finicity_customer_id"]}
        )
    elif payload.get("platform_client_id"):
        customer = await services.rpc.call(
            "ob_customer_get", {"p_platform_client_id": uuid.UUID(str(payload["platform_client_id"]))}
        )
    else:
        raise PermanentJobError("delete_customer needs finicity_customer_id or platform_client_id")
    if not customer:
        return {"deleted": False, "accounts": 0, "transactions": 0}
    finicity_id = customer.get("finicity_customer_id")
    if finicity_id:
        existed = await services.finicity.delete_customer(finicity_id)
        log.info("delete.finicity_customer", finicity_customer_id=finicity_id, existed=existed)
        result: dict[str, Any] = await services.rpc.call("ob_customer_delete", {"p_finicity_customer_id": finicity_id})
        return result
    # Never created at Finicity (the link failed early): only our row exists.
    result = await services.rpc.call(
        "ob_customer_delete_unlinked", {"p_platform_client_id": customer["platform_client_id"]}
    )
    return result
