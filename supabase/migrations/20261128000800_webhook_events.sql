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
    -- through the one enqueue function, like every other job
    select private.ob_enqueue('process_webhook_event', pg_catalog.jsonb_build_object('event_id', n.id),
                              'webhook_event:' || n.id)
      from inserted n
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
