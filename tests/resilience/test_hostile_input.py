"""Hostile input (issue 7, item 5).

Over HTTP, against a real service process (uvicorn, the whole app, its worker running): every route
and unknown paths/methods get malformed, oversized, SQL-ish and unicode-garbage bodies, headers,
paths and query strings (hypothesis), requests generated from the service's own OpenAPI document
for every operation (schemathesis), and malformed HTTP on the wire. Nothing answers 5xx (the
database is up), nothing is stored without a valid signature, and no unverified event is acted on.
(tests/integration/test_webhook_fuzz.py already fuzzes the two webhook routes of a webhook-only app
in-process; this covers the rest of the surface and the real server in front of it.)

In the database, as an `authenticated` caller (what PostgREST does for the React app): generated
inserts into the two CPA-writable tables, the way PostgREST sends them (json_populate_record over
the JSON body), with other CPAs' client ids, random ids, forbidden columns, oversized and malformed
values; then every other write the API roles could try. Each one is refused with the right SQLSTATE
(42501 / 23xxx / 22xxx, never an internal error), and no row is visible or writable across CPAs."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.conftest import acting_as
from tests.resilience.support_faults import compact, connect_signature
from tests.support.processes import Proc, abandon_leftover_jobs, local_env, start_service
from tests.support.scheduler import scheduler_paused
from tests.support.waiting import wait_for

fuzz = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
UA = f"hostile-{uuid.uuid4().hex[:12]}"
ROUTES = ["/webhooks/connect", "/webhooks/mastercard", "/internal/wake", "/healthz", "/readyz", "/metrics"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
SQLISH = [
    "'; drop table public.open_banking_customers; --",
    "' or '1'='1",
    "\" or 1=1 --",
    "1; select pg_sleep(5)",
    "$$; select 1; $$",
    "') union select * from private.ob_partner_tokens --",
    "%27%20or%201%3D1",
    "\\x00\\'",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "\U0001d56f\U0001d597\U0001d594\U0001d595 table \U0001f642 \u202e gnp.exe",
]
stats: Counter[str] = Counter()


# ---- the service under attack ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(log_dir: Path, database_url: str) -> Iterator[Proc]:
    abandon_leftover_jobs(database_url)  # they would keep this worker busy
    proc = start_service(log_dir, database_url, "http://127.0.0.1:9",
                         {"LOG_LEVEL": "WARNING", "WORKER_POLL_SECONDS": "1"})
    yield proc
    proc.kill()


@pytest.fixture(scope="module")
def http(service: Proc) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=20) as client:
        yield client


def _counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        events, jobs, tagged = conn.execute(
            "select (select count(*) from private.ob_webhook_events), (select count(*) from private.ob_jobs), "
            "(select count(*) from private.ob_webhook_events where headers ->> 'user-agent' = %s)", (UA,)
        ).fetchone()
    return {"private.ob_webhook_events": events, "private.ob_jobs": jobs, "events sent by this test": tagged}


@pytest.fixture(scope="module", autouse=True)
def http_report() -> Iterator[None]:
    """A summary of the fuzzed requests' answers for the log (`pytest -s`); each request already
    asserted its own answer (no 5xx), so this is a report, not a test."""
    yield
    if stats["requests"]:
        print(f"\n[hostile http] requests {stats['requests']}, by status "
              f"{ {k: v for k, v in sorted(stats.items()) if k != 'requests'} }")


@pytest.fixture
def untouched(database_url: str, service: Proc) -> Iterator[None]:
    """No request of the test (none of them validly signed) stores an event or a job. pg_cron is
    paused meanwhile: its institution discovery (every 10 minutes) enqueues a job of its own."""
    with scheduler_paused(database_url):
        before = _counts(database_url)
        yield
        after = _counts(database_url)
    print(f"\n[hostile http] row counts before {before} after {after}")
    assert after == before


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(c in text for c in "\r\n\x00")


def send(http: httpx.Client, method: str, path: str, *, body: bytes | None = None,
         headers: dict[str, str] | None = None, params: Any = None) -> int:
    merged: dict[str, bytes] = {k: v.strip(" \t").encode("latin-1") for k, v in (headers or {}).items()
                                if _latin1(k) and _latin1(v) and k.strip() and k.lower() != "user-agent"}
    merged["User-Agent"] = UA.encode()
    response = http.request(method, path, content=body, headers=merged, params=params)
    stats[f"{response.status_code}"] += 1
    stats["requests"] += 1
    assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text[:300]}"
    return response.status_code


# ---- strategies -------------------------------------------------------------------------------------

garbage_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from(SQLISH),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=50).map(lambda s: s * 40),
)
header_names = st.one_of(
    st.sampled_from([
        "X-Finicity-Signature", "X-Mastercard-Signature", "X-Mastercard-Signature-Timestamp",
        "X-Mastercard-Signature-Algorithm", "X-Mastercard-Webhook-Message-Id", "X-Internal-Secret",
        "Content-Type", "Authorization", "Accept", "Accept-Encoding", "Cookie", "X-Forwarded-For", "Origin",
        "Transfer-Encoding-Ish", "Expect-Ish", "Range",
    ]),
    st.from_regex(r"\AX-[A-Za-z0-9-]{1,40}\Z"),
)
header_values = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=300),
    st.sampled_from(SQLISH).filter(_latin1),
    st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x",
                     "application/x-www-form-urlencoded", "0" * 64, "f" * 64, "9" * 40, "-1", "1e309",
                     "SHA256withECDSA", "gzip", "bytes=0-1"]),
    st.integers(min_value=0, max_value=20).map(lambda n: "A" * (2**n)),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | garbage_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(garbage_text, children, max_size=5),
    max_leaves=25,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "eventType": st.sampled_from(["done", "added", "unableToConnect", "ping", "accountsDeleted"]) | garbage_text,
        "eventId": garbage_text | st.integers(),
        "customerId": garbage_text | st.integers() | st.just("1' or '1'='1"),
        "payload": json_values,
    },
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    envelopes.map(lambda v: json.dumps(v).encode()),
    garbage_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"{", b"[" * 5000, b'{"a":' * 3000, b"\xff\xfe\x00", b'{"eventType":"done"}' + b" " * 2000,
                     b"null", b'"\\u0000"', b'{"eventId":"\\u0000"}']),
)
paths = st.one_of(
    st.sampled_from(ROUTES),
    st.sampled_from(ROUTES).map(lambda p: p + "/"),
    st.sampled_from(ROUTES).map(lambda p: p.upper()),
    st.sampled_from(["/", "/schema", "/schema/openapi.json", "/webhooks", "/internal", "/_sandbox/faults",
                     "/webhooks/connect/../../internal/wake", "/%2e%2e/%2e%2e/etc/passwd", "/webhooks/connect%00",
                     "/rest/v1/rpc/ob_webhook_event_ingest", "/" + "a" * 6000, "/metrics?x=" + "%" * 30]),
    # ("//host/..." is not a path: httpx reads it as a network location and refuses it before sending)
    st.from_regex(r"\A/[A-Za-z0-9._~%!$&'()*+,;=:@/-]{0,80}\Z").filter(lambda p: not p.startswith("//")),
)
params = st.none() | st.dictionaries(garbage_text.filter(bool), garbage_text, max_size=4)


@settings(fuzz, max_examples=900)
@given(method=st.sampled_from(METHODS), path=paths, body=bodies,
       headers=st.dictionaries(header_names, header_values, max_size=6), query=params)
def test_every_route_answers_hostile_requests_without_a_5xx(
    http: httpx.Client, untouched: None, method: str, path: str, body: bytes | None, headers: dict[str, str],
    query: Any,
) -> None:
    status = send(http, method, path, body=body if method not in ("GET", "HEAD") else None,
                  headers=headers, params=query)
    if path in ("/webhooks/connect", "/webhooks/mastercard") and method == "POST":
        assert status in (400, 401, 413), status  # never signed with a real key: never 200/202
    if path == "/internal/wake" and method == "POST":
        # 401 without the secret; 400 when the HTTP server refuses the request itself (e.g. a
        # control character in a header) before any route sees it. Never woken, never a 5xx.
        assert status in (400, 401), status
    if path in ("/healthz", "/readyz", "/metrics") and method == "GET":
        control = any(ord(c) < 32 or ord(c) == 127 for v in headers.values() for c in v.strip(" \t"))
        assert status == 200 or (control and status == 400), status  # the HTTP parser refuses DEL etc.


@settings(fuzz, max_examples=120)
@given(size=st.sampled_from([1024 * 1024 + 1, 2 * 1024 * 1024, 5 * 1024 * 1024]),
       path=st.sampled_from([*ROUTES, "/nowhere"]), declare=st.booleans())
def test_oversized_bodies_are_refused(http: httpx.Client, untouched: None, size: int, path: str,
                                      declare: bool) -> None:
    body = b"{" + b'"a":"' + b"x" * (size - 8) + b'"}'
    if declare:
        status = send(http, "POST", path, body=body, headers={"Content-Type": "application/json"})
    else:  # chunked: no Content-Length to reject up front
        status = send(http, "POST", path, body=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                      headers={"Content-Type": "application/json"})  # type: ignore[arg-type]
    if path.startswith("/webhooks/"):
        assert status == 413


def test_requests_generated_from_the_openapi_document_for_every_operation(
    http: httpx.Client, untouched: None
) -> None:
    document = http.get("/schema/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [(path, method.upper()) for path, item in document["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")]
    assert {p for p, _ in operations} >= set(ROUTES), operations
    per_operation: Counter[str] = Counter()
    skipped: list[str] = []

    def runner(path: str, method: str, mode: GenerationMode) -> Any:
        @settings(fuzz, max_examples=35)
        @given(case=schema[path][method].as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
            body = case.body
            raw = None
            if body is not None and method not in ("GET", "HEAD"):
                raw = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
            send(http, method, path, body=raw, headers=headers, params=case.query)
            per_operation[f"{method} {path}"] += 1

        return check

    for path, method in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                runner(path, method, mode)()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to break in an operation without inputs
                skipped.append(f"{method} {path}")
    print(f"\n[hostile http] schemathesis requests per operation {dict(per_operation)} "
          f"(no negative cases for {skipped})")
    assert len(per_operation) == len(operations)


WIRE = [
    b"GARBAGE\r\n\r\n",
    b"POST /webhooks/connect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}{}{}{",
    b"POST /webhooks/connect HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /webhooks/connect HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
    b"POST /webhooks/connect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /webhooks/connect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
    b"2\r\n{}\r\n0\r\n\r\n",
    b"POST /webhooks/connect HTTP/1.1\r\nHost: x\r\nX-Bad\x00Header: 1\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /webhooks/connect HTTP/1.1\r\nHost: x\r\nX-Finicity-Signature: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /\x00healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"X-Long: " + b"a" * 200_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(3000)) + b"\r\n",
    b"POST /internal/wake HTTP/1.1\r\nHost: x\r\nX-Internal-Secret: \xe9\xe9\xe9\r\nContent-Length: 0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello on the plain port
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"POST /webhooks/connect HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"partial\":",  # then hang up
]


def _wire(service: Proc, raw: bytes) -> int | None:
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            return None
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return int(match.group(1)) if match else None


def test_malformed_http_on_the_wire_is_refused_and_the_server_stays_up(
    service: Proc, http: httpx.Client, untouched: None
) -> None:
    answers = []
    for raw in WIRE:
        status = _wire(service, raw)
        answers.append(status)
        assert status is None or status < 500, (raw[:80], status)
        assert http.get("/healthz").status_code == 200
    print(f"\n[hostile http] malformed HTTP on the wire: {len(WIRE)} cases, answers {answers}")
    assert service.popen.poll() is None


# ---- no unverified event is acted on ------------------------------------------------------------------


def test_no_unverified_event_is_acted_on(
    http: httpx.Client, service: Proc, database_url: str, pg: psycopg.Connection[Any], make_cpa, make_client
) -> None:
    client = make_client(make_cpa())
    finicity_customer_id = f"forge{uuid.uuid4().int % 10**9}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set role service_role")
        conn.execute("select public.ob_customer_upsert(%s, %s, 'testing', %s)",
                     (client, f"u{client.hex}", finicity_customer_id))
    secret = local_env()["OPEN_BANKING_PARTNER_SECRET"]
    before = _counts(database_url)

    def event(event_type: str, at_ms: int, **payload: Any) -> bytes:
        return compact({"customerId": finicity_customer_id, "eventType": event_type,
                        "eventId": f"{at_ms:013d}-{uuid.uuid4().hex[:24]}", "payload": payload})

    now = int(time.time() * 1000) + 1000
    done = event("done", now)
    failed = event("unableToConnect", now + 1, code=103)
    other_key = ec.generate_private_key(ec.SECP256R1())
    ts = str(int(time.time()))
    obwms_body = compact({"eventId": str(uuid.uuid4()), "eventType": "authorization.accesstoken.expiry",
                          "eventTime": "2030-01-01T00:00:00Z", "customerId": finicity_customer_id, "data": {}})
    forged = [
        ("/webhooks/connect", done, {}),
        ("/webhooks/connect", done, {"X-Finicity-Signature": ""}),
        ("/webhooks/connect", done, {"X-Finicity-Signature": "0" * 64}),
        ("/webhooks/connect", done, {"X-Finicity-Signature": connect_signature(done, "not-the-secret")}),
        ("/webhooks/connect", done, {"X-Finicity-Signature": connect_signature(failed, secret)}),  # another body's
        ("/webhooks/connect", done + b" ", {"X-Finicity-Signature": connect_signature(done, secret)}),
        ("/webhooks/connect", done, {"X-Finicity-Signature": connect_signature(done, secret)[:-1]}),
        ("/webhooks/connect", done, {"X-Finicity-Signature": connect_signature(done, secret) + "00"}),
        ("/webhooks/connect", done, {"X-Finicity-Signature": hashlib.sha256(done).hexdigest()}),
        ("/webhooks/connect", done, {"X-Finicity-Signature": hmac.new(secret.encode(), done, "md5").hexdigest()}),
        ("/webhooks/connect", failed, {"X-Finicity-Signature": "sha256=" + connect_signature(failed, secret)}),
        ("/webhooks/mastercard", obwms_body, {
            "X-Mastercard-Signature": other_key.sign(obwms_body + b"." + ts.encode(), ec.ECDSA(hashes.SHA256())).hex(),
            "X-Mastercard-Signature-Timestamp": ts, "X-Mastercard-Signature-Algorithm": "SHA256withECDSA",
            "X-Mastercard-Webhook-Message-Id": str(uuid.uuid4())}),
        ("/webhooks/mastercard", obwms_body, {"X-Mastercard-Webhook-Message-Id": str(uuid.uuid4())}),
    ]
    refused = Counter()
    for path, body, headers in forged:
        status = send(http, "POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        refused[status] += 1
        assert status == 401, (path, headers, status)
    assert _counts(database_url) == before

    # A genuine event afterwards, later in event time: once the worker has processed it, the forged
    # `done`/`unableToConnect` (earlier) would have been applied long before, had they been stored.
    genuine = event("processing", now + 10)
    signed = {"Content-Type": "application/json", "X-Finicity-Signature": connect_signature(genuine, secret)}
    status = send(http, "POST", "/webhooks/connect", body=genuine, headers=signed)
    assert status == 202
    wait_for("the genuine event to be processed", lambda: pg.execute(
        "select processed_at is not null from private.ob_webhook_events where source = 'connect' "
        "and finicity_customer_id = %s", (finicity_customer_id,)).fetchone()[0], timeout=20)
    link_status, error_code = pg.execute(
        "select link_status, last_error_code from public.open_banking_customers where finicity_customer_id = %s",
        (finicity_customer_id,)).fetchone()
    stored = pg.execute("select count(*) from private.ob_webhook_events where finicity_customer_id = %s",
                        (finicity_customer_id,)).fetchone()[0]
    print(f"\n[hostile http] forged deliveries {len(forged)} -> {dict(refused)}; stored for the customer {stored} "
          f"(the genuine one); link status {link_status}, error code {error_code}; acted on 0")
    assert stored == 1 and link_status == "pending" and error_code is None


# ---- the database, as a signed-in CPA -----------------------------------------------------------------

PUBLIC_TABLES = [
    "open_banking_customers", "open_banking_link_requests", "open_banking_institution_logins",
    "open_banking_accounts", "open_banking_transactions", "open_banking_balance_snapshots",
    "open_banking_sync_requests",
]
LINK_REQUEST_COLUMNS = ("platform_client_id", "email_to", "first_name", "kind", "institution_login_id")
FORBIDDEN = {
    "open_banking_link_requests": ["id", "requested_by", "status", "link", "ttl_expires_at", "error_message",
                                    "sent_at", "created_at", "updated_at"],
    "open_banking_sync_requests": ["id", "requested_by", "status", "accounts_synced", "transactions_synced",
                                   "error_message", "started_at", "finished_at", "created_at"],
}
EMAIL_RE = re.compile(r"[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+")
db_stats: Counter[str] = Counter()


@pytest.fixture(scope="module")
def tenants(database_url: str) -> Iterator[dict[str, Any]]:
    """CPA A with a client holding a row in every public table; CPA B with a client and a bank login
    of its own. Rows are made as the superuser; the request rows' jobs are removed at once, so no
    worker acts on them."""
    a, b = uuid.uuid4(), uuid.uuid4()
    a_client, b_client = uuid.uuid4(), uuid.uuid4()
    a_login, b_login = 9_100_000_000 + uuid.uuid4().int % 10**8, 9_200_000_000 + uuid.uuid4().int % 10**8
    a_account = f"hostile-{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        for user, client in ((a, a_client), (b, b_client)):
            conn.execute("insert into auth.users (id, aud, role, email) values (%s, 'authenticated', "
                         "'authenticated', %s)", (user, f"{user.hex[:8]}@cpa.test"))
            conn.execute("insert into public.clients (id, user_id) values (%s, %s)", (client, user))
        customers = {}
        for client, login in ((a_client, a_login), (b_client, b_login)):
            (customers[client],) = conn.execute(
                "insert into public.open_banking_customers (platform_client_id, finicity_customer_id, "
                "finicity_username, customer_type) values (%s, %s, %s, 'testing') returning id",
                (client, f"h{uuid.uuid4().int % 10**9}", f"u{client.hex}")).fetchone()
            conn.execute("insert into public.open_banking_institution_logins (id, platform_client_id, customer_id) "
                         "values (%s, %s, %s)", (login, client, customers[client]))
        conn.execute(
            "insert into public.open_banking_accounts (id, platform_client_id, customer_id, institution_login_id, "
            "name, type, balance, source_fetched_at) values (%s, %s, %s, %s, 'Checking', 'checking', 10, now())",
            (a_account, a_client, customers[a_client], a_login))
        conn.execute("insert into public.open_banking_transactions (id, account_id, platform_client_id, amount, "
                     "status, source_fetched_at) values (%s, %s, %s, -1.5, 'posted', now())",
                     (uuid.uuid4().int % 10**12, a_account, a_client))
        conn.execute("insert into public.open_banking_balance_snapshots (account_id, platform_client_id, "
                     "snapshot_date, balance, captured_at) values (%s, %s, current_date, 10, now())",
                     (a_account, a_client))
        (link_request_id,) = conn.execute("insert into public.open_banking_link_requests "
                                          "(platform_client_id, email_to) values (%s, 'a@a.test') returning id",
                                          (a_client,)).fetchone()
        (sync_id,) = conn.execute("insert into public.open_banking_sync_requests (platform_client_id) values (%s) "
                                  "returning id", (a_client,)).fetchone()
        conn.execute("delete from private.ob_jobs where payload ->> 'link_request_id' = %s "
                     "or payload ->> 'sync_request_id' = %s", (str(link_request_id), str(sync_id)))
    yield {"a": a, "b": b, "a_client": a_client, "b_client": b_client, "a_login": a_login, "b_login": b_login}


@pytest.fixture(scope="module")
def as_b(database_url: str, tenants: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    """One PostgREST-style transaction as CPA B for a whole fuzz run (each statement in its own
    savepoint, always rolled back; the transaction itself is rolled back at the end)."""
    with acting_as(database_url, "authenticated", tenants["b"]) as conn:
        yield conn


def _sqlstate(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> str:
    """Run one statement in a savepoint that is always rolled back; '00000' if it succeeded."""
    try:
        with conn.transaction():
            cursor = conn.execute(sql, params)
            if cursor.description is not None:
                cursor.fetchall()
            raise psycopg.Rollback()
    except psycopg.Error as exc:
        state = exc.sqlstate or "client"
        db_stats[state] += 1
        return state
    db_stats["00000"] += 1
    return "00000"


def _postgrest_insert(table: str, row: dict[str, Any]) -> tuple[str, tuple[str]]:
    columns = ", ".join(row)
    return (f"insert into public.{table} ({columns}) select {columns} from "
            f"json_populate_record(null::public.{table}, %s::json) returning id, requested_by, status",
            (json.dumps(row),))


def _convertible_bigint(value: Any) -> bool:
    if value is None:
        return True
    try:
        number = int(str(value).strip())
    except ValueError:
        return False
    return -(2**63) <= number < 2**63 and not isinstance(value, bool)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _convertible_text(value: Any) -> bool:
    return value is None or "\x00" not in str(value)


clients_for = st.sampled_from(["own", "other_cpa", "random", "malformed"])
emails = st.one_of(
    st.emails().map(str), st.sampled_from(SQLISH), st.sampled_from(["", "a@", "@b", "a@b", "x" * 10_000 + "@b.c",
                                                                    "a\x00b@c.d", "ü@ü.de", "a b@c.d"]),
    st.text(max_size=40), st.text(max_size=10).map(lambda s: s + "@example.test"),
    st.none(),
)
names = st.one_of(st.none(), st.text(max_size=120), st.sampled_from(SQLISH), st.just("N" * 10_000),
                  st.just("Ol\x00ive"), st.text(min_size=95, max_size=105))
kinds = st.one_of(st.sampled_from(["link", "fix"]), st.sampled_from(["LINK", "", "fix'--", "relink"]))
login_ids = st.one_of(st.none(), st.sampled_from(["own", "other_cpa"]), st.integers(), st.sampled_from(
    ["abc", "1 or 1=1", "99999999999999999999999", "1.5", "-0"]))


@settings(fuzz, max_examples=700)
@given(client=clients_for, email=emails, name=names, kind=kinds, login=login_ids,
       present=st.sets(st.sampled_from(["first_name", "kind", "institution_login_id"])),
       forbidden=st.sets(st.sampled_from(FORBIDDEN["open_banking_link_requests"]), max_size=2))
def test_link_request_inserts_by_a_cpa_are_refused_unless_own_and_valid(
    as_b: psycopg.Connection[Any], tenants: dict[str, Any], client: str, email: Any, name: Any, kind: Any, login: Any,
    present: set[str], forbidden: set[str],
) -> None:
    client_id = {"own": str(tenants["b_client"]), "other_cpa": str(tenants["a_client"]),
                 "random": str(uuid.uuid4()), "malformed": "not-a-uuid' or '1'='1"}[client]
    login_id = {"own": tenants["b_login"], "other_cpa": tenants["a_login"]}.get(login, login)
    row: dict[str, Any] = {"platform_client_id": client_id, "email_to": email}
    if "first_name" in present:
        row["first_name"] = name
    if "kind" in present:
        row["kind"] = kind
    if "institution_login_id" in present:
        row["institution_login_id"] = login_id
    for column in forbidden:
        row[column] = {"id": str(uuid.uuid4()), "requested_by": str(tenants["a"]), "status": "sent",
                       "link": "https://evil.test/connect"}.get(column, "2030-01-01T00:00:00Z")
    sql, params = _postgrest_insert("open_banking_link_requests", row)
    state = _sqlstate(as_b, sql, params)

    effective_login = row.get("institution_login_id")
    convertible = (client != "malformed" and _convertible_text(email) and _convertible_text(row.get("first_name"))
                   and _convertible_text(row.get("kind")) and _convertible_bigint(effective_login))
    login_ok = effective_login is None or (login == "own")
    # No `delivery` column here: `platform` (the default) delivers the link itself, so neither a Connect nor a
    # Fix link needs an address; an address a row does carry must still be well formed.
    kind_given = row.get("kind", "link")
    email_ok = email is None or (isinstance(email, str) and 3 <= len(email) <= 320
                                 and EMAIL_RE.fullmatch(email) is not None)
    valid = (email_ok
             and (name is None or "first_name" not in row or len(name) <= 100)
             and kind_given in ("link", "fix")
             and (kind_given == "link" or effective_login is not None))
    if forbidden:
        expected = {"42501"}
    elif not convertible:
        expected = {"22P02", "22003", "22P05", "22021", "22023"}
    elif valid:
        # Another CPA's client and a client that does not exist are refused alike: no existence oracle.
        expected = {"00000"} if client == "own" and login_ok else {"42501"}
    else:
        # Postgres checks NOT NULL/CHECK constraints before the RLS policy, so an invalid row for
        # someone else's client may be refused as invalid rather than as forbidden: refused either way.
        expected = {"23514", "23502"} | ({"42501"} if client != "own" or not login_ok else set())
        if isinstance(email, str) and any(ord(c) > 127 for c in email) and 3 <= len(email) <= 320:
            # whether \s matches a unicode space is the database's call
            expected |= {"00000"} if client == "own" and login_ok else {"42501"}
    assert state in expected, (state, expected, row | {"email_to": str(email)[:80]})


@settings(fuzz, max_examples=250)
@given(client=clients_for, forbidden=st.sets(st.sampled_from(FORBIDDEN["open_banking_sync_requests"]), max_size=2),
       value=st.sampled_from(["queued", "succeeded", str(uuid.uuid4()), "9999", "x" * 10_000, "\x00", "'; --"]))
def test_sync_request_inserts_by_a_cpa_are_refused_unless_own(
    as_b: psycopg.Connection[Any], tenants: dict[str, Any], client: str, forbidden: set[str], value: str
) -> None:
    client_id = {"own": str(tenants["b_client"]), "other_cpa": str(tenants["a_client"]),
                 "random": str(uuid.uuid4()), "malformed": value}[client]
    row: dict[str, Any] = {"platform_client_id": client_id} | {column: value for column in forbidden}
    sql, params = _postgrest_insert("open_banking_sync_requests", row)
    state = _sqlstate(as_b, sql, params)
    if forbidden:
        expected = {"42501"}
    elif client == "malformed" and not _is_uuid(value):
        expected = {"22P02", "22P05"}
    elif client != "own":
        expected = {"42501"}
    else:
        expected = {"00000"}
    assert state in expected, (state, expected, row)


def test_a_valid_request_by_its_owner_is_stamped_with_the_owner_and_a_clean_state(
    database_url: str, tenants: dict[str, Any]
) -> None:
    with acting_as(database_url, "authenticated", tenants["b"]) as conn:
        with conn.transaction():
            sql, params = _postgrest_insert("open_banking_link_requests", {
                "platform_client_id": str(tenants["b_client"]), "email_to": "o'brien@client.test",
                "first_name": "Robert'); drop table public.clients; --"})
            _, requested_by, status = conn.execute(sql, params).fetchone()
            raise psycopg.Rollback()
    assert requested_by == tenants["b"] and status == "queued"


def test_a_cpa_can_write_nothing_else(database_url: str, tenants: dict[str, Any]) -> None:
    """Updates and deletes of every public table (own rows or not), inserts into the service's tables,
    the private schema, the view, and the service's RPC functions: all 42501 for a CPA (55000 for
    writes to the view, which is not updatable at all). SET ROLE is not tried: PostgREST runs no SQL
    of the caller's, and here the session user is a superuser."""
    own, other = tenants["b_client"], tenants["a_client"]
    attempts: list[tuple[str, str, Any]] = []
    for table in PUBLIC_TABLES:
        for client in (own, other):
            attempts.append((f"update {table}", f"update public.{table} set platform_client_id = platform_client_id "
                                                f"where platform_client_id = %s", (client,)))
            attempts.append((f"delete {table}", f"delete from public.{table} where platform_client_id = %s",
                             (client,)))
        attempts.append((f"truncate {table}", f"truncate public.{table}", None))
    for table in ("open_banking_customers", "open_banking_institution_logins", "open_banking_accounts",
                  "open_banking_transactions", "open_banking_balance_snapshots"):
        attempts.append((f"insert {table}", f"insert into public.{table} (platform_client_id) values (%s)", (own,)))
    attempts += [
        ("update view", "update public.open_banking_client_status set badge = 'linked'", None),
        ("delete view", "delete from public.open_banking_client_status", None),
        ("update clients", "update public.clients set user_id = %s where id = %s", (tenants["b"], other)),
        ("read private events", "select count(*) from private.ob_webhook_events", None),
        ("read private jobs", "select count(*) from private.ob_jobs", None),
        ("read private tokens", "select * from private.ob_partner_tokens", None),
        ("write private jobs", "insert into private.ob_jobs (kind, payload) values ('sync_customer', '{}')", None),
        ("create in public", "create table public.hostile_probe (id int)", None),
    ]
    with psycopg.connect(database_url, autocommit=True) as conn:
        functions = [row[0] for row in conn.execute(
            "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
            "where n.nspname = 'public' and p.proname like 'ob\\_%' "
            # the tenancy rule: every RLS policy calls it, so authenticated may too (it answers only
            # about the caller's own clients)
            "and p.proname not in ('ob_can_access_client', 'ob_accessible_clients')"
        ).fetchall()]
    for signature in functions:
        name, args = signature.split("(", 1)
        nargs = 0 if args == ")" else args.count(",") + 1
        attempts.append((f"rpc {name}", f"select {name}({', '.join(['null'] * nargs)})", None))

    refused: Counter[str] = Counter()
    other_states = {}
    for role, sub in (("authenticated", tenants["b"]), ("anon", None)):
        with acting_as(database_url, role, sub) as conn:
            for label, sql, params in attempts:
                state = _sqlstate(conn, sql, params)
                if state == "42501" or (label.endswith(" view") and state == "55000"):
                    refused[role] += 1  # 55000: the view is not updatable at all
                else:
                    other_states[(role, label)] = state
    print(f"\n[hostile db] writes tried as authenticated and anon: {len(attempts)} each "
          f"({len(functions)} service RPC functions among them); refused {dict(refused)}; "
          f"other {other_states}")
    assert other_states == {}


