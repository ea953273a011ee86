-- The webhook inbox: every verified Connect / OBWMS event, stored once, then processed by a
-- `process_webhook_event` job. Retention (payloads cleared, rows kept for the dedupe window) is in
-- ..1000_schedules.sql. What of a body is stored at all: service/webhooks/minimal.py.

-- =================================================================================================
-- private.ob_webhook_events
-- =================================================================================================

create table private.ob_webhook_events (
  id                    bigint generated always as identity primary key,
  source                text not null check (source in ('connect', 'obwms')),
  message_id            text not null,   -- Connect eventId / OBWMS X-Mastercard-Webhook-Message-Id
  -- The body's own event id (signed, unlike the OBWMS message-id header): a captured delivery
  -- replayed under new message ids is still a duplicate.
  event_key             text,
  event_type            text,
  finicity_customer_id  text,
  headers               jsonb not null default '{}',
  payload               jsonb not null,
  verified              boolean not null,
  received_at           timestamptz not null default now(),
  processed_at          timestamptz,
  process_error         text,
  payload_cleared_at    timestamptz,     -- retention emptied payload (the row stays for dedupe)
  unique (source, message_id)
);
revoke all on private.ob_webhook_events from public, anon, authenticated;
grant select on private.ob_webhook_events to service_role;

create index ob_webhook_events_received_idx on private.ob_webhook_events (received_at);
create index ob_webhook_events_customer_idx on private.ob_webhook_events (finicity_customer_id, received_at);
create unique index ob_webhook_events_event_key_idx on private.ob_webhook_events (source, event_key)
  where event_key is not null;
-- Retention finds processed payloads not yet cleared by age.
create index ob_webhook_events_uncleared_idx on private.ob_webhook_events (received_at)
  where payload_cleared_at is null and processed_at is not null;

-- Intake -------------------------------------------------------------------------------------------

-- Intake: store verified events and their processing jobs in one transaction. The service gathers
-- the events that arrive while a write is in flight and stores them with one call (one round trip,
-- set-based statements); a single event is a batch of one. Each event gets its own result in input
-- order; an event repeated inside the batch or stored before is reported as a duplicate (a no-op);
-- an unverified one is refused (22023) without failing the others; one wake-up per batch.
-- Duplicates are judged on the message id AND on the body's signed event id (`p_event_key`): an
-- OBWMS delivery replayed under a new X-Mastercard-Webhook-Message-Id is still a duplicate.
create function public.ob_webhook_events_ingest(p_events jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_out jsonb;
  v_stored integer;
begin
  with input as (
    select t.ord, t.e ->> 'p_source' as source, t.e ->> 'p_message_id' as message_id,
           t.e ->> 'p_event_key' as event_key, t.e ->> 'p_event_type' as event_type,
           t.e ->> 'p_finicity_customer_id' as finicity_customer_id,
           coalesce(t.e -> 'p_headers', '{}'::jsonb) as headers, t.e -> 'p_payload' as payload,
           coalesce((t.e ->> 'p_verified')::boolean, false) as verified
      from pg_catalog.jsonb_array_elements(p_events) with ordinality as t(e, ord)
  ), first_seen as (
    select distinct on (i.source, i.message_id) i.* from input i order by i.source, i.message_id, i.ord
  ), inserted as (
    -- `on conflict do nothing` with no target: a message id or a body event id seen before (or earlier
    -- in this batch) is skipped alike.
    insert into private.ob_webhook_events (source, message_id, event_key, event_type, finicity_customer_id, headers,
                                           payload, verified)
    select f.source, f.message_id, f.event_key, f.event_type, f.finicity_customer_id, f.headers, f.payload, f.verified
      from first_seen f where f.verified
     order by f.ord
    on conflict do nothing
    returning id, source, message_id, event_key
  ), jobs as (
    -- One job per new event in one set-based insert: private.ob_enqueue's insert without its per-row
    -- call. The keys are new (one per new event id), so there is nothing to fold; at storm rates the
    -- per-row call was half of the intake's database time (bench/webhooks.py).
    insert into private.ob_jobs (kind, payload, dedupe_key)
    select 'process_webhook_event', pg_catalog.jsonb_build_object('event_id', n.id), 'webhook_event:' || n.id
      from inserted n
    returning 1
  )
  select pg_catalog.jsonb_agg(
           case
             when not i.verified then pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object(
               'code', '22023', 'message', 'refusing to store an unverified webhook event'))
             when n.id is not null and f.ord = i.ord then
               pg_catalog.jsonb_build_object('stored', true, 'event_id', n.id)
             else pg_catalog.jsonb_build_object('stored', false, 'event_id',
               coalesce(n.id, k.id, (select e.id from private.ob_webhook_events e
                                      where e.source = i.source and e.message_id = i.message_id),
                                    (select e.id from private.ob_webhook_events e
                                      where e.source = i.source and e.event_key = i.event_key)))
           end order by i.ord),
         (select count(*) from jobs)
    into v_out, v_stored
    from input i
    join first_seen f on f.source = i.source and f.message_id = i.message_id
    left join inserted n on n.source = i.source and n.message_id = i.message_id
    left join inserted k on k.source = i.source and k.event_key = i.event_key;

  if v_stored > 0 then
    perform private.ob_wake('webhook');
  end if;
  return coalesce(v_out, '[]'::jsonb);
