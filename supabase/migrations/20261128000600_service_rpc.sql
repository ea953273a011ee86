-- The service's write boundary: one Postgres function per unit of work, called over RPC as
-- service_role (supabase-py .rpc() or psycopg). Each takes and returns jsonb-friendly values and
-- runs in one transaction, so a page of 1,000 transactions lands whole or not at all.

alter table public.open_banking_customers add column link_status_at timestamptz;

-- Partner token cache ----------------------------------------------------------------------------

create function public.ob_partner_token_get()
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select case when t.token_ciphertext is null then null
              else pg_catalog.jsonb_build_object('token_ciphertext', t.token_ciphertext, 'expires_at', t.expires_at)
         end
    from private.ob_partner_tokens t where t.id = 1
$$;

-- One refresh per database: hands back a token that is still good (someone refreshed already), or
-- grants a short lease to refresh, or tells the caller to wait. p_stale_ciphertext names a token
-- the API just rejected, so it is never handed back as good.
create function public.ob_partner_token_begin_refresh(
  p_holder text, p_lease_seconds integer default 30, p_min_valid_seconds integer default 900,
  p_stale_ciphertext text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  t private.ob_partner_tokens%rowtype;
begin
  -- The single row may have been deleted (an operator clearing the cache): bring it back first,
  -- so the lock below always has a row to hold and one refresher wins.
  insert into private.ob_partner_tokens (id) values (1) on conflict (id) do nothing;
  select * into t from private.ob_partner_tokens where id = 1 for update;
  if t.token_ciphertext is not null
     and t.token_ciphertext is distinct from p_stale_ciphertext
     and t.expires_at > now() + make_interval(secs => p_min_valid_seconds) then
    return pg_catalog.jsonb_build_object('granted', false, 'token_ciphertext', t.token_ciphertext,
                                         'expires_at', t.expires_at);
  end if;
  if t.refresh_holder is null or t.refresh_lease_until < now() or t.refresh_holder = p_holder then
    update private.ob_partner_tokens
       set refresh_holder = p_holder, refresh_lease_until = now() + make_interval(secs => p_lease_seconds)
     where id = 1;
    return pg_catalog.jsonb_build_object('granted', true, 'token_ciphertext', null, 'expires_at', null);
  end if;
  return pg_catalog.jsonb_build_object('granted', false, 'token_ciphertext', null, 'expires_at', null);
end
$$;

create function public.ob_partner_token_put(p_holder text, p_token_ciphertext text, p_expires_at timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.ob_partner_tokens (id) values (1) on conflict (id) do nothing;
  update private.ob_partner_tokens
     set token_ciphertext = p_token_ciphertext, expires_at = p_expires_at, refreshed_at = now(),
         refresh_count = refresh_count + 1,
         refresh_holder = case when refresh_holder = p_holder then null else refresh_holder end,
         refresh_lease_until = case when refresh_holder = p_holder then null else refresh_lease_until end
   where id = 1;
  return pg_catalog.jsonb_build_object('stored', true);
end
$$;

-- Customers --------------------------------------------------------------------------------------

create function public.ob_customer_upsert(
  p_platform_client_id uuid, p_username text, p_customer_type text, p_finicity_customer_id text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_customers%rowtype;
begin
  insert into public.open_banking_customers as c
         (platform_client_id, finicity_username, customer_type, finicity_customer_id, link_status_at)
  values (p_platform_client_id, p_username, p_customer_type, p_finicity_customer_id, now())
  on conflict (platform_client_id) do update
     set finicity_customer_id = coalesce(c.finicity_customer_id, excluded.finicity_customer_id)
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;

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

-- Bank-link requests -----------------------------------------------------------------------------

create function public.ob_link_request_get(p_id uuid)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.to_jsonb(e) || pg_catalog.jsonb_build_object('client_name', cl.name)
    from public.open_banking_link_requests e
    join public.clients cl on cl.id = e.platform_client_id
   where e.id = p_id
$$;

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

-- Institution logins -----------------------------------------------------------------------------

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
  insert into public.open_banking_institution_logins as l
         (id, platform_client_id, customer_id, institution_id, institution_name, oauth, status,
          aggregation_status_code, last_error_message)
  values ((p_login ->> 'id')::bigint, v_customer.platform_client_id, v_customer.id,
          p_login ->> 'institution_id', p_login ->> 'institution_name',
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

create function public.ob_institution_login_flag_reauth(p_login_id bigint, p_needs_reauth boolean, p_message text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_institution_logins%rowtype;
begin
  update public.open_banking_institution_logins l
     set needs_reauth = p_needs_reauth, last_error_message = coalesce(p_message, l.last_error_message)
   where l.id = p_login_id
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;

-- Accounts ---------------------------------------------------------------------------------------

-- A page of accounts (already mapped by the service: masked numbers only, money as strings)
-- plus today's balance snapshot for each. Older fetches never overwrite newer ones.
create function public.ob_accounts_upsert(p_finicity_customer_id text, p_accounts jsonb, p_fetched_at timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_customer public.open_banking_customers := private.ob_customer_row(p_finicity_customer_id);
  v_written integer;
  v_snapshots integer;
begin
  insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, institution_id)
  select distinct (a ->> 'institution_login_id')::bigint, v_customer.platform_client_id, v_customer.id,
         a ->> 'institution_id'
    from pg_catalog.jsonb_array_elements(p_accounts) a
   where a ->> 'institution_login_id' is not null
  on conflict (id) do nothing;

  with src as (
    select * from pg_catalog.jsonb_to_recordset(p_accounts) as r(
      id text, institution_login_id bigint, institution_id text, name text, type text, status text,
      number_masked text, currency text, balance numeric, balance_date timestamptz,
      last_updated_at timestamptz, aggregation_status_code integer, display_position integer)
  ), written as (
    insert into public.open_banking_accounts as a
           (id, platform_client_id, customer_id, institution_login_id, institution_id, name, type, status,
            number_masked, currency, balance, balance_date, last_updated_at, aggregation_status_code,
            display_position, source_fetched_at)
    select s.id, v_customer.platform_client_id, v_customer.id, s.institution_login_id, s.institution_id,
           s.name, s.type, s.status, s.number_masked, coalesce(s.currency, 'USD'), s.balance, s.balance_date,
           s.last_updated_at, s.aggregation_status_code, s.display_position, p_fetched_at
      from src s
    on conflict (id) do update
       set institution_login_id = excluded.institution_login_id, institution_id = excluded.institution_id,
           name = excluded.name, type = excluded.type, status = excluded.status,
           number_masked = excluded.number_masked, currency = excluded.currency, balance = excluded.balance,
           balance_date = excluded.balance_date, last_updated_at = excluded.last_updated_at,
           aggregation_status_code = excluded.aggregation_status_code,
           display_position = excluded.display_position, source_fetched_at = excluded.source_fetched_at
     where a.customer_id = excluded.customer_id and a.source_fetched_at <= excluded.source_fetched_at
    returning a.id, a.balance, a.currency, a.platform_client_id
  ), snap as (
    insert into public.open_banking_balance_snapshots as b
           (account_id, snapshot_date, platform_client_id, balance, currency, captured_at)
    select w.id, (p_fetched_at at time zone 'UTC')::date, w.platform_client_id, w.balance, w.currency, p_fetched_at
      from written w
    on conflict (account_id, snapshot_date) do update
       set balance = excluded.balance, currency = excluded.currency, captured_at = excluded.captured_at
     where b.captured_at <= excluded.captured_at
    returning 1
  )
  select (select count(*) from written), (select count(*) from snap) into v_written, v_snapshots;
  return pg_catalog.jsonb_build_object('written', v_written,
    'skipped', pg_catalog.jsonb_array_length(p_accounts) - v_written, 'snapshots', v_snapshots);
end
$$;

create function public.ob_accounts_delete(p_finicity_customer_id text, p_account_ids text[])
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_customer public.open_banking_customers := private.ob_customer_row(p_finicity_customer_id);
  v_deleted integer;
begin
  delete from public.open_banking_accounts a where a.customer_id = v_customer.id and a.id = any (p_account_ids);
  get diagnostics v_deleted = row_count;
  return pg_catalog.jsonb_build_object('deleted', v_deleted);
end
$$;

-- Transactions -----------------------------------------------------------------------------------

-- One page (up to 1,000 mapped rows) in one statement. `shadow` rows are removed, never stored.
-- Every row the page holds gets this fetch's time (so reconcile knows it was seen), but only
-- rows whose values changed count as `written` and get a new updated_at.
create function public.ob_transactions_upsert(p_account_id text, p_transactions jsonb, p_fetched_at timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_client uuid;
  v_seen integer;
  v_written integer;
  v_removed integer := 0;
begin
  select a.platform_client_id into v_client from public.open_banking_accounts a where a.id = p_account_id;
  if v_client is null then
    raise exception 'unknown account %', p_account_id using errcode = 'P0002';
  end if;

  if p_transactions @? '$[*] ? (@.status == "shadow")' then
    delete from public.open_banking_transactions t
     where t.account_id = p_account_id and t.source_fetched_at <= p_fetched_at
       and t.id in (select (e ->> 'id')::bigint from pg_catalog.jsonb_array_elements(p_transactions) e
                     where e ->> 'status' = 'shadow');
    get diagnostics v_removed = row_count;
  end if;

  with written as (
    insert into public.open_banking_transactions as t
           (id, account_id, platform_client_id, amount, description, memo, status, transaction_at, posted_at,
            category, payee, check_number, type, source_fetched_at)
    select s.id, p_account_id, v_client, s.amount, s.description, s.memo, s.status, s.transaction_at,
           s.posted_at, s.category, s.payee, s.check_number, s.type, p_fetched_at
      from pg_catalog.jsonb_to_recordset(p_transactions) as s(
             id bigint, amount numeric, description text, memo text, status text, transaction_at timestamptz,
             posted_at timestamptz, category text, payee text, check_number text, type text)
     where s.status in ('pending', 'posted')
    on conflict (id) do update
       set amount = excluded.amount, description = excluded.description, memo = excluded.memo,
           status = excluded.status, transaction_at = excluded.transaction_at, posted_at = excluded.posted_at,
           category = excluded.category, payee = excluded.payee, check_number = excluded.check_number,
           type = excluded.type, source_fetched_at = excluded.source_fetched_at,
           updated_at = case
             when (t.amount, t.description, t.memo, t.status, t.transaction_at, t.posted_at, t.category, t.payee,
                   t.check_number, t.type)
                  is distinct from
                  (excluded.amount, excluded.description, excluded.memo, excluded.status, excluded.transaction_at,
                   excluded.posted_at, excluded.category, excluded.payee, excluded.check_number, excluded.type)
             then pg_catalog.statement_timestamp() else t.updated_at end
     where t.account_id = excluded.account_id and t.source_fetched_at <= excluded.source_fetched_at
    returning t.updated_at = pg_catalog.statement_timestamp() as changed
  )
  select count(*), count(*) filter (where changed) into v_seen, v_written from written;
  return pg_catalog.jsonb_build_object('received', pg_catalog.jsonb_array_length(p_transactions),
                                       'written', v_written, 'removed', v_removed);
end
$$;

-- After every page of [p_from, p_to] was read in a run that started at p_run_started_at: rows in
-- that range the run did not see are gone at the bank (a pending row that posted under a new id,
-- a shadow row). Rows written by a newer run are newer than p_run_started_at and stay.
create function public.ob_transactions_reconcile(
  p_account_id text, p_from timestamptz, p_to timestamptz, p_run_started_at timestamptz, p_seen_ids bigint[] default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_removed integer;
begin
  delete from public.open_banking_transactions t
   where t.account_id = p_account_id
     and t.effective_at >= p_from and t.effective_at <= p_to
     and t.source_fetched_at < p_run_started_at
     and (p_seen_ids is null or not (t.id = any (p_seen_ids)));
  get diagnostics v_removed = row_count;
  return pg_catalog.jsonb_build_object('removed', v_removed);
end
$$;

-- Where each account's next sync should start: the last posted date (minus the caller's overlap)
-- or the oldest pending row, whichever is earlier; null for a first backfill.
create function public.ob_sync_cursor(p_finicity_customer_id text)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'account_id', a.id,
           'last_posted_at', (select max(t.posted_at) from public.open_banking_transactions t
                               where t.account_id = a.id and t.status = 'posted'),
           'oldest_pending_at', (select min(t.transaction_at) from public.open_banking_transactions t
                                  where t.account_id = a.id and t.status = 'pending'))
         order by a.id), '[]'::jsonb)
    from public.open_banking_accounts a
    join public.open_banking_customers c on c.id = a.customer_id
   where c.finicity_customer_id = p_finicity_customer_id
$$;

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

-- Webhook inbox ----------------------------------------------------------------------------------

-- Store a verified event and its processing job in one transaction; a repeat is a no-op.
create function public.ob_webhook_event_ingest(
  p_source text, p_message_id text, p_event_type text, p_finicity_customer_id text,
  p_headers jsonb, p_payload jsonb, p_verified boolean default true)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id bigint;
  v_job jsonb;
begin
  if not p_verified then
    raise exception 'refusing to store an unverified webhook event' using errcode = '22023';
  end if;
  insert into private.ob_webhook_events (source, message_id, event_type, finicity_customer_id, headers, payload, verified)
  values (p_source, p_message_id, p_event_type, p_finicity_customer_id, coalesce(p_headers, '{}'), p_payload, p_verified)
  on conflict (source, message_id) do nothing
  returning id into v_id;
  if v_id is null then
    select e.id into v_id from private.ob_webhook_events e where e.source = p_source and e.message_id = p_message_id;
    return pg_catalog.jsonb_build_object('stored', false, 'event_id', v_id, 'job_id', null);
  end if;
  v_job := private.ob_enqueue('process_webhook_event', pg_catalog.jsonb_build_object('event_id', v_id),
                              'webhook_event:' || v_id);
  perform private.ob_wake('webhook');
  return pg_catalog.jsonb_build_object('stored', true, 'event_id', v_id, 'job_id', v_job -> 'id');
end
$$;

create function public.ob_webhook_event_get(p_event_id bigint)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.to_jsonb(e) from private.ob_webhook_events e where e.id = p_event_id
$$;

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

-- API-call audit (no ids, tokens or account numbers: path templates only).
create function public.ob_api_calls_log(p_calls jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  insert into private.ob_api_calls (called_at, method, path_template, status, duration_ms, finicity_code, job_id)
  select coalesce(r.called_at, now()), r.method, r.path_template, r.status, r.duration_ms, r.finicity_code, r.job_id
    from pg_catalog.jsonb_to_recordset(p_calls) as r(called_at timestamptz, method text, path_template text,
         status integer, duration_ms integer, finicity_code text, job_id bigint);
  get diagnostics v_n = row_count;
  return pg_catalog.jsonb_build_object('logged', v_n);
end
$$;

-- EXECUTE for service_role only, on every ob_* function this migration made.
do $grants$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_catalog.pg_proc p
     where p.pronamespace = 'public'::regnamespace and p.proname like 'ob\_%'
       and p.proname <> 'ob_can_access_client'
  loop
    execute format('revoke all on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$grants$;
revoke all on function private.ob_customer_row(text) from public, anon, authenticated;
