-- Operator functions behind `python -m service ...` (service_role only).

-- The status table: per platform client, what the CPA's badge says and why.
create function public.ob_status_report(p_platform_client_id uuid default null)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(r order by r.client_name), '[]'::jsonb) from (
    select c.id as platform_client_id, c.name as client_name, cu.finicity_customer_id, cu.customer_type,
           case
             when bool_or(l.needs_reauth) then 'needs_reauth'
             when cu.link_status = 'error' then 'error'
             when cu.link_status = 'linked' then 'linked'
             when cu.id is not null or exists (
               select 1 from public.open_banking_link_requests e
                where e.platform_client_id = c.id and e.status in ('queued', 'sending', 'sent', 'ready')) then 'pending'
             else 'not_linked'
           end as badge,
           count(distinct l.id) as logins,
           min(l.authorization_end_at) filter (where l.authorization_end_at > now()) as consent_expires_at,
           cu.last_synced_at, cu.last_sync_error, cu.last_error_message,
           (select count(*) from public.open_banking_accounts a where a.customer_id = cu.id) as accounts,
           (select count(*) from public.open_banking_transactions t
              join public.open_banking_accounts a on a.id = t.account_id where a.customer_id = cu.id) as transactions
      from public.clients c
      left join public.open_banking_customers cu on cu.platform_client_id = c.id
      left join public.open_banking_institution_logins l on l.customer_id = cu.id
     where (p_platform_client_id is null and (cu.id is not null or exists (
              select 1 from public.open_banking_link_requests e where e.platform_client_id = c.id)))
        or c.id = p_platform_client_id
     group by c.id, cu.id
  ) r
$$;

-- Operators (re-)send a link the way a CPA would: a request row, whose trigger enqueues the job.
create function public.ob_link_request_request(
  p_platform_client_id uuid, p_email_to text, p_first_name text default null,
  p_kind text default 'link', p_institution_login_id bigint default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_link_requests%rowtype;
begin
  insert into public.open_banking_link_requests (platform_client_id, email_to, first_name, kind, institution_login_id)
  values (p_platform_client_id, p_email_to, p_first_name, p_kind, p_institution_login_id)
  returning * into v_row;
  return pg_catalog.to_jsonb(v_row);
end
$$;

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

-- A Connect Fix (re-consent) link for a login whose consent is closing. Fix links are not emailed
-- (the platform delivers them), so the request needs no address. At most one open Fix request per
-- login: repeated reminders add nothing.
create function public.ob_request_fix_link(p_institution_login_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_client uuid;
  v_row public.open_banking_link_requests%rowtype;
begin
  select l.platform_client_id into v_client from public.open_banking_institution_logins l where l.id = p_institution_login_id;
  if v_client is null then
    raise exception 'unknown institution login %', p_institution_login_id using errcode = 'P0002';
  end if;
  select * into v_row from public.open_banking_link_requests e
   where e.institution_login_id = p_institution_login_id and e.kind = 'fix'
     and (e.status in ('queued', 'sending') or (e.status = 'ready' and e.ttl_expires_at > now()));
  if found then
    return pg_catalog.to_jsonb(v_row) || pg_catalog.jsonb_build_object('created', false);
  end if;
  insert into public.open_banking_link_requests (platform_client_id, kind, institution_login_id)
  values (v_client, 'fix', p_institution_login_id)
  returning * into v_row;
  return pg_catalog.to_jsonb(v_row) || pg_catalog.jsonb_build_object('created', true);
end
$$;

do $grants$
declare
  f text;
begin
  foreach f in array array[
    'public.ob_status_report(uuid)',
    'public.ob_link_request_request(uuid, text, text, text, bigint)',
    'public.ob_webhook_event_replay(bigint)',
    'public.ob_webhook_events_recent(integer)',
    'public.ob_request_fix_link(bigint)']
  loop
    execute format('revoke all on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$grants$;
