-- The two tables a CPA writes (through the React app, under RLS): a bank-link request and an
-- on-demand refresh. Each insert enqueues its job in the same transaction (trigger `enqueue_job`,
-- private.ob_enqueue_for_request in ..0200_job_queue.sql) and rings the service. The row's
-- requester and state are forced by private.force_request_defaults (..0100_foundation.sql).

-- =================================================================================================
-- public.open_banking_link_requests
-- The CPA inserts a row; the service delivers the link (job `deliver_link`). `delivery` says how a
-- Connect link (`link`) reaches the client:
--   platform          the service generates the link (/connect/v2/generate) and stores it with its TTL,
--                     status `ready`, for the platform to send with its own email. Needs no personal data.
--   mastercard_email  Mastercard emails it to email_to (/connect/v2/send/email), status `sent`. Mastercard
--                     requires a consumer for that: unless the client already has one, the CPA supplies
--                     first_name, last_name, state and birthday (never an SSN); they are cleared once the
--                     consumer exists (ob_customer_set_consumer).
-- A Fix link (`fix`, re-consent) has no email endpoint at Mastercard: it is always stored `ready`.
-- =================================================================================================

create table public.open_banking_link_requests (
  id                    uuid primary key default gen_random_uuid(),
  platform_client_id    uuid not null references public.clients (id) on delete cascade,
  email_to              text check (length(email_to) between 3 and 320 and email_to ~ '^[^@\s]+@[^@\s]+$'),
  first_name            text check (length(first_name) <= 100),
  last_name             text check (length(last_name) between 1 and 100),
  state                 text check (state ~ '^[A-Z]{2}$'),
  birthday              date check (birthday between date '1900-01-01' and current_date),
  delivery              text not null default 'platform' check (delivery in ('platform', 'mastercard_email')),
  kind                  text not null default 'link' check (kind in ('link', 'fix')),
  institution_login_id  bigint,
  requested_by          uuid references auth.users (id) on delete set null,
  status                text not null default 'queued'
                        -- `sent`: Mastercard emailed the Connect link; `ready`: a Fix link stored for the platform;
                        -- `coalesced`: joined the request in flight for the same client and address
                        check (status in ('queued', 'sending', 'sent', 'ready', 'failed', 'coalesced')),
  -- A coalesced request names the one it joined; its link, error and times follow that one's.
  coalesced_into        uuid references public.open_banking_link_requests (id) on delete set null,
  link                  text,
  ttl_expires_at        timestamptz,
  error_message         text,
  sent_at               timestamptz,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now(),
  constraint fix_needs_login check (kind = 'link' or institution_login_id is not null),
  constraint mastercard_email_needs_email check (delivery = 'platform' or kind = 'fix' or email_to is not null)
);
revoke all on public.open_banking_link_requests from public, anon, authenticated;
grant select on public.open_banking_link_requests to authenticated;
-- The CPA supplies only these columns; everything else is the service's.
grant insert (platform_client_id, email_to, first_name, last_name, state, birthday, delivery, kind, institution_login_id)
  on public.open_banking_link_requests to authenticated;
grant all on public.open_banking_link_requests to service_role;

alter table public.open_banking_link_requests enable row level security;
-- Live badges and request rows: Supabase Realtime sends changes to each CPA under the table's RLS.
alter publication supabase_realtime add table public.open_banking_link_requests;
create policy "CPAs read their clients' link requests" on public.open_banking_link_requests
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));
create policy "CPAs request links for their own clients" on public.open_banking_link_requests
  for insert to authenticated
  with check (
    platform_client_id = any (array(select public.ob_accessible_clients()))
    and requested_by = (select auth.uid())
    -- a Fix link may name only a bank login of this same client
    and (institution_login_id is null or exists (
      select 1 from public.open_banking_institution_logins l
       where l.id = institution_login_id and l.platform_client_id = open_banking_link_requests.platform_client_id)));

create index open_banking_link_requests_client_idx
  on public.open_banking_link_requests (platform_client_id, created_at desc);
-- The per-CPA daily cap counts a requester's recent requests.
create index open_banking_link_requests_requester_idx
  on public.open_banking_link_requests (requested_by, created_at desc);
