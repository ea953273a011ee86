-- Per-bank changes a CPA asks for, one row each; the service carries them out at Mastercard and
-- then changes exactly the rows they name, in one transaction:
--   disconnect_login  DeleteCustomerAccountsByInstitutionLogin, then that login, its accounts and
--                     everything under them (transactions, balance history, annotations) go;
--   remove_account    DeleteCustomerAccount, then that one account and everything under it goes;
--   exclude_account   Mastercard confirms the account (GetCustomerAccounts), then syncs skip it: no
--                     transaction calls, no new rows, its balance stays as last read; the link stays;
--   include_account   the same confirmation, then the account syncs again (a sync is queued).
-- The client's other banks and accounts are not touched.

-- =================================================================================================
-- public.open_banking_account_requests
-- =================================================================================================

create table public.open_banking_account_requests (
  id                    uuid primary key default gen_random_uuid(),
  platform_client_id    uuid not null references public.clients (id) on delete cascade,
  requested_by          uuid references auth.users (id) on delete set null,
  action                text not null
                        check (action in ('disconnect_login', 'remove_account', 'exclude_account', 'include_account')),
  institution_login_id  bigint,
  account_id            text,
  status                text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed')),
  accounts_removed      integer,
  error_message         text,
  finished_at           timestamptz,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now(),
  constraint account_request_target check (
    case when action = 'disconnect_login' then institution_login_id is not null and account_id is null
         else account_id is not null and institution_login_id is null end)
);
create index open_banking_account_requests_client_idx
  on public.open_banking_account_requests (platform_client_id, created_at desc);
revoke all on public.open_banking_account_requests from public, anon, authenticated;
grant select on public.open_banking_account_requests to authenticated;
grant insert (platform_client_id, action, institution_login_id, account_id)
  on public.open_banking_account_requests to authenticated;
grant all on public.open_banking_account_requests to service_role;
alter table public.open_banking_account_requests enable row level security;
-- Live request rows: Supabase Realtime sends changes to each CPA under the table's RLS.
alter publication supabase_realtime add table public.open_banking_account_requests;
create policy "CPAs read their clients' account requests" on public.open_banking_account_requests
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));
create policy "CPAs request account changes for their own clients" on public.open_banking_account_requests
  for insert to authenticated
  with check (platform_client_id = any (array(select public.ob_accessible_clients())) and requested_by = (select auth.uid()));
-- What was removed at Mastercard stays removed here (private.ob_removed_at_mastercard).
create index open_banking_account_requests_removed_login_idx on public.open_banking_account_requests
  (institution_login_id) where action = 'disconnect_login' and status = 'succeeded';
create index open_banking_account_requests_removed_account_idx on public.open_banking_account_requests
  (account_id) where action = 'remove_account' and status = 'succeeded';
create trigger force_request_defaults before insert on public.open_banking_account_requests
  for each row execute function private.force_request_defaults();
create trigger set_updated_at before update on public.open_banking_account_requests
  for each row execute function private.set_updated_at();

-- Functions ----------------------------------------------------------------------------------------

-- The target must be this client's (read with the caller's rights: another CPA's login or account
-- is simply not found). A message the app can show as it is.
create function private.ob_account_request_check()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.action = 'disconnect_login' then
    if new.institution_login_id is not null and not exists (select 1 from public.open_banking_institution_logins l
                    where l.id = new.institution_login_id and l.platform_client_id = new.platform_client_id) then
      raise exception 'This client has no bank connection %.', new.institution_login_id
        using errcode = '23503', hint = 'Pick one of the client''s bank connections.';
    end if;
  elsif new.account_id is not null and not exists (select 1 from public.open_banking_accounts a
                     where a.id = new.account_id and a.platform_client_id = new.platform_client_id) then
    raise exception 'This client has no account %.', new.account_id
      using errcode = '23503', hint = 'Pick one of the client''s accounts.';
  end if;
  return new;
end
$$;
revoke all on function private.ob_account_request_check() from public, anon, authenticated;
create trigger account_request_check before insert on public.open_banking_account_requests
  for each row execute function private.ob_account_request_check();

create function private.ob_enqueue_account_request()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.ob_enqueue('account_request',
    pg_catalog.jsonb_build_object('account_request_id', new.id), 'account_request:' || new.id);
  perform private.ob_wake(tg_table_name);
  return null;
end
$$;
revoke all on function private.ob_enqueue_account_request() from public, anon, authenticated;
create trigger enqueue_job after insert on public.open_banking_account_requests
  for each row execute function private.ob_enqueue_account_request();

