-- The webhook inbox: every verified Connect / OBWMS event, stored once, then processed by a
-- `process_webhook_event` job. Retention (processed events only) is in ..1000_schedules.sql.

-- =================================================================================================
-- private.ob_webhook_events
-- =================================================================================================

create table private.ob_webhook_events (
  id                    bigint generated always as identity primary key,
  source                text not null check (source in ('connect', 'obwms')),
  message_id            text not null,   -- Connect eventId / OBWMS X-Mastercard-Webhook-Message-Id
  event_type            text,
  finicity_customer_id  text,
  headers               jsonb not null default '{}',
  payload               jsonb not null,
  verified              boolean not null,
  received_at           timestamptz not null default now(),
  processed_at          timestamptz,
  process_error         text,
  unique (source, message_id)
);
revoke all on private.ob_webhook_events from public, anon, authenticated;
grant select on private.ob_webhook_events to service_role;

create index ob_webhook_events_received_idx on private.ob_webhook_events (received_at);
create index ob_webhook_events_customer_idx on private.ob_webhook_events (finicity_customer_id, received_at);

-- Intake -------------------------------------------------------------------------------------------

-- Intake: store verified events and their processing jobs in one transaction. The service gathers
-- the events that arrive while a write is in flight and stores them with one call (one round trip,
-- set-based statements); a single event is a batch of one. Each event gets its own result in input
-- order; an event repeated inside the batch or stored before is reported as a duplicate (a no-op);
-- an unverified one is refused (22023) without failing the others; one wake-up per batch.
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
           t.e ->> 'p_event_type' as event_type, t.e ->> 'p_finicity_customer_id' as finicity_customer_id,
           coalesce(t.e -> 'p_headers', '{}'::jsonb) as headers, t.e -> 'p_payload' as payload,
           coalesce((t.e ->> 'p_verified')::boolean, false) as verified
      from pg_catalog.jsonb_array_elements(p_events) with ordinality as t(e, ord)
  ), first_seen as (
    select distinct on (i.source, i.message_id) i.* from input i order by i.source, i.message_id, i.ord
  ), inserted as (
    insert into private.ob_webhook_events (source, message_id, event_type, finicity_customer_id, headers, payload, verified)
    select f.source, f.message_id, f.event_type, f.finicity_customer_id, f.headers, f.payload, f.verified
      from first_seen f where f.verified
    on conflict (source, message_id) do nothing
    returning id, source, message_id
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
               coalesce(n.id, (select e.id from private.ob_webhook_events e
                                where e.source = i.source and e.message_id = i.message_id)))
           end order by i.ord),
         (select count(*) from jobs)
    into v_out, v_stored
    from input i
    join first_seen f on f.source = i.source and f.message_id = i.message_id
    left join inserted n on n.source = i.source and n.message_id = i.message_id;

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
