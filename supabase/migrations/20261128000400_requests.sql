-- The two tables a CPA writes (through the React app, under RLS): a bank-link request and an
-- on-demand refresh. Each insert enqueues its job in the same transaction (trigger `enqueue_job`,
-- private.ob_enqueue_for_request in ..0200_job_queue.sql) and rings the service. The row's
-- requester and state are forced by private.force_request_defaults (..0100_foundation.sql).

-- =================================================================================================
-- public.open_banking_link_requests
-- The CPA inserts a row; the service delivers the link (job `deliver_link`). A Connect link (`link`)
-- is emailed by Mastercard to email_to; a Fix link (`fix`, re-consent) has no email endpoint at
-- Mastercard, so the service generates it and stores it as `ready` for the platform to deliver.
-- =================================================================================================

create table public.open_banking_link_requests (
  id                    uuid primary key default gen_random_uuid(),
  platform_client_id    uuid not null references public.clients (id) on delete cascade,
  email_to              text check (length(email_to) between 3 and 320 and email_to ~ '^[^@\s]+@[^@\s]+$'),
  first_name            text check (length(first_name) <= 100),
  kind                  text not null default 'link' check (kind in ('link', 'fix')),
  institution_login_id  bigint,
  requested_by          uuid references auth.users (id) on delete set null,
  status                text not null default 'queued'
                        -- `sent`: Mastercard emailed the Connect link; `ready`: a Fix link stored for the platform
                        check (status in ('queued', 'sending', 'sent', 'ready', 'failed')),
  link                  text,
  ttl_expires_at        timestamptz,
  error_message         text,
  sent_at               timestamptz,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now(),
  constraint fix_needs_login check (kind = 'link' or institution_login_id is not null),
  constraint link_needs_email check (kind = 'fix' or email_to is not null)
);
revoke all on public.open_banking_link_requests from public, anon, authenticated;
grant select on public.open_banking_link_requests to authenticated;
-- The CPA supplies only these columns; everything else is the service's.
grant insert (platform_client_id, email_to, first_name, kind, institution_login_id)
  on public.open_banking_link_requests to authenticated;
grant all on public.open_banking_link_requests to service_role;

alter table public.open_banking_link_requests enable row level security;
create policy "CPAs read their clients' link requests" on public.open_banking_link_requests
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));
create policy "CPAs request links for their own clients" on public.open_banking_link_requests
  for insert to authenticated
  with check (
    (select public.ob_can_access_client(platform_client_id))
    and requested_by = (select auth.uid())
    -- a Fix link may name only a bank login of this same client
    and (institution_login_id is null or exists (
      select 1 from public.open_banking_institution_logins l
       where l.id = institution_login_id and l.platform_client_id = open_banking_link_requests.platform_client_id)));

create index open_banking_link_requests_client_idx
  on public.open_banking_link_requests (platform_client_id, created_at desc);

create trigger force_request_defaults before insert on public.open_banking_link_requests
  for each row execute function private.force_request_defaults();
create trigger enqueue_job after insert on public.open_banking_link_requests
  for each row execute function private.ob_enqueue_for_request();
create trigger set_updated_at before update on public.open_banking_link_requests
  for each row execute function private.set_updated_at();

-- Functions ----------------------------------------------------------------------------------------

create function public.ob_link_request_get(p_id uuid)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.to_jsonb(e) from public.open_banking_link_requests e where e.id = p_id
$$;
revoke all on function public.ob_link_request_get(uuid) from public, anon, authenticated;
grant execute on function public.ob_link_request_get(uuid) to service_role;

create function public.ob_link_request_update(
  p_id uuid, p_status text, p_link text default null, p_ttl_expires_at timestamptz default null,
  p_error_message text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_link_requests%rowtype;
begin
  update public.open_banking_link_requests e
     set status = p_status,
         link = coalesce(p_link, e.link),
         ttl_expires_at = coalesce(p_ttl_expires_at, e.ttl_expires_at),
         error_message = case when p_status = 'failed' then left(p_error_message, 500) end,
         sent_at = case when p_status = 'sent' then now() else e.sent_at end
   where e.id = p_id
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_link_request_update(uuid, text, text, timestamptz, text) from public, anon, authenticated;
grant execute on function public.ob_link_request_update(uuid, text, text, timestamptz, text) to service_role;

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
revoke all on function public.ob_link_request_request(uuid, text, text, text, bigint) from public, anon, authenticated;
grant execute on function public.ob_link_request_request(uuid, text, text, text, bigint) to service_role;

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
revoke all on function public.ob_request_fix_link(bigint) from public, anon, authenticated;
grant execute on function public.ob_request_fix_link(bigint) to service_role;

-- =================================================================================================
-- public.open_banking_sync_requests
-- On-demand refresh: the CPA inserts a row, the service runs the sync and fills in the outcome.
-- =================================================================================================

create table public.open_banking_sync_requests (
  id                   uuid primary key default gen_random_uuid(),
  platform_client_id   uuid not null references public.clients (id) on delete cascade,
  requested_by         uuid references auth.users (id) on delete set null,
  status               text not null default 'queued'
                       check (status in ('queued', 'running', 'succeeded', 'failed')),
  accounts_synced      integer,
  transactions_synced  integer,
  error_message        text,
  started_at           timestamptz,
  finished_at          timestamptz,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now()
);
revoke all on public.open_banking_sync_requests from public, anon, authenticated;
grant select on public.open_banking_sync_requests to authenticated;
grant insert (platform_client_id) on public.open_banking_sync_requests to authenticated;
grant all on public.open_banking_sync_requests to service_role;

alter table public.open_banking_sync_requests enable row level security;
create policy "CPAs read their clients' refresh requests" on public.open_banking_sync_requests
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));
create policy "CPAs request refreshes for their own clients" on public.open_banking_sync_requests
  for insert to authenticated
  with check ((select public.ob_can_access_client(platform_client_id)) and requested_by = (select auth.uid()));

create index open_banking_sync_requests_client_idx
  on public.open_banking_sync_requests (platform_client_id, created_at desc);

create trigger force_request_defaults before insert on public.open_banking_sync_requests
  for each row execute function private.force_request_defaults();
create trigger enqueue_job after insert on public.open_banking_sync_requests
  for each row execute function private.ob_enqueue_for_request();
create trigger set_updated_at before update on public.open_banking_sync_requests
  for each row execute function private.set_updated_at();

-- Functions ----------------------------------------------------------------------------------------

create function public.ob_sync_request_update(
  p_id uuid, p_status text, p_accounts integer default null, p_transactions integer default null,
  p_error_message text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_sync_requests%rowtype;
begin
  update public.open_banking_sync_requests r
     set status = p_status,
         accounts_synced = coalesce(p_accounts, r.accounts_synced),
         transactions_synced = coalesce(p_transactions, r.transactions_synced),
         error_message = case when p_status = 'failed' then left(p_error_message, 500) end,
         started_at = case when p_status = 'running' then coalesce(r.started_at, now()) else r.started_at end,
         finished_at = case when p_status in ('succeeded', 'failed') then now() end
   where r.id = p_id
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_sync_request_update(uuid, text, integer, integer, text) from public, anon, authenticated;
grant execute on function public.ob_sync_request_update(uuid, text, integer, integer, text) to service_role;
