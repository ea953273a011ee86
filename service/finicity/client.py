"""Async client for Mastercard Open Banking US (formerly Finicity).

Rules (ARCHITECTURE.md, "Mastercard client rules"):
- one `httpx.AsyncClient` per process, explicit timeouts;
- `Finicity-App-Key`, `Finicity-App-Token`, `Accept`/`Content-Type: application/json` on every call
  (OBWMS calls also send the `App-Key`/`App-Token` spellings its error texts use);
- 429, 5xx and transport failures retried with full-jitter backoff honouring `Retry-After`, bounded;
- a 401 with an expired/invalid/missing-token code: one fresh token from the provider, one retry;
- every failure is a typed `FinicityError` carrying Finicity's code;
- logs and the `on_call` hook see the path *template*, never ids, tokens or account numbers.

Retrying POSTs: creates are retried like reads. A customer create whose first attempt reached the
server before timing out comes back as 409 (110002) on the retry; the link flow resolves that by
looking the username up, never by a second customer. Calls with a visible side effect per request
(Connect email, consumer create, transaction refresh, subscription create) are retried only when the request cannot have
been acted on: 429, 503, or a connection that was never established.
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import httpx
import msgspec
import structlog
from pydantic import BaseModel, SecretStr, ValidationError

from service.finicity.errors import (
    NO_AUTHORIZATION_DETAILS_CODES,
    FinicityError,
    NotFound,
    TokenInvalid,
    TransportError,
    UnexpectedResponse,
    error_from_response,
    redact,
)
from service.finicity.models import (
    AccessToken,
    AuthorizationDetails,
    Branding,
    BrandingWrapper,
    CertifiedInstitutions,
    ConnectEmailLink,
    ConnectLink,
    Consumer,
    CreatedConsumer,
    CreatedCustomer,
    Customer,
    CustomerAccount,
    CustomerAccounts,
    Customers,
    Institution,
    InstitutionWrapper,
    NewConsumer,
    RefreshMode,
    StatementDetail,
    StatementDetails,
    Subscription,
    SubscriptionDetail,
    Subscriptions,
    TransactionPage,
    TransactionRefresh,
    TransactionRefreshStatus,
)
from service.finicity.paging import read_pages
from service.finicity.retry import DEFAULT_RETRY_AFTER_CAP, backoff_delay

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.finicity.com"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=10.0)
TRANSACTIONS_PAGE_LIMIT = 1000
# Statement PDFs: the spec advises a 180 s timeout; the response is a binary file, not JSON.
STATEMENT_TIMEOUT = httpx.Timeout(connect=5.0, read=180.0, write=30.0, pool=10.0)
BINARY_ACCEPT = "application/octet-stream, application/pdf"

ModelT = TypeVar("ModelT", bound=BaseModel | msgspec.Struct)
CallHook = Callable[[str, str, int | None, float, str | None], None]


class TokenProvider(Protocol):
    async def get(self) -> str: ...

    async def invalidate(self, token: str) -> None: ...


class RetryPolicy(enum.Enum):
    ALWAYS = "always"  # reads, deletes, PUTs, creates whose duplicate is detected (409)
    UNPROCESSED_ONLY = "unprocessed_only"  # side effects per request: retry only if not acted on


# Failures after which the server has certainly not acted on the request.
_UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _is_retryable(policy: RetryPolicy, error: FinicityError, cause: Exception | None) -> bool:
    if not error.retryable:
        return False
    if policy is RetryPolicy.ALWAYS:
        return True
    if cause is not None:
        return isinstance(cause, _UNSENT_ERRORS)
    return error.status in (429, 503)


def _json(content: bytes) -> Any:
    # Decimal, never float: -1234.56 must reach the database as exactly -1234.56.
    return json.loads(content, parse_float=Decimal)


class FinicityClient:
    def __init__(
        self,
        base_url: str,
        app_key: SecretStr,
        partner_id: str,
        partner_secret: SecretStr,
        token_provider: TokenProvider | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        on_call: CallHook | None = None,
        call_permit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`max_retries` counts retries after the first attempt (so at most max_retries + 1 requests).

        `token_provider` may be attached later (`client.token_provider = service`), because the token
        service itself needs `client.authenticate`. `call_permit`, when set, is awaited before every
        request (retries included): the platform's calls-per-minute budget (service/finicity/budget.py).
        """
        self.base_url = base_url.rstrip("/")
        self._app_key = app_key
        self.partner_id = partner_id
        self._partner_secret = partner_secret
        self.token_provider = token_provider
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=50, max_keepalive_connections=20)
        )
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._rng = rng
        self.on_call = on_call
        self.statement_timeout = STATEMENT_TIMEOUT
        self.call_permit = call_permit

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> FinicityClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # ---- transport -------------------------------------------------------------------------

    def _headers(
        self, token: str | None, obwms: bool, external_request_id: str | None, accept: str = "application/json"
    ) -> dict[str, str]:
        app_key = self._app_key.get_secret_value()
        headers = {
            "Finicity-App-Key": app_key,
            "Accept": accept,
            "Content-Type": "application/json",
        }
        if token is not None:
            headers["Finicity-App-Token"] = token
        if obwms:
            headers["App-Key"] = app_key
            if token is not None:
                headers["App-Token"] = token
            if external_request_id:
                headers["X-External-Request-Id"] = external_request_id
        return headers

    def _report(
        self, method: str, template: str, status: int | None, duration: float, code: str | None
    ) -> None:
        log.info(
            "finicity.call",
            method=method,
            path=template,
            status=status,
            duration_ms=round(duration * 1000, 1),
            finicity_code=code,
        )
        if self.on_call is None:
            return
        try:
            self.on_call(method, template, status, duration, code)
        except Exception:  # a metrics hook must never fail a bank call
            log.exception("finicity.on_call_failed", path=template)

    async def _token(self) -> str:
        if self.token_provider is None:
            raise RuntimeError("FinicityClient has no token_provider; attach the PartnerTokenService first")
        return await self.token_provider.get()

    async def _request(
        self,
        method: str,
        template: str,
        path_params: Mapping[str, str | int] | None = None,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        authenticated: bool = True,
        obwms: bool = False,
        policy: RetryPolicy = RetryPolicy.ALWAYS,
        request_timeout: httpx.Timeout | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        path = template.format(**{k: str(v) for k, v in (path_params or {}).items()})
        url = self.base_url + path
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        external_request_id = str(uuid.uuid4()) if obwms else None
        attempt = 0
        refreshed = False
        while True:
            token = await self._token() if authenticated else None
            headers = self._headers(token, obwms, external_request_id, accept)
            if self.call_permit is not None:
                await self.call_permit()
            started = time.monotonic()
            cause: Exception | None = None
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=params,
                    content=content,
                    headers=headers,
                    timeout=request_timeout if request_timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                cause = exc
                error: FinicityError = TransportError(
                    None, None, redact(f"{type(exc).__name__}: {exc}", self._secrets(token))[:300]
                )
                self._report(method, template, None, time.monotonic() - started, None)
            else:
                status = response.status_code
                if 200 <= status < 300 and status != 203:
                    self._report(method, template, status, time.monotonic() - started, None)
                    return response
                error = error_from_response(status, response.content, response.headers, self._secrets(token))
                self._report(method, template, status, time.monotonic() - started, error.code)

            provider = self.token_provider
            if isinstance(error, TokenInvalid) and provider is not None and token and not refreshed:
                # One fresh token and one retry; a second rejection is raised (no loop).
                refreshed = True
                log.info("finicity.token_rejected", path=template, finicity_code=error.code)
                await provider.invalidate(token)
                continue
            if attempt < self.max_retries and _is_retryable(policy, error, cause):
                delay = backoff_delay(
                    attempt,
                    self.backoff_base,
                    self.backoff_cap,
                    self._rng,
                    error.retry_after,
                    self.retry_after_cap,
                )
                log.warning(
                    "finicity.retry",
                    method=method,
                    path=template,
                    status=error.status,
                    finicity_code=error.code,
                    attempt=attempt + 1,
                    delay_s=round(delay, 3),
                )
                attempt += 1
                await self._sleep(delay)
                continue
            raise error

    def _secrets(self, token: str | None) -> list[str]:
        values = [self._app_key.get_secret_value(), self._partner_secret.get_secret_value()]
        return [*values, token] if token else values

    @staticmethod
    def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
        try:
            if issubclass(model, msgspec.Struct):
                return model.decode(response.content)  # type: ignore[attr-defined, no-any-return]
            return model.model_validate(_json(response.content))
        except ValueError as exc:  # JSONDecodeError and ValidationError are both ValueErrors
            raise UnexpectedResponse(response.status_code, None, _describe(model.__name__, exc)) from None

    @staticmethod
    def _parse_page(response: httpx.Response) -> TransactionPage:
        """A transactions page; rows that do not match the spec come back as `rejected`, not as an error."""
        try:
            return TransactionPage.decode(response.content)
        except ValueError as exc:  # the envelope itself is not a page: nothing on it can be trusted
            raise UnexpectedResponse(response.status_code, None, _describe("Transactions", exc)) from None

    # ---- partner authentication --------------------------------------------------------------

    async def authenticate(self) -> str:
        """A new partner token (lives 2 hours). Only the token service should call this."""
        response = await self._request(
            "POST",
            "/aggregation/v2/partners/authentication",
            body={"partnerId": self.partner_id, "partnerSecret": self._partner_secret.get_secret_value()},
            authenticated=False,
        )
        return self._parse(AccessToken, response).token

    # ---- customers ---------------------------------------------------------------------------

    async def create_customer(
        self,
        username: str,
        first_name: str | None = None,
        last_name: str | None = None,
        email: str | None = None,
        *,
        testing: bool,
    ) -> CreatedCustomer:
        """Raises `Conflict` (110002) when the username exists: resolve with find_customer_by_username."""
        body = _without_none(
            {"username": username, "firstName": first_name, "lastName": last_name, "email": email}
        )
        template = "/aggregation/v2/customers/testing" if testing else "/aggregation/v2/customers/active"
        response = await self._request("POST", template, body=body)
        return self._parse(CreatedCustomer, response)

    async def find_customer_by_username(self, username: str) -> Customer | None:
        response = await self._request("GET", "/aggregation/v1/customers", params={"username": username})
        found = self._parse(Customers, response).customers
        return next((c for c in found if c.username == username), None)

    # ---- consumers (Mastercard's Connect email needs one: ConnectEmailParameters requires consumerId) ----

    async def get_consumer_for_customer(self, finicity_customer_id: str) -> Consumer | None:
        """The customer's consumer, or None when it has none yet (404)."""
        try:
            response = await self._request(
                "GET", "/decisioning/v1/customers/{customerId}/consumer", {"customerId": finicity_customer_id}
            )
        except NotFound:
            return None
        return self._parse(Consumer, response)

    async def create_consumer(self, finicity_customer_id: str, consumer: NewConsumer) -> CreatedConsumer:
        """Raises `Conflict` (11000) when the customer has one: resolve with get_consumer_for_customer."""
        response = await self._request(
            "POST",
            "/decisioning/v1/customers/{customerId}/consumer",
            {"customerId": finicity_customer_id},
            body=consumer.to_wire(),
        )
        return self._parse(CreatedConsumer, response)

    async def delete_customer(self, finicity_customer_id: str) -> bool:
        """True if deleted now, False if Finicity no longer knew the customer (already deleted)."""
        try:
            await self._request(
                "DELETE", "/aggregation/v1/customers/{customerId}", {"customerId": finicity_customer_id}
            )
        except NotFound:
            return False
        return True

    # ---- Connect -----------------------------------------------------------------------------

    def _connect_body(
        self,
        finicity_customer_id: str,
        redirect_uri: str | None,
        webhook: str | None,
        webhook_data: Mapping[str, Any] | None,
        experience: str | None,
        **extra: Any,
    ) -> dict[str, Any]:
        return _without_none(
            {
                "partnerId": self.partner_id,
                "customerId": finicity_customer_id,
                "redirectUri": redirect_uri,
                "webhook": webhook,
                "webhookContentType": "application/json" if webhook else None,
                "webhookData": dict(webhook_data) if webhook_data else None,
                "experience": experience,
                **extra,
            }
        )

    async def generate_connect_link(
        self,
        finicity_customer_id: str,
        redirect_uri: str | None,
        webhook: str | None,
        webhook_data: Mapping[str, Any] | None = None,
        experience: str | None = None,
    ) -> ConnectLink:
        """GenerateConnectUrl: a link the platform delivers itself (no consumer needed)."""
        body = self._connect_body(finicity_customer_id, redirect_uri, webhook, webhook_data, experience)
        return self._parse(ConnectLink, await self._request("POST", "/connect/v2/generate", body=body))

    async def send_connect_email(
        self,
        finicity_customer_id: str,
        consumer_id: str,
        email_to: str,
        first_name: str | None,
        redirect_uri: str | None,
        webhook: str | None,
        webhook_data: Mapping[str, Any] | None = None,
        experience: str | None = None,
        subject: str | None = None,
        from_name: str | None = None,
        institution_name: str | None = None,
        support_phone: str | None = None,
    ) -> ConnectEmailLink:
        email = _without_none(
            {
                "to": email_to,
                "firstName": first_name,
                "subject": subject,
                "from": from_name,
                "institutionName": institution_name,
                "supportPhone": support_phone,
            }
        )
        body = self._connect_body(
            finicity_customer_id, redirect_uri, webhook, webhook_data, experience, consumerId=consumer_id, email=email
        )
        # Each accepted request sends an email: retry only what the server cannot have acted on.
        response = await self._request(
            "POST", "/connect/v2/send/email", body=body, policy=RetryPolicy.UNPROCESSED_ONLY
        )
        return self._parse(ConnectEmailLink, response)

    async def generate_fix_link(
        self,
        finicity_customer_id: str,
        institution_login_id: int | str,
        redirect_uri: str | None,
        webhook: str | None,
        webhook_data: Mapping[str, Any] | None = None,
        experience: str | None = None,
    ) -> ConnectLink:
        body = self._connect_body(
            finicity_customer_id,
            redirect_uri,
            webhook,
            webhook_data,
            experience,
            institutionLoginId=str(institution_login_id),  # a string in FixConnectParameters
        )
        return self._parse(ConnectLink, await self._request("POST", "/connect/v2/generate/fix", body=body))

    # ---- accounts ----------------------------------------------------------------------------

    async def list_accounts(self, finicity_customer_id: str, status: str | None = None) -> list[CustomerAccount]:
        response = await self._request(
            "GET",
            "/aggregation/v1/customers/{customerId}/accounts",
            {"customerId": finicity_customer_id},
            params=_without_none({"status": status}),
        )
        return self._parse(CustomerAccounts, response).accounts

    async def delete_institution_login(self, finicity_customer_id: str, institution_login_id: int) -> bool:
        """DeleteCustomerAccountsByInstitutionLogin: Mastercard stops access to every account of one bank
        connection. True if removed now, False if Mastercard no longer had it (404: already removed)."""
        try:
            await self._request(
                "DELETE",
                "/aggregation/v1/customers/{customerId}/institutionLogins/{institutionLoginId}",
                {"customerId": finicity_customer_id, "institutionLoginId": institution_login_id},
            )
        except NotFound:
            return False
        return True

    async def delete_account(self, finicity_customer_id: str, account_id: str) -> bool:
        """DeleteCustomerAccount: access to this one account ends; its siblings stay. False on 404."""
        try:
            await self._request(
                "DELETE",
                "/aggregation/v1/customers/{customerId}/accounts/{accountId}",
                {"customerId": finicity_customer_id, "accountId": account_id},
            )
        except NotFound:
            return False
        return True

    # ---- transactions ------------------------------------------------------------------------

    @staticmethod
    def _transaction_params(
        from_date: int, to_date: int, start: int, limit: int, sort: str, include_pending: bool
    ) -> dict[str, str | int]:
        return {
            "fromDate": from_date,
            "toDate": to_date,
            "start": start,
            "limit": limit,
            "sort": sort,
            "includePending": "true" if include_pending else "false",
        }

    async def get_account_transactions(
        self,
        finicity_customer_id: str,
        account_id: str,
        from_date: int,
        to_date: int,
        start: int = 1,
        limit: int = TRANSACTIONS_PAGE_LIMIT,
        sort: str = "asc",
        include_pending: bool = True,
    ) -> TransactionPage:
        """One page; `start` is a 1-based record index (start=1001 is the second page of 1000)."""
        response = await self._request(
            "GET",
            "/aggregation/v4/customers/{customerId}/accounts/{accountId}/transactions",
            {"customerId": finicity_customer_id, "accountId": account_id},
            params=self._transaction_params(from_date, to_date, start, limit, sort, include_pending),
        )
        return self._parse_page(response)

    async def get_customer_transactions(
        self,
        finicity_customer_id: str,
        from_date: int,
        to_date: int,
        start: int = 1,
        limit: int = TRANSACTIONS_PAGE_LIMIT,
        sort: str = "asc",
        include_pending: bool = True,
    ) -> TransactionPage:
        response = await self._request(
            "GET",
            "/aggregation/v3/customers/{customerId}/transactions",
            {"customerId": finicity_customer_id},
            params=self._transaction_params(from_date, to_date, start, limit, sort, include_pending),
        )
        return self._parse_page(response)

    async def iter_account_transaction_pages(
        self,
        finicity_customer_id: str,
        account_id: str,
        from_date: int,
        to_date: int,
        limit: int = TRANSACTIONS_PAGE_LIMIT,
        sort: str = "asc",
        include_pending: bool = True,
    ) -> AsyncIterator[TransactionPage]:
        """Every page of one account's window, through the guarded pager (`IncompleteRead` on a lie)."""

        async def fetch(start: int) -> TransactionPage:
            return await self.get_account_transactions(
                finicity_customer_id, account_id, from_date, to_date, start, limit, sort, include_pending
            )

        async for page in read_pages(fetch, limit):
            yield page

    async def iter_customer_transaction_pages(
        self,
        finicity_customer_id: str,
        from_date: int,
        to_date: int,
        limit: int = TRANSACTIONS_PAGE_LIMIT,
        sort: str = "asc",
        include_pending: bool = True,
    ) -> AsyncIterator[TransactionPage]:
        """Every page of the customer's window across accounts (v3), through the same guarded pager."""

        async def fetch(start: int) -> TransactionPage:
            return await self.get_customer_transactions(
                finicity_customer_id, from_date, to_date, start, limit, sort, include_pending
            )

        async for page in read_pages(fetch, limit):
            yield page

    # ---- asynchronous refreshes (never automated: only a person's request or one historic load per login) --

    async def refresh_transactions(
        self,
        finicity_customer_id: str,
        mode: RefreshMode,
        *,
        institution_login_id: int | str | None = None,
        account_ids: list[str] | None = None,
    ) -> TransactionRefresh:
        """Start a refresh (202); follow it with get_transaction_refresh_status or the OBWMS event.

        `standard` re-aggregates (6 months); `historic` loads 24 months. Each accepted call starts work at the
        institution, so it is retried only when the request cannot have been acted on.
        """
        if institution_login_id is None and not account_ids:
            raise ValueError("refresh_transactions needs institution_login_id or account_ids")
        body = _without_none(
            {
                "institutionLoginId": None if institution_login_id is None else str(institution_login_id),
                "accountIds": list(account_ids) if account_ids else None,
                "mode": mode,
            }
        )
        response = await self._request(
            "POST",
            "/aggregation/customers/{customerId}/transactions/refreshes",
            {"customerId": finicity_customer_id},
            body=body,
            policy=RetryPolicy.UNPROCESSED_ONLY,
        )
        return self._parse(TransactionRefresh, response)

    async def get_transaction_refresh_status(
        self, finicity_customer_id: str, refresh_id: str
    ) -> TransactionRefreshStatus:
        response = await self._request(
            "GET",
            "/aggregation/customers/{customerId}/transactions/refreshes/{refreshId}",
            {"customerId": finicity_customer_id, "refreshId": refresh_id},
        )
        return self._parse(TransactionRefreshStatus, response)

    # ---- institutions (not billable) ---------------------------------------------------------

    async def get_institution(self, institution_id: str) -> Institution | None:
        """None when Mastercard does not know the institution (404)."""
        try:
            response = await self._request(
                "GET", "/institution/v2/institutions/{institutionId}", {"institutionId": institution_id}
            )
        except NotFound:
            return None
        return self._parse(InstitutionWrapper, response).institution

    async def get_institution_branding(self, institution_id: str) -> Branding | None:
        """None when the institution has no branding (404)."""
        try:
            response = await self._request(
                "GET", "/institution/v2/institutions/{institutionId}/branding", {"institutionId": institution_id}
            )
        except NotFound:
            return None
        return self._parse(BrandingWrapper, response).branding

    # ---- consent -----------------------------------------------------------------------------

    async def get_authorization_details(self, institution_login_id: int) -> AuthorizationDetails | None:
        """The consent window, or None when the login has none (legacy login 3003, old grant 3004)."""
        try:
            response = await self._request(
                "GET",
                "/customers/institution-logins/{institutionLoginId}/authorization-details",
                {"institutionLoginId": institution_login_id},
            )
        except NotFound as exc:
            if exc.code in NO_AUTHORIZATION_DETAILS_CODES:
                return None
            raise
        return self._parse(AuthorizationDetails, response)

    # ---- statements (billable: each successful PDF download is charged) ------------------------

    async def get_statement(self, finicity_customer_id: str, account_id: str, index: int = 1) -> bytes:
        """The PDF of statement `index` (1 = most recent, counting back by month, at most 24)."""
        response = await self._request(
            "GET",
            "/aggregation/v1/customers/{customerId}/accounts/{accountId}/statement",
            {"customerId": finicity_customer_id, "accountId": account_id},
            params={"index": index},
            request_timeout=self.statement_timeout,
            accept=BINARY_ACCEPT,
        )
        return self._pdf(response)

    async def get_statement_details(
        self, finicity_customer_id: str, account_id: str, indexes: list[int]
    ) -> list[StatementDetail]:
        """Asset ids and periods of the statements at `indexes` (not billable); per-index errors inline."""
        response = await self._request(
            "GET",
            "/aggregation/v3/customers/{customerId}/accounts/{accountId}/statement",
            {"customerId": finicity_customer_id, "accountId": account_id},
            params={"index": ",".join(str(i) for i in indexes)},
        )
        return self._parse(StatementDetails, response).statements

    async def get_asset(self, finicity_customer_id: str, asset_id: str) -> bytes:
        """The file of one asset (a statement PDF named by get_statement_details); billable."""
        response = await self._request(
            "GET",
            "/aggregation/v1/customers/{customerId}/assets/{assetId}",
            {"customerId": finicity_customer_id, "assetId": asset_id},
            request_timeout=self.statement_timeout,
            accept=BINARY_ACCEPT,
        )
        return self._pdf(response)

    @staticmethod
    def _pdf(response: httpx.Response) -> bytes:
        if not response.content.startswith(b"%PDF-"):
            raise UnexpectedResponse(response.status_code, None, "expected a PDF document")
        return response.content

    async def get_certified_institutions(
        self, product: str = "stateAgg", search: str | None = None, start: int = 1, limit: int = 1000
    ) -> CertifiedInstitutions:
        """Institutions certified for `product` (`stateAgg`: statements). `start` is a page index."""
        response = await self._request(
            "GET",
            "/institution/v2/certifiedInstitutions",
            params=_without_none({"type": product, "search": search, "start": start, "limit": limit}),
        )
        return self._parse(CertifiedInstitutions, response)

    # ---- OBWMS webhook subscriptions ---------------------------------------------------------

    async def create_subscription(self, subscription: Subscription) -> SubscriptionDetail:
        response = await self._request(
            "POST",
            "/notification-subscriptions/webhooks",
            body=subscription.to_wire(),
            obwms=True,
            policy=RetryPolicy.UNPROCESSED_ONLY,  # a duplicate subscription would double every event
        )
        return self._parse(SubscriptionDetail, response)

    async def list_subscriptions(self, offset: int = 1, limit: int = 10) -> Subscriptions:
        response = await self._request(
            "GET",
            "/notification-subscriptions/webhooks",
            params={"offset": offset, "limit": limit},
            obwms=True,
        )
        return self._parse(Subscriptions, response)

    async def get_subscription(self, subscription_id: str) -> SubscriptionDetail:
        response = await self._request(
            "GET",
            "/notification-subscriptions/webhooks/{subscriptionId}",
            {"subscriptionId": subscription_id},
            obwms=True,
        )
        return self._parse(SubscriptionDetail, response)

    async def update_subscription(
        self, subscription_id: str, subscription: Subscription
    ) -> SubscriptionDetail:
        response = await self._request(
            "PUT",
            "/notification-subscriptions/webhooks/{subscriptionId}",
            {"subscriptionId": subscription_id},
            body=subscription.to_wire(),
            obwms=True,
        )
        return self._parse(SubscriptionDetail, response)

    async def delete_subscription(self, subscription_id: str) -> bool:
        """True if deleted now, False if it was already gone."""
        try:
            await self._request(
                "DELETE",
                "/notification-subscriptions/webhooks/{subscriptionId}",
                {"subscriptionId": subscription_id},
                obwms=True,
            )
        except NotFound:
            return False
        return True


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _describe(name: str, exc: ValueError) -> str:
    """Where the body failed to match, without echoing values (they may be account numbers)."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:5])
        return f"{name} did not match the spec ({problems})"
    if isinstance(exc, msgspec.ValidationError):
        # msgspec names the expected type and the path (`$.transactions[0].id`), never the value.
        return f"{name} did not match the spec ({exc})"
    return f"{name}: body is not JSON"