def test_no_row_is_visible_or_writable_across_cpas(database_url: str, tenants: dict[str, Any]) -> None:
    a_client = tenants["a_client"]
    relations = [*PUBLIC_TABLES, "open_banking_client_status"]
    union = " union all ".join(f"select '{r}', count(*) from public.{r} where platform_client_id = %(c)s"
                               for r in relations)
    with acting_as(database_url, "authenticated", tenants["a"]) as conn:
        as_owner = dict(conn.execute(union, {"c": a_client}).fetchall())
    with acting_as(database_url, "authenticated", tenants["b"]) as conn:
        as_stranger = dict(conn.execute(union, {"c": a_client}).fetchall())
        all_visible = dict(conn.execute(
            " union all ".join(f"select '{r}', count(*) from public.{r} where platform_client_id <> %(c)s"
                               for r in relations), {"c": tenants["b_client"]}).fetchall())
        clients_seen = conn.execute("select count(*) from public.clients where id = %s", (a_client,)).fetchone()[0]
        writes = {
            "update": _sqlstate(conn, "update public.open_banking_link_requests set email_to = 'x@evil.test' "
                                      "where platform_client_id = %s", (a_client,)),
            "delete": _sqlstate(conn, "delete from public.open_banking_sync_requests where platform_client_id = %s",
                                (a_client,)),
            "insert": _sqlstate(conn, "insert into public.open_banking_sync_requests (platform_client_id) "
                                      "values (%s)", (a_client,)),
        }
    with acting_as(database_url, "anon") as conn:
        anon = {r: _sqlstate(conn, f"select count(*) from public.{r}") for r in relations}
    leaked = sum(as_stranger.values()) + sum(all_visible.values()) + clients_seen
    print(f"\n[hostile db] A's client as A {as_owner}; as B {as_stranger}; anything not B's seen by B "
          f"{sum(all_visible.values())}; B's writes to A's rows {writes}; anon reads {set(anon.values())}; "
          f"leaked {leaked}; sqlstates over the fuzz {dict(db_stats)}")
    assert all(n >= 1 for n in as_owner.values()), as_owner  # the rows exist: the check means something
    assert leaked == 0
    assert set(writes.values()) == {"42501"}
    assert set(anon.values()) == {"42501"}
