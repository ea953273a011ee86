-- Customers (platform client <-> Finicity customer) and their institution logins (bank connections),
-- with the service RPCs that write them. Written by the service only; CPAs read their clients' rows.
-- Their pg_cron jobs (daily sync, consent check) are in ..1000_schedules.sql.

-- =================================================================================================
-- public.open_banking_customers
-- =================================================================================================

create table public.open_banking_customers (
  id                    uuid primary key default gen_random_uuid(),
  platform_client_id    uuid not null unique references public.clients (id) on delete cascade,
  finicity_customer_id  text unique,
  finicity_username     text not null unique,
  customer_type         text not null check (customer_type in ('testing', 'active')),
  link_status           text not null default 'pending'
                        check (link_status in ('pending', 'linked', 'error')),
  link_status_at        timestamptz,    -- the event time of the status (events may arrive out of order)
  last_error_code       text,
  last_error_message    text,
  last_synced_at        timestamptz,
  last_sync_error       text,
  -- Mastercard's consumer for this customer (CreateConsumer), needed only for Mastercard's Connect email.
  finicity_consumer_id  text,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now()
);
comment on table public.open_banking_customers is
  'One Finicity customer per platform client. Written by the service only.';
revoke all on public.open_banking_customers from public, anon, authenticated;
grant select on public.open_banking_customers to authenticated;
grant all on public.open_banking_customers to service_role;

alter table public.open_banking_customers enable row level security;
-- Live badges and request rows: Supabase Realtime sends changes to each CPA under the table's RLS.
alter publication supabase_realtime add table public.open_banking_customers;
create policy "CPAs read their clients' customers" on public.open_banking_customers
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));

create trigger set_updated_at before update on public.open_banking_customers
  for each row execute function private.set_updated_at();

-- Functions ----------------------------------------------------------------------------------------

-- Internal: the customer row for a Finicity id, or P0002.
create function private.ob_customer_row(p_finicity_customer_id text)
returns public.open_banking_customers
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_customers%rowtype;
begin
  select * into v_row from public.open_banking_customers c where c.finicity_customer_id = p_finicity_customer_id;
  if not found then
    raise exception 'unknown Finicity customer %', p_finicity_customer_id using errcode = 'P0002';
  end if;
  return v_row;
end
$$;
revoke all on function private.ob_customer_row(text) from public, anon, authenticated;

