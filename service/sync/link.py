"""Link flow (`deliver_link` job): a request row → the Finicity customer (get or create) → the link, as the
row's `delivery` says: generated for the platform to send (`platform`, ends `ready`), or emailed by
Mastercard (`mastercard_email`, ends `sent`; needs a Finicity consumer, found or created once, the
personal fields cleared afterwards). A Fix link (`fix`) is always stored `ready` for the platform.

Idempotent: the customer username is derived from the platform client id, so a retried create
that meets 409 finds the customer it made; a request already `sent` is not sent again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import structlog

from service.finicity.errors import Conflict, FinicityError, RateLimited, ServerError, TransportError
from service.finicity.models import Birthday, NewConsumer
from service.jobs.types import Job, PermanentJobError
from service.sync.mapping import customer_username

if TYPE_CHECKING:
    from service.runtime import Services

log = structlog.get_logger(__name__)

# Worth another attempt later; anything else is a problem a person must look at.
TRANSIENT_ERRORS = (RateLimited, ServerError, TransportError)
CONNECT_LINK_LIFETIME = dt.timedelta(hours=2)


async def ensure_customer(
    services: Services, platform_client_id: uuid.UUID, first_name: str | None = None, link_request_id: Any = None
) -> str:
    """The client's Finicity customer id, creating the customer (testing or active) once. The client
    may be deleted meanwhile: then nothing is created, or what Mastercard just created is queued for
    deletion with the client (public.ob_customer_upsert), and the job ends for good."""
    rpc = services.rpc
    row = await rpc.call("ob_customer_get", {"p_platform_client_id": platform_client_id})
    if row and row.get("finicity_customer_id"):
        return str(row["finicity_customer_id"])
    username = customer_username(platform_client_id)
    customer_type = services.settings.open_banking_customer_type
    identity = {"p_platform_client_id": platform_client_id, "p_username": username, "p_customer_type": customer_type}
    if await rpc.call("ob_customer_upsert", {**identity, "p_link_request_id": link_request_id}) is None:
        raise PermanentJobError("the link request was deleted with its client before a customer was made")
    try:
        created = await services.finicity.create_customer(
            username, first_name=first_name or "Client", last_name="Client", testing=customer_type == "testing"
        )
        finicity_id = created.id
    except Conflict:
        # Made by an earlier attempt whose answer we never saw: find it, never make a second one.
        existing = await services.finicity.find_customer_by_username(username)
        if existing is None:
            raise
        finicity_id = existing.id
    if await rpc.call("ob_customer_upsert", {**identity, "p_finicity_customer_id": finicity_id}) is None:
        log.warning("link.customer_of_deleted_client", finicity_customer_id=finicity_id)
        raise PermanentJobError("the client was deleted while Mastercard made its customer; that customer is "
                                "queued for deletion")
    log.info("link.customer_ready", finicity_customer_id=finicity_id)
    return finicity_id


async def ensure_consumer(
    services: Services, platform_client_id: uuid.UUID, finicity_customer_id: str, request: dict[str, Any]
) -> str:
    """The customer's Mastercard consumer (needed for Mastercard's Connect email): the stored id, the one
    Mastercard already has (GetConsumerForCustomer), or a new one (CreateConsumer) from the fields the CPA
    supplied on the request: names, state, birthday (never an SSN) and the email address."""
    customer = await services.rpc.call("ob_customer_get", {"p_platform_client_id": platform_client_id})
    if customer and customer.get("finicity_consumer_id"):
        return str(customer["finicity_consumer_id"])
    existing = await services.finicity.get_consumer_for_customer(finicity_customer_id)
    if existing is None:
        try:
            existing_id = (await services.finicity.create_consumer(finicity_customer_id, _new_consumer(request))).id
        except Conflict:
            # Made by an earlier attempt whose answer we never saw.
            found = await services.finicity.get_consumer_for_customer(finicity_customer_id)
            if found is None:
                raise
            existing_id = found.id
    else:
        existing_id = existing.id
    # Stores the id and clears the personal fields from the client's link requests.
    await services.rpc.call(
        "ob_customer_set_consumer", {"p_platform_client_id": platform_client_id, "p_consumer_id": existing_id}
    )
    log.info("link.consumer_ready", finicity_customer_id=finicity_customer_id)
    return existing_id


def _new_consumer(request: dict[str, Any]) -> NewConsumer:
    for name in ("first_name", "last_name", "state", "birthday", "email_to"):
        if not request.get(name):
            # The insert rule refuses such a request; one can still lose its fields (cleared for an
            # earlier consumer that Mastercard no longer has).
            raise PermanentJobError(f"{name} is required to create the Mastercard consumer")
    born = dt.date.fromisoformat(str(request["birthday"]))
    return NewConsumer(
        first_name=request["first_name"],
        last_name=request["last_name"],
        state=request["state"],
        birthday=Birthday(year=born.year, month=born.month, day_of_month=born.day),
        email=request["email_to"],
    )


def link_expiry(link: str, now: dt.datetime) -> dt.datetime:
    """Connect links carry `ttl` (epoch ms); fall back to the documented two hours."""
    ttl = parse_qs(urlsplit(link).query).get("ttl")
    if ttl and ttl[0].isdigit():
        return dt.datetime.fromtimestamp(int(ttl[0]) / 1000, tz=dt.UTC)
    return now + CONNECT_LINK_LIFETIME


async def deliver_link(services: Services, job: Job) -> None:
    rpc = services.rpc
    request_id = job.payload.get("link_request_id")
    request = await rpc.call("ob_link_request_get", {"p_id": request_id}) if request_id else None
    if request is None:
        raise PermanentJobError("the link request no longer exists")
    if request["status"] in ("sent", "ready"):
        return
    await rpc.call("ob_link_request_update", {"p_id": request_id, "p_status": "sending"})
    settings = services.settings
    try:
        platform_client_id = uuid.UUID(request["platform_client_id"])
        finicity_customer_id = await ensure_customer(
            services, platform_client_id, request.get("first_name"), link_request_id=request_id
        )
        webhook_data = {"platformClientId": str(platform_client_id), "requestId": str(request_id)}
        now = dt.datetime.now(dt.UTC)
        redirect, webhook = str(settings.open_banking_redirect_uri), settings.connect_webhook_url
        if request["kind"] == "fix":
            fixed = await services.finicity.generate_fix_link(
                finicity_customer_id, request["institution_login_id"], redirect, webhook, webhook_data=webhook_data
            )
            link, status = fixed.link, "ready"
        elif request.get("delivery", "platform") == "platform":
            # The platform emails the link itself: no consumer, no personal data leaves the database.
            generated = await services.finicity.generate_connect_link(
                finicity_customer_id, redirect, webhook, webhook_data=webhook_data
            )
            link, status = generated.link, "ready"
        else:
            consumer_id = await ensure_consumer(services, platform_client_id, finicity_customer_id, request)
            sent = await services.finicity.send_connect_email(
                finicity_customer_id,
                consumer_id,
                request["email_to"],
                request.get("first_name"),
                redirect,
                webhook,
                webhook_data=webhook_data,
            )
            link, status = sent.link, "sent"
    except FinicityError as exc:
        await _record_failure(services, job, request_id, exc)
        raise
    await rpc.call(
        "ob_link_request_update",
        {"p_id": request_id, "p_status": status, "p_link": link, "p_ttl_expires_at": link_expiry(link, now)},
    )
    await rpc.call(
        "ob_customer_set_link_status",
        {"p_finicity_customer_id": finicity_customer_id, "p_status": "pending", "p_event_at": now},
    )
    log.info("link.sent", finicity_customer_id=finicity_customer_id, kind=request["kind"])


async def _record_failure(services: Services, job: Job, request_id: Any, exc: FinicityError) -> None:
    last_attempt = job.attempts >= job.max_attempts
    if isinstance(exc, TRANSIENT_ERRORS) and not last_attempt:
        # Stays `sending` while the job retries with backoff; the CPA sees it as in progress.
        return
    await services.rpc.call(
        "ob_link_request_update", {"p_id": request_id, "p_status": "failed", "p_error_message": exc.reason}
    )
    if not isinstance(exc, TRANSIENT_ERRORS):
        raise PermanentJobError(str(exc)) from exc