end
$$;
revoke all on function public.ob_webhook_events_ingest(jsonb) from public, anon, authenticated;
grant execute on function public.ob_webhook_events_ingest(jsonb) to service_role;

-- Processing ---------------------------------------------------------------------------------------

create function public.ob_webhook_event_get(p_event_id bigint)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.to_jsonb(e) from private.ob_webhook_events e where e.id = p_event_id
$$;
revoke all on function public.ob_webhook_event_get(bigint) from public, anon, authenticated;
grant execute on function public.ob_webhook_event_get(bigint) to service_role;

create function public.ob_webhook_event_processed(p_event_id bigint, p_error text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  update private.ob_webhook_events e
     set processed_at = now(), process_error = left(p_error, 1000)
   where e.id = p_event_id;
  return pg_catalog.jsonb_build_object('updated', found);
end
$$;
revoke all on function public.ob_webhook_event_processed(bigint, text) from public, anon, authenticated;
grant execute on function public.ob_webhook_event_processed(bigint, text) to service_role;

-- Operators ----------------------------------------------------------------------------------------

-- Replay a stored webhook event: its processing job runs again (handlers are idempotent).
create function public.ob_webhook_event_replay(p_event_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job jsonb;
begin
  if not exists (select 1 from private.ob_webhook_events e where e.id = p_event_id) then
    raise exception 'no stored webhook event %', p_event_id using errcode = 'P0002';
  end if;
  if exists (select 1 from private.ob_webhook_events e where e.id = p_event_id and e.payload_cleared_at is not null) then
    raise exception 'webhook event %: its payload was cleared by retention; nothing to replay', p_event_id
      using errcode = '55000';
  end if;
  v_job := private.ob_enqueue('process_webhook_event', pg_catalog.jsonb_build_object('event_id', p_event_id),
                              'webhook_event:' || p_event_id);
  perform private.ob_wake('replay');
  return v_job;
end
$$;
revoke all on function public.ob_webhook_event_replay(bigint) from public, anon, authenticated;
grant execute on function public.ob_webhook_event_replay(bigint) to service_role;

-- Recent webhook events for operators (no payloads: they may hold account details).
create function public.ob_webhook_events_recent(p_limit integer default 20)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e) order by e.id desc), '[]'::jsonb) from (
    select ev.id, ev.source, ev.message_id, ev.event_type, ev.finicity_customer_id, ev.received_at,
           ev.processed_at, ev.process_error
      from private.ob_webhook_events ev order by ev.id desc limit p_limit) e
