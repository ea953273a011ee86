"""Webhook event processing at storm speed: 20,000 stored events (Connect sessions and OBWMS
notifications for 100 customers, 30% of them duplicates that Mastercard re-sent under new ids)
drained by one replica's batch path (claim 500 jobs with their events, work out their effects in
Python, apply them with one set-based RPC that also completes the jobs), against a bare set-based
SQL apply of the same state changes straight from the stored events, in one transaction.

Rounds alternate (service, bare, service, ...) on the same events from the same starting state; both
must end in the same state (link statuses, logins, accounts, queued jobs, every event processed and
every job finished), or the bench fails.

Run: .venv/bin/python -m bench.events
"""

from __future__ import annotations

import asyncio
import cProfile
import datetime as dt
import os
import pstats
import random
import time
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import DATABASE_URL, alternate, expect, figure, new_client, ratios, settings
from service.webhooks.process import drain_webhook_events
from service.wiring import services_for

EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
CUSTOMERS = 100
DUPLICATES = 0.30
ACCOUNTS = 5


Event = tuple[str, str, str, dict[str, Any]]  # source, message id, event type, body


def _connect(fid: str, event_type: str, ms: int, payload: dict[str, Any]) -> Event:
    event_id = f"{ms:013d}-{uuid.uuid4().hex[:24]}"
    return ("connect", event_id, event_type,
            {"customerId": fid, "eventType": event_type, "eventId": event_id, "payload": payload})


def _obwms(fid: str, event_type: str, ms: int, data: dict[str, Any], login: int) -> Event:
    at = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()
    return ("obwms", str(uuid.uuid4()), event_type,
            {"eventId": str(uuid.uuid4()), "eventType": event_type, "eventTime": at, "customerId": fid,
             "institutionLoginId": login, "data": data})


def login_of(fid: str) -> int:
    return int(fid) * 10  # unique per customer