-- The link job makes a client's customer in two steps around Mastercard's answer: first the row
-- (no Finicity id; only while the link request that asks for it still exists), then the id. The client
-- may be deleted in between (either door); then the first step returns null and Mastercard is never
-- called, or the second finds the row gone, queues the new Mastercard customer's deletion on the
-- client's audit line (private.ob_customer_forgotten) and returns null. Without a request id, the first
-- step makes the row unconditionally; with an id for a client holding no row and never deleted, the row
-- is made with it (one step). Each step holds the client's row (key share) while it writes, and the
-- deletion locks that row first (private.ob_forget_client): they never interleave. (A row lock, not an
-- advisory one: deleting thousands of clients in one statement must not fill the shared lock table.)
create function public.ob_customer_upsert(
  p_platform_client_id uuid, p_username text, p_customer_type text, p_finicity_customer_id text default null,
  p_link_request_id uuid default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_customers%rowtype;
  -- (false once the platform deleted the client: its customer row went with it)
  v_client boolean := exists (select 1 from public.clients c where c.id = p_platform_client_id for key share);
begin
  if p_finicity_customer_id is not null then
    update public.open_banking_customers c
       set finicity_customer_id = coalesce(c.finicity_customer_id, p_finicity_customer_id)
     where c.platform_client_id = p_platform_client_id
    returning * into v_row;
    if found then
      return pg_catalog.to_jsonb(v_row);
    end if;
    if private.ob_customer_forgotten(p_platform_client_id, p_finicity_customer_id) or not v_client then
      return null;
    end if;
  elsif not v_client or (p_link_request_id is not null and not exists (
          select 1 from public.open_banking_link_requests r where r.id = p_link_request_id)) then
    return null;
  end if;
  insert into public.open_banking_customers as c
         (platform_client_id, finicity_username, customer_type, finicity_customer_id, link_status_at)
  values (p_platform_client_id, p_username, p_customer_type, p_finicity_customer_id, now())
  on conflict (platform_client_id) do update
     set finicity_customer_id = coalesce(c.finicity_customer_id, excluded.finicity_customer_id)
  returning * into v_row;
  return pg_catalog.to_jsonb(v_row);
end
$$;
revoke all on function public.ob_customer_upsert(uuid, text, text, text, uuid) from public, anon, authenticated;
grant execute on function public.ob_customer_upsert(uuid, text, text, text, uuid) to service_role;

create function public.ob_customer_get(p_platform_client_id uuid default null, p_finicity_customer_id text default null)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.to_jsonb(c) from public.open_banking_customers c
   where (p_platform_client_id is not null and c.platform_client_id = p_platform_client_id)
      or (p_finicity_customer_id is not null and c.finicity_customer_id = p_finicity_customer_id)
   limit 1
$$;
revoke all on function public.ob_customer_get(uuid, text) from public, anon, authenticated;
grant execute on function public.ob_customer_get(uuid, text) to service_role;

-- Link status moves by event time, so events that arrive out of order end in the same state as
-- in order: an older event never overwrites a newer one, and `pending` never undoes `linked`.
create function public.ob_customer_set_link_status(
  p_finicity_customer_id text, p_status text, p_event_at timestamptz default null,
  p_error_code text default null, p_error_message text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_customers%rowtype;
  v_at timestamptz := coalesce(p_event_at, now());
begin
  update public.open_banking_customers c
     set link_status = p_status, link_status_at = v_at,
         last_error_code = case when p_status = 'error' then p_error_code end,
         last_error_message = case when p_status = 'error' then p_error_message end
   where c.finicity_customer_id = p_finicity_customer_id
     and (c.link_status_at is null or c.link_status_at <= v_at)
     and not (p_status = 'pending' and c.link_status = 'linked')
  returning * into v_row;
  if not found then
    select * into v_row from public.open_banking_customers c where c.finicity_customer_id = p_finicity_customer_id;
  end if;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_customer_set_link_status(text, text, timestamptz, text, text) from public, anon, authenticated;
grant execute on function public.ob_customer_set_link_status(text, text, timestamptz, text, text) to service_role;

create function public.ob_customer_sync_finished(p_finicity_customer_id text, p_error text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_customers%rowtype;
begin
  update public.open_banking_customers c
     set last_synced_at = case when p_error is null then now() else c.last_synced_at end,
         last_sync_error = left(p_error, 500)
   where c.finicity_customer_id = p_finicity_customer_id
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_customer_sync_finished(text, text) from public, anon, authenticated;
grant execute on function public.ob_customer_sync_finished(text, text) to service_role;

-- The consumer exists at Mastercard: remember its id and forget the personal fields the CPA supplied
-- to create it (they were needed once, for CreateConsumer).
create function public.ob_customer_set_consumer(p_platform_client_id uuid, p_consumer_id text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_customers%rowtype;
begin
  update public.open_banking_customers c
     set finicity_consumer_id = p_consumer_id
   where c.platform_client_id = p_platform_client_id
  returning * into v_row;
  update public.open_banking_link_requests r
     set last_name = null, state = null, birthday = null
   where r.platform_client_id = p_platform_client_id
     and (r.last_name is not null or r.state is not null or r.birthday is not null);
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_customer_set_consumer(uuid, text) from public, anon, authenticated;
grant execute on function public.ob_customer_set_consumer(uuid, text) to service_role;

-- Accounts, transactions, snapshots and logins go with the customer (on delete cascade).
create function public.ob_customer_delete(p_finicity_customer_id text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_accounts integer;
  v_transactions integer;
begin
  select count(*) into v_accounts from public.open_banking_accounts a
    join public.open_banking_customers c on c.id = a.customer_id
   where c.finicity_customer_id = p_finicity_customer_id;
  select count(*) into v_transactions from public.open_banking_transactions t
    join public.open_banking_accounts a on a.id = t.account_id
    join public.open_banking_customers c on c.id = a.customer_id
   where c.finicity_customer_id = p_finicity_customer_id;
  -- accounts, transactions, snapshots and logins go with the customer (on delete cascade)
  delete from public.open_banking_customers c where c.finicity_customer_id = p_finicity_customer_id;
  return pg_catalog.jsonb_build_object('deleted', found, 'accounts', v_accounts, 'transactions', v_transactions);
end
$$;
revoke all on function public.ob_customer_delete(text) from public, anon, authenticated;
grant execute on function public.ob_customer_delete(text) to service_role;

-- A customer row whose Finicity customer was never created (the link failed before that).
create function public.ob_customer_delete_unlinked(p_platform_client_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.open_banking_customers c
   where c.platform_client_id = p_platform_client_id and c.finicity_customer_id is null;
  return pg_catalog.jsonb_build_object('deleted', found, 'accounts', 0, 'transactions', 0);
end
$$;
revoke all on function public.ob_customer_delete_unlinked(uuid) from public, anon, authenticated;
grant execute on function public.ob_customer_delete_unlinked(uuid) to service_role;

-- =================================================================================================
-- public.open_banking_institution_logins
-- One row per bank connection (Finicity institutionLoginId), with its consent window.
-- =================================================================================================

create table public.open_banking_institution_logins (
  id                       bigint primary key,            -- Finicity institutionLoginId
  platform_client_id       uuid not null references public.clients (id) on delete cascade,
  customer_id              uuid not null references public.open_banking_customers (id) on delete cascade,
  institution_id           text,
  institution_name         text,
  oauth                    boolean not null default false,
  status                   text not null default 'active' check (status in ('active', 'error')),
  aggregation_status_code  integer,
  authorization_start_at   timestamptz,
  authorization_end_at     timestamptz,
  needs_reauth             boolean not null default false,
  consent_checked_at       timestamptz,
  last_error_message       text,
  -- Event time of the newest OBWMS event applied to this login: an older one (a replay, a late
  -- delivery) is recorded in the inbox but changes nothing here.
  last_event_at            timestamptz,
  -- 24 months of history: standard aggregation gives 180 days before each account was added; one
  -- historic load per login (refreshTransactions mode historic) brings the rest.
  history_status           text not null default 'not_started'
                           check (history_status in ('not_started', 'loading', 'complete', 'failed')),
  history_refresh_id       uuid,
  history_error            text,
  history_started_at       timestamptz,
  history_finished_at      timestamptz,
  earliest_transaction_at  timestamptz,   -- the oldest transaction held for this login's accounts
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now()
);
revoke all on public.open_banking_institution_logins from public, anon, authenticated;
grant select on public.open_banking_institution_logins to authenticated;
grant all on public.open_banking_institution_logins to service_role;

alter table public.open_banking_institution_logins enable row level security;
-- Live badges and request rows: Supabase Realtime sends changes to each CPA under the table's RLS.
alter publication supabase_realtime add table public.open_banking_institution_logins;
create policy "CPAs read their clients' bank logins" on public.open_banking_institution_logins
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));

create index open_banking_institution_logins_client_idx on public.open_banking_institution_logins (platform_client_id);
create index open_banking_institution_logins_customer_idx on public.open_banking_institution_logins (customer_id);
create unique index open_banking_institution_logins_history_refresh_idx
  on public.open_banking_institution_logins (history_refresh_id) where history_refresh_id is not null;

create trigger set_updated_at before update on public.open_banking_institution_logins
  for each row execute function private.set_updated_at();

-- Functions ----------------------------------------------------------------------------------------

create function public.ob_institution_login_upsert(p_finicity_customer_id text, p_login jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_customer public.open_banking_customers := private.ob_customer_row(p_finicity_customer_id);
  v_row public.open_banking_institution_logins%rowtype;
begin
  if private.ob_removed_at_mastercard(null, (p_login ->> 'id')::bigint) then
    return null;  -- a CPA disconnected it at Mastercard: it does not come back (..1800_account_requests.sql)
  end if;
  insert into public.open_banking_institution_logins as l
         (id, platform_client_id, customer_id, institution_id, institution_name, oauth, status,
          aggregation_status_code, last_error_message)
  values ((p_login ->> 'id')::bigint, v_customer.platform_client_id, v_customer.id,
          p_login ->> 'institution_id',
          coalesce((select i.name from public.open_banking_institutions i where i.id = p_login ->> 'institution_id'),
                   p_login ->> 'institution_name'),
          coalesce((p_login ->> 'oauth')::boolean, false), coalesce(p_login ->> 'status', 'active'),
          (p_login ->> 'aggregation_status_code')::integer, p_login ->> 'last_error_message')
  on conflict (id) do update
     set institution_id = coalesce(excluded.institution_id, l.institution_id),
         institution_name = coalesce(excluded.institution_name, l.institution_name),
         oauth = l.oauth or excluded.oauth,
         status = case when p_login ? 'status' then excluded.status else l.status end,
         aggregation_status_code = coalesce(excluded.aggregation_status_code, l.aggregation_status_code),
         last_error_message = case when p_login ? 'last_error_message' then excluded.last_error_message
                                   else l.last_error_message end
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_institution_login_upsert(text, jsonb) from public, anon, authenticated;
grant execute on function public.ob_institution_login_upsert(text, jsonb) to service_role;

-- Consent window from authorization-details; flagged for re-auth inside the warning window.
create function public.ob_institution_login_set_consent(
  p_login_id bigint, p_start_at timestamptz, p_end_at timestamptz, p_warning_days integer default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_institution_logins%rowtype;
  v_days integer := coalesce(p_warning_days, private.ob_setting('consent_warning_days', '14')::integer);
begin
  update public.open_banking_institution_logins l
     set authorization_start_at = p_start_at, authorization_end_at = p_end_at, consent_checked_at = now(),
         needs_reauth = p_end_at is not null and p_end_at < now() + make_interval(days => v_days)
   where l.id = p_login_id
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_institution_login_set_consent(bigint, timestamptz, timestamptz, integer) from public, anon, authenticated;
grant execute on function public.ob_institution_login_set_consent(bigint, timestamptz, timestamptz, integer) to service_role;

-- An OBWMS consent event for a login. Replay rule: applied only when its event time is not older
-- than the newest event already applied to the login, nor than the current consent's start (a
-- reminder about a consent since renewed is stale). Returns the row with `applied`, or null for an
-- unknown login. p_event_at null (operators) always applies.
create function public.ob_institution_login_flag_reauth(
  p_login_id bigint, p_needs_reauth boolean, p_message text default null, p_event_at timestamptz default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_institution_logins%rowtype;
begin
  update public.open_banking_institution_logins l
     set needs_reauth = p_needs_reauth, last_error_message = coalesce(p_message, l.last_error_message),
         last_event_at = greatest(l.last_event_at, p_event_at)
   where l.id = p_login_id
     and (p_event_at is null
          or (p_event_at >= coalesce(l.last_event_at, '-infinity')
              and p_event_at >= coalesce(l.authorization_start_at, '-infinity')))
  returning * into v_row;
  if v_row.id is not null then
    return pg_catalog.to_jsonb(v_row) || '{"applied": true}'::jsonb;
  end if;
  select * into v_row from public.open_banking_institution_logins l where l.id = p_login_id;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) || '{"applied": false}'::jsonb end;
end
$$;
revoke all on function public.ob_institution_login_flag_reauth(bigint, boolean, text, timestamptz) from public, anon, authenticated;
grant execute on function public.ob_institution_login_flag_reauth(bigint, boolean, text, timestamptz) to service_role;

-- History (one historic load per login) -----------------------------------------------------------

-- After every sync of a customer: note each login's oldest transaction held, and queue one historic
-- load per login that has none yet (job `load_history`, once per login by its dedupe key and status).
create function public.ob_institution_logins_after_sync(p_finicity_customer_id text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_customer public.open_banking_customers := private.ob_customer_row(p_finicity_customer_id);
  v_queued integer := 0;
  v_login record;
begin
  update public.open_banking_institution_logins l
     set earliest_transaction_at = e.earliest
    from (select a.institution_login_id as login_id, min(t.effective_at) as earliest
            from public.open_banking_accounts a
            join public.open_banking_transactions t on t.account_id = a.id
           where a.customer_id = v_customer.id and a.institution_login_id is not null
           group by a.institution_login_id) e
   where l.id = e.login_id and l.earliest_transaction_at is distinct from e.earliest;
  for v_login in
    select l.id from public.open_banking_institution_logins l
     where l.customer_id = v_customer.id and l.history_status = 'not_started'
  loop
    perform private.ob_enqueue('load_history',
      pg_catalog.jsonb_build_object('institution_login_id', v_login.id, 'finicity_customer_id', p_finicity_customer_id),
      'history:' || v_login.id);
    v_queued := v_queued + 1;
  end loop;
  if v_queued > 0 then
    perform private.ob_wake('load_history');
  end if;
  return pg_catalog.jsonb_build_object('history_loads_queued', v_queued);
end
$$;
revoke all on function public.ob_institution_logins_after_sync(text) from public, anon, authenticated;
grant execute on function public.ob_institution_logins_after_sync(text) to service_role;

-- The end of a successful sync in one round trip: ob_customer_sync_finished, ob_institution_logins_after_sync
-- and, when the sync read accounts from the API (p_linked_at given: proof the link works, even if Connect's
-- `done` webhook was lost), ob_customer_set_link_status 'linked' at p_linked_at. Answers what
-- ob_institution_logins_after_sync answers.
create function public.ob_customer_sync_done(p_finicity_customer_id text, p_linked_at timestamptz default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_out jsonb;
begin
  perform public.ob_customer_sync_finished(p_finicity_customer_id);
  v_out := public.ob_institution_logins_after_sync(p_finicity_customer_id);
  if p_linked_at is not null then
    perform public.ob_customer_set_link_status(p_finicity_customer_id, 'linked', p_linked_at);
  end if;
  return v_out;
end
$$;
revoke all on function public.ob_customer_sync_done(text, timestamptz) from public, anon, authenticated;
grant execute on function public.ob_customer_sync_done(text, timestamptz) to service_role;

-- The `load_history` job takes the login: claimed when it may start the historic load (not started,
-- or taken by an earlier attempt that crashed before a refresh id came back, 5 minutes or more ago).
-- `starting`: another attempt took it moments ago and may be asking Mastercard right now; the caller
-- checks again later rather than start a second (billable) load.
create function public.ob_institution_login_history_claim(p_login_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_institution_logins%rowtype;
begin
  update public.open_banking_institution_logins l
     set history_status = 'loading', history_started_at = now(), history_error = null
   where l.id = p_login_id
     and (l.history_status = 'not_started'
          or (l.history_status = 'loading' and l.history_refresh_id is null
              and l.history_started_at < now() - interval '5 minutes'))
  returning * into v_row;
  if v_row.id is not null then
    return pg_catalog.jsonb_build_object('claimed', true, 'starting', false);
  end if;
  select * into v_row from public.open_banking_institution_logins l where l.id = p_login_id;
  return pg_catalog.jsonb_build_object(
    'claimed', false,
    'starting', coalesce(v_row.history_status = 'loading' and v_row.history_refresh_id is null, false));
end
$$;
revoke all on function public.ob_institution_login_history_claim(bigint) from public, anon, authenticated;
grant execute on function public.ob_institution_login_history_claim(bigint) to service_role;

-- The historic load was accepted (p_refresh_id) or refused at once (p_error: the 180 days stay).
create function public.ob_institution_login_history_started(
  p_login_id bigint, p_refresh_id uuid default null, p_error text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_institution_logins%rowtype;
begin
  update public.open_banking_institution_logins l
     set history_refresh_id = p_refresh_id,
         history_status = case when p_error is null then 'loading' else 'failed' end,
         history_error = left(p_error, 500),
         history_finished_at = case when p_error is null then null else now() end
   where l.id = p_login_id and l.history_status = 'loading' and l.history_refresh_id is null
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_institution_login_history_started(bigint, uuid, text) from public, anon, authenticated;
grant execute on function public.ob_institution_login_history_started(bigint, uuid, text) to service_role;

-- The historic load ended (COMPLETED or FAILED, from getTransactionRefreshStatus or the OBWMS event):
-- settle the login once; a completed load queues the sync of the older window.
create function public.ob_institution_login_history_settle(p_refresh_id uuid, p_status text, p_error text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_institution_logins%rowtype;
  v_finicity_customer_id text;
begin
  if p_status not in ('COMPLETED', 'FAILED') then
    raise exception 'not a final refresh status: %', p_status using errcode = '22023';
  end if;
  update public.open_banking_institution_logins l
     set history_status = case when p_status = 'COMPLETED' then 'complete' else 'failed' end,
         history_error = case when p_status = 'FAILED' then left(coalesce(p_error, 'The historic load failed.'), 500) end,
         history_finished_at = now()
   where l.history_refresh_id = p_refresh_id and l.history_status = 'loading'
  returning * into v_row;
  if v_row.id is null then
    return pg_catalog.jsonb_build_object('settled', false);
  end if;
  if p_status = 'COMPLETED' then
    select c.finicity_customer_id into v_finicity_customer_id
      from public.open_banking_customers c where c.id = v_row.customer_id;
    perform private.ob_enqueue('sync_customer',
      pg_catalog.jsonb_build_object('finicity_customer_id', v_finicity_customer_id,
                                    'history_login_ids', pg_catalog.jsonb_build_array(v_row.id)),
      'sync:' || v_finicity_customer_id);
    perform private.ob_wake('history_complete');
  end if;
  return pg_catalog.to_jsonb(v_row) || pg_catalog.jsonb_build_object('settled', true);
end
$$;
revoke all on function public.ob_institution_login_history_settle(uuid, text, text) from public, anon, authenticated;
grant execute on function public.ob_institution_login_history_settle(uuid, text, text) to service_role;