create index open_banking_link_requests_coalesced_idx
  on public.open_banking_link_requests (coalesced_into) where coalesced_into is not null;

-- Admission of a link request, at insert: a request for the same client, kind, delivery, address (or
-- none: a platform link) and bank login while one is in flight (queued or sending) joins it (status
-- `coalesced`); otherwise a CPA is held to
-- `link_requests_per_cpa_per_day` requests in any 24 hours (private.ob_settings), refused with a
-- message the app can show as is (SQLSTATE PT429: PostgREST answers HTTP 429) and nothing queued.
create function private.ob_link_request_admit()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_leader uuid;
  v_cap integer := private.ob_setting('link_requests_per_cpa_per_day', '50')::integer;
  v_oldest timestamptz;
  v_count integer;
begin
  -- Only a new request joins one in flight (a row written with its outcome already, by the service or
  -- an operator, is left as written).
  if new.status = 'queued' then
    -- One decision per client at a time: two sessions inserting at once would both find nothing in flight.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ob_link_request:' || new.platform_client_id, 0));
    select e.id into v_leader from public.open_banking_link_requests e
     where e.platform_client_id = new.platform_client_id and e.kind = new.kind and e.delivery = new.delivery
       and lower(coalesce(e.email_to, '')) = lower(coalesce(new.email_to, ''))
       and e.institution_login_id is not distinct from new.institution_login_id
       and e.status in ('queued', 'sending')
     order by e.created_at, e.id limit 1;
    if v_leader is not null then
      new.status := 'coalesced';
      new.coalesced_into := v_leader;
      return new;
    end if;
  end if;
  -- The cap binds the React app's callers (role authenticated), not the service or operators.
  if pg_catalog.current_setting('role', true) = 'authenticated' and new.requested_by is not null then
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ob_link_cap:' || new.requested_by, 0));
    select count(*), min(q.created_at) into v_count, v_oldest
      from (select e.created_at from public.open_banking_link_requests e
             where e.requested_by = new.requested_by and e.status <> 'coalesced'
               and e.created_at > now() - interval '24 hours'
             order by e.created_at desc limit v_cap) q;
    if v_count >= v_cap then
      raise exception 'you have sent % bank-link requests in the last 24 hours, the most allowed; try again after %',
        v_cap, pg_catalog.to_char((v_oldest + interval '24 hours') at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
        using errcode = 'PT429',
              hint = 'retry after ' || pg_catalog.to_char((v_oldest + interval '24 hours') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
    end if;
  end if;
  return new;
end
$$;
revoke all on function private.ob_link_request_admit() from public, anon, authenticated;

-- Trigger: Mastercard's email needs a consumer; refuse a request that could not create one, naming the field
-- (not null violation: PostgREST answers 400 with this message).
create function private.ob_link_request_check_consumer()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_missing text;
begin
  if new.delivery <> 'mastercard_email' or new.kind <> 'link' then
    return new;
  end if;
  if exists (select 1 from public.open_banking_customers c
              where c.platform_client_id = new.platform_client_id and c.finicity_consumer_id is not null) then
    return new;
  end if;
  v_missing := case when new.first_name is null then 'first_name'
                    when new.last_name is null then 'last_name'
                    when new.state is null then 'state'
                    when new.birthday is null then 'birthday' end;
  if v_missing is not null then
    raise exception '% is required for delivery mastercard_email (Mastercard needs a consumer: first_name, last_name, state, birthday)', v_missing
      using errcode = '23502', column = v_missing;
  end if;
  return new;
end
$$;
revoke all on function private.ob_link_request_check_consumer() from public, anon, authenticated;

create trigger force_request_defaults before insert on public.open_banking_link_requests
  for each row execute function private.force_request_defaults();
-- Fires after force_request_defaults (BEFORE triggers run in name order).
create trigger limit_and_coalesce before insert on public.open_banking_link_requests
  for each row execute function private.ob_link_request_admit();
create trigger needs_consumer_fields before insert on public.open_banking_link_requests
  for each row execute function private.ob_link_request_check_consumer();
-- Only a request that was admitted on its own makes a job; a coalesced one rides on its leader's.
create trigger enqueue_job after insert on public.open_banking_link_requests
  for each row when (new.status <> 'coalesced') execute function private.ob_enqueue_for_request();
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
  -- Requests that joined this one show its outcome.
  update public.open_banking_link_requests f
     set link = v_row.link, ttl_expires_at = v_row.ttl_expires_at, error_message = v_row.error_message,
         sent_at = v_row.sent_at
   where f.coalesced_into = p_id;
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
-- On-demand refresh: the CPA inserts a row; the service asks Mastercard for a standard refresh (the only
-- path that ever calls a refresh endpoint: Mastercard forbids automating them), follows it to the end,
-- then runs the sync and fills in the outcome.
-- =================================================================================================

create table public.open_banking_sync_requests (
  id                   uuid primary key default gen_random_uuid(),
  platform_client_id   uuid not null references public.clients (id) on delete cascade,
  requested_by         uuid references auth.users (id) on delete set null,
  status               text not null default 'queued'
                       -- `coalesced`: joined the refresh already queued or running for this client;
                       -- `refreshing`: Mastercard is re-reading the bank (refreshTransactions), then the sync runs
                       check (status in ('queued', 'refreshing', 'running', 'succeeded', 'failed', 'coalesced')),
  -- A coalesced request names the one it joined; its counts, error and times follow that one's.
  coalesced_into       uuid references public.open_banking_sync_requests (id) on delete set null,
  refresh_id           uuid,
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
-- Live badges and request rows: Supabase Realtime sends changes to each CPA under the table's RLS.
alter publication supabase_realtime add table public.open_banking_sync_requests;
create policy "CPAs read their clients' refresh requests" on public.open_banking_sync_requests
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));
create policy "CPAs request refreshes for their own clients" on public.open_banking_sync_requests
  for insert to authenticated
  with check (platform_client_id = any (array(select public.ob_accessible_clients())) and requested_by = (select auth.uid()));

create index open_banking_sync_requests_client_idx
  on public.open_banking_sync_requests (platform_client_id, created_at desc);
create index open_banking_sync_requests_coalesced_idx
  on public.open_banking_sync_requests (coalesced_into) where coalesced_into is not null;

-- Admission of a refresh, at insert: at most one refresh per client is queued or running; a request
-- arriving meanwhile joins it (status `coalesced`). Otherwise a CPA may refresh a client once every
-- `refresh_min_interval_seconds` (private.ob_settings); sooner is refused with a message the app can
-- show as is (SQLSTATE PT429: PostgREST answers HTTP 429) and nothing is queued.
create function private.ob_sync_request_admit()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_leader uuid;
  v_last timestamptz;
  v_next timestamptz;
  v_ago integer;
begin
  -- Only a new request joins one in flight (a row written with its outcome already is left as written).
  if new.status <> 'queued' then
    return new;
  end if;
  -- One decision per client at a time: two sessions inserting at once would both find nothing in flight.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ob_sync_request:' || new.platform_client_id, 0));
  select r.id into v_leader from public.open_banking_sync_requests r
   where r.platform_client_id = new.platform_client_id and r.status in ('queued', 'refreshing', 'running')
   order by r.created_at, r.id limit 1;
  if v_leader is not null then
    new.status := 'coalesced';
    new.coalesced_into := v_leader;
    return new;
  end if;
  -- The interval binds the React app's callers (role authenticated), not the service or operators.
  if pg_catalog.current_setting('role', true) = 'authenticated' then
    select max(r.created_at) into v_last from public.open_banking_sync_requests r
     where r.platform_client_id = new.platform_client_id and r.status <> 'coalesced';
    v_next := v_last + make_interval(secs => private.ob_setting('refresh_min_interval_seconds', '600')::double precision);
    if v_next > now() then
      v_ago := floor(extract(epoch from now() - v_last) / 60);
      raise exception 'this client was refreshed %; try again after %',
        case when v_ago < 1 then 'less than a minute ago' when v_ago = 1 then '1 minute ago' else v_ago || ' minutes ago' end,
        pg_catalog.to_char(v_next at time zone 'UTC', 'HH24:MI "UTC"')
        using errcode = 'PT429',
              hint = 'retry after ' || pg_catalog.to_char(v_next at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
    end if;
  end if;
  return new;
end
$$;
revoke all on function private.ob_sync_request_admit() from public, anon, authenticated;
create unique index open_banking_sync_requests_refresh_idx
  on public.open_banking_sync_requests (refresh_id) where refresh_id is not null;

create trigger force_request_defaults before insert on public.open_banking_sync_requests
  for each row execute function private.force_request_defaults();
-- Fires after force_request_defaults (BEFORE triggers run in name order).
create trigger limit_and_coalesce before insert on public.open_banking_sync_requests
  for each row execute function private.ob_sync_request_admit();
-- Only a request that was admitted on its own makes a job; a coalesced one rides on its leader's.
create trigger enqueue_job after insert on public.open_banking_sync_requests
  for each row when (new.status <> 'coalesced') execute function private.ob_enqueue_for_request();
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
  -- Requests that joined this one show its outcome.
  update public.open_banking_sync_requests f
     set accounts_synced = v_row.accounts_synced, transactions_synced = v_row.transactions_synced,
         error_message = v_row.error_message, started_at = v_row.started_at, finished_at = v_row.finished_at
   where f.coalesced_into = p_id;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_sync_request_update(uuid, text, integer, integer, text) from public, anon, authenticated;
grant execute on function public.ob_sync_request_update(uuid, text, integer, integer, text) to service_role;

-- Mastercard accepted the standard refresh: the row shows `refreshing` until it ends.
create function public.ob_sync_request_refreshing(p_id uuid, p_refresh_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_sync_requests%rowtype;
begin
  update public.open_banking_sync_requests r
     set status = 'refreshing', refresh_id = p_refresh_id, started_at = coalesce(r.started_at, now())
   where r.id = p_id and r.status in ('queued', 'running') and r.refresh_id is null
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_sync_request_refreshing(uuid, uuid) from public, anon, authenticated;
grant execute on function public.ob_sync_request_refreshing(uuid, uuid) to service_role;

-- The refresh ended: once per request, COMPLETED queues the sync (which finishes the row), FAILED ends
-- the row with the reason.
create function public.ob_sync_request_refresh_settle(p_refresh_id uuid, p_status text, p_error text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_sync_requests%rowtype;
begin
  if p_status not in ('COMPLETED', 'FAILED') then
    raise exception 'not a final refresh status: %', p_status using errcode = '22023';
  end if;
  update public.open_banking_sync_requests r
     set status = case when p_status = 'COMPLETED' then 'running' else 'failed' end,
         error_message = case when p_status = 'FAILED'
                              then left(coalesce(p_error, 'The bank could not be refreshed now.'), 500) end,
         finished_at = case when p_status = 'FAILED' then now() end
   where r.refresh_id = p_refresh_id and r.status = 'refreshing'
  returning * into v_row;
  if v_row.id is null then
    return pg_catalog.jsonb_build_object('settled', false);
  end if;
  if p_status = 'COMPLETED' then
    perform private.ob_enqueue('sync_customer',
      pg_catalog.jsonb_build_object('platform_client_id', v_row.platform_client_id, 'sync_request_id', v_row.id,
                                    'refreshed', true, 'reason', 'refresh_request'),
      'sync_request:' || v_row.id || ':refreshed');
    perform private.ob_wake('refresh_complete');
  end if;
  return pg_catalog.to_jsonb(v_row) || pg_catalog.jsonb_build_object('settled', true);
end
$$;
revoke all on function public.ob_sync_request_refresh_settle(uuid, text, text) from public, anon, authenticated;
grant execute on function public.ob_sync_request_refresh_settle(uuid, text, text) to service_role;

-- Whose refresh is this (for the OBWMS status event)? A CPA's request, a login's historic load, or
-- none of ours (null).
create function public.ob_refresh_owner(p_refresh_id uuid)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select pg_catalog.jsonb_build_object('purpose', 'sync_request', 'sync_request_id', r.id, 'status', r.status)
       from public.open_banking_sync_requests r where r.refresh_id = p_refresh_id),
    (select pg_catalog.jsonb_build_object('purpose', 'history', 'institution_login_id', l.id, 'status', l.history_status)
       from public.open_banking_institution_logins l where l.history_refresh_id = p_refresh_id))
$$;
revoke all on function public.ob_refresh_owner(uuid) from public, anon, authenticated;
grant execute on function public.ob_refresh_owner(uuid) to service_role;