def generate(fids: list[str], rng: random.Random) -> list[Event]:
    """Sessions per customer (started ... added, done or a failure), reminders and refresh notices,
    then 30% duplicates, in a shuffled order of arrival."""
    unique_target = int(EVENTS * (1 - DUPLICATES))
    events: list[Event] = []
    base = int(time.time() * 1000) - 86_400_000
    session = 0
    while len(events) < unique_target:
        for n, fid in enumerate(fids):
            ms = base + session * 60_000 + n
            login = login_of(fid)
            accounts = [{"id": f"{fid}-{a}", "name": f"Account {a}", "balance": round(rng.uniform(-500, 90000), 2),
                         "type": "checking", "status": "active", "customerId": fid, "institutionId": "102176",
                         "currency": "USD", "institutionLoginId": login, "displayPosition": a,
                         "lastUpdatedDate": ms // 1000} for a in range(ACCOUNTS)]
            events += [
                _connect(fid, "started", ms, {}),
                _connect(fid, "institutionSelected", ms + 1, {"institutionId": "102176"}),
                _connect(fid, "adding", ms + 2, {"institutionId": "102176", "oauth": True}),
                _connect(fid, "added", ms + 3, {"institutionId": "102176", "oauth": True, "accounts": accounts}),
            ]
            if rng.random() < 0.2:
                events.append(_connect(fid, "unableToConnect", ms + 4, {"institutionId": "102176", "code": 103}))
            else:
                events.append(_connect(fid, "done", ms + 4, {"institutionId": "102176"}))
            events.append(_obwms(fid, "authorization.expiration.reminder", ms + 5,
                                 {"authorizationEndDate": "2027-01-10T00:00:00Z", "daysUntilExpiration": 9}, login))
            events.append(_obwms(fid, "data-refresh.transaction.status-changed", ms + 6, {}, login))
        session += 1
    events = events[:unique_target]
    for _ in range(EVENTS - unique_target):
        source, _mid, event_type, body = rng.choice(events[:unique_target])
        body = dict(body)
        if source == "connect":
            body["eventId"] = f"{body['eventId'][:13]}-{uuid.uuid4().hex[:24]}"
            events.append((source, body["eventId"], event_type, body))
        else:
            events.append((source, str(uuid.uuid4()), event_type, body))
    rng.shuffle(events)
    return events


def store(conn: psycopg.Connection, events: list[Event]) -> None:
    conn.execute("set role service_role")
    for start in range(0, len(events), 1000):
        chunk = [{"p_source": s, "p_message_id": m, "p_event_type": t, "p_finicity_customer_id": b["customerId"],
                  "p_payload": b, "p_verified": True} for s, m, t, b in events[start:start + 1000]]
        out = conn.execute("select public.ob_webhook_events_ingest(%s)", (Jsonb(chunk),)).fetchone()[0]
        expect(all(r.get("stored") for r in out), "events: an event was not stored")
    conn.execute("reset role")


RESET = """
update private.ob_webhook_events set processed_at = null, process_error = null where finicity_customer_id = any(%(f)s);
update private.ob_jobs j set status = 'queued', attempts = 0, locked_by = null, locked_until = null,
       finished_at = null, last_error = null, run_after = now() - interval '1 second'
  from private.ob_webhook_events e
 where j.kind = 'process_webhook_event' and (j.payload ->> 'event_id')::bigint = e.id
   and e.finicity_customer_id = any(%(f)s);
delete from private.ob_jobs where kind in ('sync_customer', 'check_consent')
   and payload ->> 'finicity_customer_id' = any(%(f)s);
delete from public.open_banking_accounts a using public.open_banking_customers c
 where c.id = a.customer_id and c.finicity_customer_id = any(%(f)s);
update public.open_banking_institution_logins l set needs_reauth = false, last_error_message = null, oauth = false,
       last_event_at = null
  from public.open_banking_customers c where c.id = l.customer_id and c.finicity_customer_id = any(%(f)s);
update public.open_banking_customers set link_status = 'pending', link_status_at = null, last_error_code = null,
       last_error_message = null where finicity_customer_id = any(%(f)s);
"""

# The bare apply: the same state changes, written straight from the stored events in one transaction.
BARE = """
create temp table ev on commit drop as
select e.id, e.source, e.event_type, e.finicity_customer_id as fid, e.payload, e.received_at,
       case when e.source = 'connect' then pg_catalog.to_timestamp(left(e.payload ->> 'eventId', 13)::bigint / 1000.0)
            else (e.payload ->> 'eventTime')::timestamptz end as at
  from private.ob_webhook_events e
 where e.finicity_customer_id = any(%(f)s) and e.processed_at is null;

with change as (
  select c.id as row_id, c.link_status as cur_status,
         case when ev.event_type = 'done' then 'linked' when ev.event_type = 'unableToConnect' then 'error'
              else 'pending' end as status, ev.at, ev.id as ord,
         case when ev.event_type = 'unableToConnect' then ev.payload -> 'payload' ->> 'code' end as code
    from ev join public.open_banking_customers c on c.finicity_customer_id = ev.fid
   where ev.source = 'connect' and (c.link_status_at is null or ev.at >= c.link_status_at)
), firm as (
  select distinct on (row_id) row_id, status, at from change where status <> 'pending'
   order by row_id, at desc, ord desc
), newest as (
  select distinct on (row_id) * from change order by row_id, at desc, ord desc
)
update public.open_banking_customers c
   set link_status = case when f.status = 'linked' then f.status else n.status end,
       link_status_at = case when f.status = 'linked' then f.at else n.at end,
       last_error_code = case when f.status = 'linked' or n.status <> 'error' then null else n.code end,
       last_error_message = case when f.status = 'linked' or n.status <> 'error' then null
                                 else 'The bank did not accept the sign-in details. The client needs to reconnect '
                                      'with their current username and password.' end
  from newest n left join firm f on f.row_id = n.row_id
 where c.id = n.row_id and not (f.row_id is null and n.cur_status = 'linked');

with acct as (
  select distinct on (a ->> 'id') a, ev.fid, least(ev.at, ev.received_at) as fetched_at,
         ev.payload -> 'payload' as inner_
    from ev, pg_catalog.jsonb_array_elements(ev.payload -> 'payload' -> 'accounts') a
   where ev.event_type = 'added'
   order by a ->> 'id', least(ev.at, ev.received_at) desc, ev.id desc
), logins as (
  insert into public.open_banking_institution_logins
         (id, platform_client_id, customer_id, institution_id, oauth, status)
  select distinct on ((a ->> 'institutionLoginId')::bigint) (a ->> 'institutionLoginId')::bigint, c.platform_client_id,
         c.id, inner_ ->> 'institutionId', true, 'active'
    from acct join public.open_banking_customers c on c.finicity_customer_id = acct.fid
  on conflict (id) do update set oauth = true
), written as (
  insert into public.open_banking_accounts as t
         (id, platform_client_id, customer_id, institution_login_id, institution_id, name, type, status, currency,
          balance, last_updated_at, display_position, source_fetched_at)
  select a ->> 'id', c.platform_client_id, c.id, (a ->> 'institutionLoginId')::bigint, a ->> 'institutionId',
         a ->> 'name', a ->> 'type', a ->> 'status', a ->> 'currency', (a ->> 'balance')::numeric,
         pg_catalog.to_timestamp((a ->> 'lastUpdatedDate')::bigint), (a ->> 'displayPosition')::integer, fetched_at
    from acct join public.open_banking_customers c on c.finicity_customer_id = acct.fid
  on conflict (id) do update
     set balance = excluded.balance, name = excluded.name, last_updated_at = excluded.last_updated_at,
         source_fetched_at = excluded.source_fetched_at
   where t.source_fetched_at <= excluded.source_fetched_at
  returning t.id, t.balance, t.currency, t.platform_client_id, t.source_fetched_at
)
insert into public.open_banking_balance_snapshots as b
       (account_id, snapshot_date, platform_client_id, balance, currency, captured_at)
select w.id, (w.source_fetched_at at time zone 'UTC')::date, w.platform_client_id, w.balance, w.currency,
       w.source_fetched_at
  from written w
on conflict (account_id, snapshot_date) do update
   set balance = excluded.balance, currency = excluded.currency, captured_at = excluded.captured_at
 where b.captured_at <= excluded.captured_at;

update public.open_banking_institution_logins l
   set needs_reauth = true,
       last_error_message = 'The client''s consent to share bank data ends on 2027-01-10; they need to renew it.'
  from (select distinct (payload ->> 'institutionLoginId')::bigint as login from ev
         where event_type = 'authorization.expiration.reminder') r
 where l.id = r.login;

insert into private.ob_jobs (kind, payload, dedupe_key)
select distinct on (k.dedupe_key) k.kind, k.payload, k.dedupe_key from (
  select 'sync_customer' as kind,
         pg_catalog.jsonb_build_object('finicity_customer_id', fid, 'reason', 'webhook') as payload,
         'sync:' || fid as dedupe_key
    from ev where event_type in ('added', 'done', 'data-refresh.transaction.status-changed')
  union all
  select 'check_consent', pg_catalog.jsonb_build_object('institution_login_id', (a ->> 'institutionLoginId')::bigint,
         'finicity_customer_id', fid), 'consent:' || (a ->> 'institutionLoginId')
    from ev, pg_catalog.jsonb_array_elements(ev.payload -> 'payload' -> 'accounts') a where ev.event_type = 'added'
) k
on conflict (dedupe_key) where status = 'queued' do nothing;

update private.ob_webhook_events e set processed_at = now() from ev where e.id = ev.id;
update private.ob_jobs j set status = 'succeeded', finished_at = now()
  from ev where j.kind = 'process_webhook_event' and (j.payload ->> 'event_id')::bigint = ev.id
   and j.status = 'queued';
"""

STATE = """
select (select pg_catalog.md5(string_agg(finicity_customer_id || link_status || link_status_at::text
                                 || coalesce(last_error_code, ''), ',' order by finicity_customer_id))
          from public.open_banking_customers where finicity_customer_id = any(%(f)s)),
       (select pg_catalog.md5(string_agg(a.id || a.balance::text || a.institution_login_id::text, ',' order by a.id))
          from public.open_banking_accounts a join public.open_banking_customers c on c.id = a.customer_id
         where c.finicity_customer_id = any(%(f)s)),
       (select count(*) filter (where l.needs_reauth) || '/' || count(*)
          from public.open_banking_institution_logins l join public.open_banking_customers c on c.id = l.customer_id
         where c.finicity_customer_id = any(%(f)s)),
       (select count(*) from private.ob_jobs where kind in ('sync_customer', 'check_consent') and status = 'queued'
           and payload ->> 'finicity_customer_id' = any(%(f)s)),
       (select count(*) from private.ob_webhook_events
         where finicity_customer_id = any(%(f)s) and processed_at is null),
       (select count(*) from private.ob_jobs j
          join private.ob_webhook_events e on (j.payload ->> 'event_id')::bigint = e.id
         where j.kind = 'process_webhook_event' and j.status <> 'succeeded' and e.finicity_customer_id = any(%(f)s))
"""


def statements(script: str) -> list[Any]:
    return [part.strip() for part in script.split(";\n") if part.strip()]


def main() -> None:
    rng = random.Random(18)
    fids = [str(7_000_000_000 + uuid.uuid4().int % 10**9) for _ in range(CUSTOMERS)]  # new customers each run
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("set role service_role")
        for fid in fids:
            client = new_client()
            conn.execute("select public.ob_customer_upsert(%s, %s, 'testing', %s)", (client, f"u{client.hex}", fid))
            # Reminders are about logins we know (a login reminded before it exists is only noted).
            conn.execute("select public.ob_institution_login_upsert(%s, %s)", (fid, Jsonb({"id": login_of(fid)})))
        conn.execute("reset role")
        events = generate(fids, rng)
        store(conn, events)
    states: dict[str, list[tuple[Any, ...]]] = {"service": [], "bare": []}
    profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None

    def reset() -> None:
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            for statement in statements(RESET):
                conn.execute(statement, {"f": fids})
            conn.execute("vacuum (analyze) private.ob_jobs")
            conn.execute("vacuum (analyze) private.ob_webhook_events")

    def state() -> tuple[Any, ...]:
        with psycopg.connect(DATABASE_URL) as conn:
            return tuple(conn.execute(STATE, {"f": fids}).fetchone())

    async def drain(timed: bool = True) -> float:
        async with services_for(settings("http://127.0.0.1:9")) as services:
            await services.rpc.ping()
            start = time.perf_counter()
            if profile and timed:
                profile.enable()
            total = 0
            while claimed := await drain_webhook_events(services):
                total += claimed
            if profile:
                profile.disable()
            elapsed = time.perf_counter() - start
        expect(total == len(events) or not timed, f"events: drained {total} of {len(events)} jobs")
        return elapsed

    def service_round(_index: int) -> float:
        reset()
        elapsed = asyncio.run(drain())
        states["service"].append(state())
        return len(events) / elapsed

    def bare_round(_index: int) -> float:
        reset()
        with psycopg.connect(DATABASE_URL) as conn:
            start = time.perf_counter()
            for statement in statements(BARE):
                conn.execute(statement, {"f": fids})
            conn.commit()
            elapsed = time.perf_counter() - start
        states["bare"].append(state())
        return len(events) / elapsed

    asyncio.run(drain(timed=False))  # warm-up; also finishes other benches' leftover events
    results = alternate({"service": service_round, "bare": bare_round})
    for name, seen in states.items():
        expect(seen[0][4] == 0 and seen[0][5] == 0, f"events {name}: left events or jobs unfinished: {seen[0]}")
        expect(len(set(seen)) == 1, f"events {name}: rounds ended in different states: {seen}")
    expect(states["service"][0] == states["bare"][0],
           f"events: service and bare ended in different states: {states['service'][0]} vs {states['bare'][0]}")
    print(f"events  batch drain, one replica: {figure(results['service']).show(unit=' events/s')}, "
          f"{len(events):,} events ({DUPLICATES:.0%} duplicates, {CUSTOMERS} customers), "
          f"same end state as the bare apply")
    print(f"events  bare set-based SQL apply of the same changes: {figure(results['bare']).show(unit=' events/s')}")
    print(f"events  ratio service/bare = {ratios(results['service'], results['bare']).show('.2f')}  "
          f"(targets >= 2,000 events/s and >= 0.5)")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