$$;
revoke all on function public.ob_webhook_events_recent(integer) from public, anon, authenticated;
grant execute on function public.ob_webhook_events_recent(integer) to service_role;

-- Webhook event processing in batches: one call claims many `process_webhook_event` jobs with their
-- events, the service works out each event's effects, and one call applies them all in one
-- transaction with a few set-based statements (then the jobs are complete). Idempotent as the
-- per-event path: an event already processed has no effects; every statement is an upsert, a
-- guarded update or an enqueue with a dedupe key.

-- RPC: claim up to p_limit due webhook jobs (or ones whose lease expired with attempts left), with
-- their events and whether each event's customer is ours.
create function public.ob_webhook_events_claim(p_worker text, p_limit integer default 500,
                                               p_lease_seconds integer default 60)
returns jsonb
language plpgsql
security definer
set search_path = ''
set enable_seqscan = off   -- a few hundred rows by primary key, never a scan of the whole queue
as $$
declare
  v_ids bigint[];
  v_more bigint[];
  v_limit integer := greatest(least(p_limit, 2000), 0);
  v_out jsonb;
begin
  if p_worker is null or length(p_worker) = 0 then
    raise exception 'p_worker is required' using errcode = '22023';
  end if;
  -- Ids first, then one update by primary key: plans stay index scans however large the table grows.
  select coalesce(pg_catalog.array_agg(q.id), '{}') into v_ids from (
    select j.id from private.ob_jobs j
     where j.kind = 'process_webhook_event' and j.status = 'queued' and j.run_after <= now()
     order by j.run_after, j.id
     limit v_limit
     for update skip locked) q;
  if pg_catalog.cardinality(v_ids) < v_limit then
    -- A crashed drain's jobs, once their lease is over (with attempts left; else the sweeper buries them).
    select coalesce(pg_catalog.array_agg(q.id), '{}') into v_more from (
      select j.id from private.ob_jobs j
       where j.kind = 'process_webhook_event' and j.status = 'running' and j.locked_until < now()
         and j.attempts < j.max_attempts
       order by j.locked_until, j.id
       limit v_limit - pg_catalog.cardinality(v_ids)
       for update skip locked) q;
    v_ids := v_ids || v_more;
  end if;
  with claimed as (
    update private.ob_jobs j
       set status = 'running', attempts = j.attempts + 1, locked_by = p_worker,
           locked_until = now() + make_interval(secs => p_lease_seconds)
      from pg_catalog.unnest(v_ids) as u(id)
     where j.id = u.id
    returning j.id, j.payload, j.attempts, j.max_attempts
  )
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'job_id', c.id, 'attempts', c.attempts, 'max_attempts', c.max_attempts, 'payload', c.payload,
           'event', case when e.id is not null then pg_catalog.jsonb_build_object(
             'id', e.id, 'source', e.source, 'event_type', e.event_type,
             'finicity_customer_id', e.finicity_customer_id, 'payload', e.payload,
             'received_at', e.received_at, 'processed_at', e.processed_at,
             'customer_known', exists (select 1 from public.open_banking_customers cu
                                        where cu.finicity_customer_id = e.finicity_customer_id)) end)
         order by c.id), '[]'::jsonb)
    into v_out
    from claimed c
    left join private.ob_webhook_events e
      on e.id = case when (c.payload ->> 'event_id') ~ '^[0-9]{1,18}$' then (c.payload ->> 'event_id')::bigint end;
  return v_out;
end
$$;
revoke all on function public.ob_webhook_events_claim(text, integer, integer) from public, anon, authenticated;
grant execute on function public.ob_webhook_events_claim(text, integer, integer) to service_role;

