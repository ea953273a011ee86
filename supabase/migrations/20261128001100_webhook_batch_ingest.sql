-- Webhook intake under load: the service gathers the events that arrive while a write is in flight
-- and stores them with one call (one transaction, one round trip, set-based statements) instead of
-- one each. Each event gets its own result in input order; an event repeated inside the batch or
-- stored before is reported as a duplicate; one wake-up per batch.
create function public.ob_webhook_events_ingest(p_events jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_max_attempts integer := private.ob_setting('job_max_attempts', '8')::integer;
  v_out jsonb;
  v_stored integer;
begin
  with input as (
    select t.ord, t.e ->> 'p_source' as source, t.e ->> 'p_message_id' as message_id,
           t.e ->> 'p_event_type' as event_type, t.e ->> 'p_finicity_customer_id' as customer_id,
           coalesce(t.e -> 'p_headers', '{}'::jsonb) as headers, t.e -> 'p_payload' as payload,
           coalesce((t.e ->> 'p_verified')::boolean, false) as verified
      from pg_catalog.jsonb_array_elements(p_events) with ordinality as t(e, ord)
  ), first_seen as (
    select distinct on (i.source, i.message_id) i.* from input i order by i.source, i.message_id, i.ord
  ), inserted as (
    insert into private.ob_webhook_events (source, message_id, event_type, finicity_customer_id, headers, payload, verified)
    select f.source, f.message_id, f.event_type, f.customer_id, f.headers, f.payload, f.verified
      from first_seen f where f.verified
    on conflict (source, message_id) do nothing
    returning id, source, message_id
  ), jobs as (
    insert into private.ob_jobs (kind, payload, dedupe_key, max_attempts)
    select 'process_webhook_event', pg_catalog.jsonb_build_object('event_id', n.id), 'webhook_event:' || n.id,
           v_max_attempts
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