-- An account (or, with a null account id, a bank login) that a succeeded request removed at Mastercard.
-- Mastercard never reuses either id, so whatever still carries one is older than the removal: a sync
-- that listed the accounts just before it, a Connect `added` replayed after the dedupe window. The
-- writers of accounts and logins (ob_accounts_upsert, ob_institution_login_upsert, the webhook batch
-- apply) skip it. (A request row is purged after request_retention_days, 90 by default; a replay older
-- than that is the next sync's to undo.)
create function private.ob_removed_at_mastercard(p_account_id text, p_login_id bigint)
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (select 1 from public.open_banking_account_requests r
                  where r.action = 'disconnect_login' and r.status = 'succeeded' and r.institution_login_id = p_login_id)
      or exists (select 1 from public.open_banking_account_requests r
                  where r.action = 'remove_account' and r.status = 'succeeded' and r.account_id = p_account_id)
$$;
revoke all on function private.ob_removed_at_mastercard(text, bigint) from public, anon, authenticated;

-- The service: take the request (queued -> running) and learn what to call at Mastercard. A request
-- already finished comes back as it is, so a repeated job does nothing twice.
create function public.ob_account_request_begin(p_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_req public.open_banking_account_requests%rowtype;
begin
  update public.open_banking_account_requests r
     set status = 'running'
   where r.id = p_id and r.status in ('queued', 'running')
  returning * into v_req;
  if not found then
    select * into v_req from public.open_banking_account_requests r where r.id = p_id;
    if not found then
      return null;
    end if;
  end if;
  return pg_catalog.to_jsonb(v_req) || pg_catalog.jsonb_build_object('finicity_customer_id',
    (select c.finicity_customer_id from public.open_banking_customers c
      where c.platform_client_id = v_req.platform_client_id));
end
$$;

-- The service, after Mastercard confirmed (or with p_error when it said no for good): apply the
-- request to exactly the rows it names, and record the outcome, in one transaction.
create function public.ob_account_request_finish(p_id uuid, p_error text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_req public.open_banking_account_requests%rowtype;
  v_removed integer := 0;
begin
  select * into v_req from public.open_banking_account_requests r where r.id = p_id for update;
  if not found then
    raise exception 'unknown account request %', p_id using errcode = 'P0002';
  end if;
  if v_req.status in ('succeeded', 'failed') then
    return pg_catalog.jsonb_build_object('status', v_req.status, 'accounts_removed', v_req.accounts_removed);
  end if;
  if p_error is not null then
    update public.open_banking_account_requests r
       set status = 'failed', error_message = p_error, finished_at = now()
     where r.id = p_id;
    return pg_catalog.jsonb_build_object('status', 'failed', 'accounts_removed', null);
  end if;
  case v_req.action
    when 'disconnect_login' then
      delete from public.open_banking_accounts a
       where a.platform_client_id = v_req.platform_client_id and a.institution_login_id = v_req.institution_login_id;
      get diagnostics v_removed = row_count;
      delete from public.open_banking_institution_logins l
       where l.platform_client_id = v_req.platform_client_id and l.id = v_req.institution_login_id;
    when 'remove_account' then
      delete from public.open_banking_accounts a
       where a.platform_client_id = v_req.platform_client_id and a.id = v_req.account_id;
      get diagnostics v_removed = row_count;
    when 'exclude_account' then
      update public.open_banking_accounts a
         set sync_excluded = true, sync_excluded_at = coalesce(a.sync_excluded_at, now())
       where a.platform_client_id = v_req.platform_client_id and a.id = v_req.account_id;
    when 'include_account' then
      update public.open_banking_accounts a
         set sync_excluded = false, sync_excluded_at = null
       where a.platform_client_id = v_req.platform_client_id and a.id = v_req.account_id;
      perform private.ob_enqueue('sync_customer',
        pg_catalog.jsonb_build_object('platform_client_id', v_req.platform_client_id, 'reason', 'include_account'),
        'account_request_sync:' || v_req.id);
      perform private.ob_wake('include_account');
  end case;
  update public.open_banking_account_requests r
     set status = 'succeeded', accounts_removed = v_removed, error_message = null, finished_at = now()
   where r.id = p_id;
  return pg_catalog.jsonb_build_object('status', 'succeeded', 'accounts_removed', v_removed);
end
$$;

revoke all on function public.ob_account_request_begin(uuid) from public, anon, authenticated;
grant execute on function public.ob_account_request_begin(uuid) to service_role;
revoke all on function public.ob_account_request_finish(uuid, text) from public, anon, authenticated;
grant execute on function public.ob_account_request_finish(uuid, text) to service_role;