-- RPC: apply the effects of a batch of events in one transaction. p_effects:
--   events   [{id, note}]                         marked processed (note: why nothing or not all was done)
--   jobs     [job id]                             completed, if p_worker still holds them
--   statuses [{customer, status, at, code, message, ord}]   link status, by event time (see below)
--   logins   [{customer, id, oauth, institution_id}]
--   accounts [{customer, fetched_at, ord, ...mapped account}]
--   deletes  [{event, customer, id, at}]         only accounts no fetch has seen since `at`
--   reauth   [{event, login, at, message}]      per-login event time, as ob_institution_login_flag_reauth
--   enqueue  [{kind, payload, dedupe_key, event?}] event: only if that event's reminder applied
-- `ord` is the event's place in the batch (a tie-breaker between equal times). Notes the SQL decides
-- (unknown login, a reminder not applied, accounts kept) go on the events it names.
-- Link status: the effect of applying the changes one by one in event-time order with the rule of
-- ob_customer_set_link_status (an older event never overwrites a newer one, `pending` never undoes
-- `linked`): the newest non-pending change wins if it is `linked`; otherwise the newest change.
create function public.ob_webhook_events_apply(p_worker text, p_effects jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
set enable_seqscan = off   -- every statement touches a batch's rows by key, never whole tables
as $$
declare
  v_completed integer := 0;
  v_enqueued integer := 0;
  v_applied bigint[];
  v_notes jsonb := '{}';
  v_jobs bigint[];
begin
  -- Link status (one row per customer, set-based).
  with change as (
    select s.customer, s.status, s.at, s.code, s.message, s.ord
      from pg_catalog.jsonb_to_recordset(coalesce(p_effects -> 'statuses', '[]')) as s(
        customer text, status text, at timestamptz, code text, message text, ord integer)
  ), cur as (
    -- Locked, in id order: two replicas applying batches for the same customer take turns, and the
    -- second reads the first's outcome (read committed returns the locked row's newest version); without
    -- the lock a stale `pending` could overwrite a newer `error` committed meanwhile.
    select c.id, c.finicity_customer_id, c.link_status, c.link_status_at
      from public.open_banking_customers c
     where c.finicity_customer_id in (select distinct ch.customer from change ch)
     order by c.id
       for update
  ), candidate as (
    select ch.*, cur.id as row_id, cur.link_status as cur_status
      from change ch join cur on cur.finicity_customer_id = ch.customer
     where cur.link_status_at is null or ch.at >= cur.link_status_at
  ), newest_firm as (   -- the newest non-pending change per customer
    select distinct on (c.row_id) c.row_id, c.status, c.at
      from candidate c where c.status <> 'pending'
     order by c.row_id, c.at desc, c.ord desc
  ), newest as (
    select distinct on (c.row_id) c.*
      from candidate c
     order by c.row_id, c.at desc, c.ord desc
  ), winner as (
    -- a linked change holds against every later pending one; an error does not
    select n.row_id, case when f.status = 'linked' then f.status else n.status end as status,
           case when f.status = 'linked' then f.at else n.at end as at, n.code, n.message
      from newest n
      left join newest_firm f on f.row_id = n.row_id
     where not (f.row_id is null and n.cur_status = 'linked')   -- only pendings against linked: no change
  )
  update public.open_banking_customers c
     set link_status = w.status, link_status_at = w.at,
         last_error_code = case when w.status = 'error' then w.code end,
         last_error_message = case when w.status = 'error' then w.message end
    from winner w
   where c.id = w.row_id;

  -- Institution logins seen in events (oauth is sticky, as in ob_institution_login_upsert).
  insert into public.open_banking_institution_logins as l
         (id, platform_client_id, customer_id, institution_id, oauth, status)
  select g.id, c.platform_client_id, c.id, g.institution_id, g.oauth, 'active'
    from (select x.id, max(x.customer) as customer, bool_or(coalesce(x.oauth, false)) as oauth,
                 max(x.institution_id) as institution_id
            from pg_catalog.jsonb_to_recordset(coalesce(p_effects -> 'logins', '[]')) as x(
              customer text, id bigint, oauth boolean, institution_id text)
           group by x.id) g
    join public.open_banking_customers c on c.finicity_customer_id = g.customer
   where not private.ob_removed_at_mastercard(null, g.id)
  on conflict (id) do update
     set institution_id = coalesce(excluded.institution_id, l.institution_id),
         oauth = l.oauth or excluded.oauth;

  -- Accounts carried by events, newest fetch per account (before the deletes: they go by time, below).
  with src as (
    select distinct on (r.id) r.*
      from pg_catalog.jsonb_to_recordset(coalesce(p_effects -> 'accounts', '[]')) as r(
        customer text, fetched_at timestamptz, ord integer,
        id text, institution_login_id bigint, institution_id text, name text, type text, status text,
        number_masked text, currency text, balance numeric, balance_date timestamptz,
        last_updated_at timestamptz, aggregation_status_code integer, display_position integer)
     order by r.id, r.fetched_at desc, r.ord desc
  ), live as (
    select s.*, c.id as cust_id, c.platform_client_id
      from src s join public.open_banking_customers c on c.finicity_customer_id = s.customer
     where not private.ob_removed_at_mastercard(s.id, s.institution_login_id)  -- a CPA removed it since
  ), logins as (
    insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, institution_id)
    select distinct on (lv.institution_login_id) lv.institution_login_id, lv.platform_client_id, lv.cust_id,
           lv.institution_id
      from live lv where lv.institution_login_id is not null
    on conflict (id) do nothing
  ), written as (
    insert into public.open_banking_accounts as a
           (id, platform_client_id, customer_id, institution_login_id, institution_id, name, type, status,
            number_masked, currency, balance, balance_date, last_updated_at, aggregation_status_code,
            display_position, source_fetched_at)
    select s.id, s.platform_client_id, s.cust_id, s.institution_login_id, s.institution_id,
           s.name, s.type, s.status, s.number_masked, coalesce(s.currency, 'USD'), s.balance, s.balance_date,
           s.last_updated_at, s.aggregation_status_code, s.display_position, s.fetched_at
      from live s
    on conflict (id) do update
       set institution_login_id = excluded.institution_login_id, institution_id = excluded.institution_id,
           name = excluded.name, type = excluded.type, status = excluded.status,
           number_masked = excluded.number_masked, currency = excluded.currency, balance = excluded.balance,
           balance_date = excluded.balance_date, last_updated_at = excluded.last_updated_at,
           aggregation_status_code = excluded.aggregation_status_code,
           display_position = excluded.display_position, source_fetched_at = excluded.source_fetched_at
     where a.customer_id = excluded.customer_id and a.source_fetched_at <= excluded.source_fetched_at
    returning a.id, a.balance, a.currency, a.platform_client_id, a.source_fetched_at
  )
  insert into public.open_banking_balance_snapshots as b
         (account_id, snapshot_date, platform_client_id, balance, currency, captured_at)
  select w.id, (w.source_fetched_at at time zone 'UTC')::date, w.platform_client_id, w.balance, w.currency,
         w.source_fetched_at
    from written w
  on conflict (account_id, snapshot_date) do update
     set balance = excluded.balance, currency = excluded.currency, captured_at = excluded.captured_at
   where b.captured_at <= excluded.captured_at;

  -- Accounts deleted by events (replay rule of ob_accounts_delete): an account some fetch saw after
  -- the event's time is kept, and the event says how many were.
  delete from public.open_banking_accounts a
   using pg_catalog.jsonb_to_recordset(coalesce(p_effects -> 'deletes', '[]')) as d(customer text, id text, at timestamptz),
         public.open_banking_customers c
   where c.finicity_customer_id = d.customer and a.customer_id = c.id and a.id = d.id and a.source_fetched_at < d.at;
  select v_notes || coalesce(pg_catalog.jsonb_object_agg(k.event, k.kept::text
           || ' account(s) seen after this event were kept (a replayed or late accountsDeleted)'), '{}')
    into v_notes
    from (select d.event, count(*) as kept
            from pg_catalog.jsonb_to_recordset(coalesce(p_effects -> 'deletes', '[]')) as d(event bigint, customer text, id text)
            join public.open_banking_customers c on c.finicity_customer_id = d.customer
            join public.open_banking_accounts a on a.customer_id = c.id and a.id = d.id
           group by d.event) k;

  -- Consent reminders (replay rule of ob_institution_login_flag_reauth): applied to a login only if not
  -- older than the newest event applied to it nor than the consent in force; the newest applied one's
  -- message stays. An unknown login, or one the event does not apply to, notes its event.
  with r as (
    select r.event, r.login, r.at, r.message, l.id is not null as known,
           l.id is not null and (r.at is null or (r.at >= coalesce(l.last_event_at, '-infinity')
                                 and r.at >= coalesce(l.authorization_start_at, '-infinity'))) as applies
      from pg_catalog.jsonb_to_recordset(coalesce(p_effects -> 'reauth', '[]'))
             as r(event bigint, login bigint, at timestamptz, message text)
      left join public.open_banking_institution_logins l on l.id = r.login
  ), flagged as (
    update public.open_banking_institution_logins l
       set needs_reauth = true, last_error_message = coalesce(f.message, l.last_error_message),
           last_event_at = greatest(l.last_event_at, f.at)
      from (select distinct on (r.login) r.login, r.message, r.at from r where r.applies
             order by r.login, r.at desc, r.event desc) f
     where l.id = f.login
    returning l.id
  )
  select coalesce(pg_catalog.array_agg(r.event) filter (where r.applies), '{}'),
         v_notes || coalesce(pg_catalog.jsonb_object_agg(r.event,
           case when not r.known then 'unknown institution login ' || r.login
                else 'recorded, not applied: older than the newest event applied to this login '
                     || '(or its consent was renewed since)' end) filter (where not r.applies), '{}')
    into v_applied, v_notes
    from r;

  -- Jobs the events ask for (syncs, consent checks): one per dedupe key, one wake-up for all.
  with wanted as (
    select distinct on (q.dedupe_key) q.kind, q.payload, q.dedupe_key
      from pg_catalog.jsonb_to_recordset(coalesce(p_effects -> 'enqueue', '[]')) as q(
        kind text, payload jsonb, dedupe_key text, event bigint)
     where q.event is null or q.event = any (v_applied)   -- a Fix-link request only for an applied reminder
     order by q.dedupe_key
  )
  -- Through the one enqueue function: a sync already waiting for the customer (a daily one, say)
  -- takes this one in, and its place in the queue moves up to the webhook's class.
  select count(*) filter (where (private.ob_enqueue(w.kind, w.payload, w.dedupe_key) ->> 'created')::boolean)
    into v_enqueued from wanted w;

  update private.ob_webhook_events e
     set processed_at = now(),
         process_error = left(coalesce(x.note, v_notes ->> x.id::text), 1000)
    from pg_catalog.jsonb_to_recordset(coalesce(p_effects -> 'events', '[]')) as x(id bigint, note text)
   where e.id = x.id and e.processed_at is null;

  select coalesce(pg_catalog.array_agg(x::bigint), '{}') into v_jobs
    from pg_catalog.jsonb_array_elements_text(coalesce(p_effects -> 'jobs', '[]')) x;
  update private.ob_jobs j
     set status = 'succeeded', finished_at = now(), locked_by = null, locked_until = null, last_error = null
    from pg_catalog.unnest(v_jobs) as u(id)
   where j.id = u.id and j.status = 'running' and j.locked_by = p_worker;
  get diagnostics v_completed = row_count;

  if v_enqueued > 0 then
    perform private.ob_wake('webhook_batch');
  end if;
  return pg_catalog.jsonb_build_object('completed', v_completed, 'enqueued', v_enqueued);
end
$$;
revoke all on function public.ob_webhook_events_apply(text, jsonb) from public, anon, authenticated;
grant execute on function public.ob_webhook_events_apply(text, jsonb) to service_role;
