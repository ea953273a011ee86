-- Accounts, transactions and daily balance snapshots. Written by the service, read by CPAs.
-- `source_fetched_at` is when the data was read from Mastercard: upserts only move it forward,
-- so a slow, older fetch can never overwrite what a newer one wrote.

-- =================================================================================================
-- public.open_banking_accounts
-- =================================================================================================

create table public.open_banking_accounts (
  id                       text primary key,              -- Finicity account id
  platform_client_id       uuid not null references public.clients (id) on delete cascade,
  customer_id              uuid not null references public.open_banking_customers (id) on delete cascade,
  institution_login_id     bigint,
  institution_id           text,
  institution_name         text,                          -- copied from open_banking_institutions
  name                     text,
  type                     text,
  status                   text,
  number_masked            text check (number_masked is null or number_masked ~ '^\*+[0-9A-Za-z]{0,4}$'),
  currency                 text not null default 'USD',
  balance                  numeric(19, 4),
  balance_date             timestamptz,
  last_updated_at          timestamptz,
  aggregation_status_code  integer,
  display_position         integer,
  -- The CPA excluded the account from syncing (open_banking_account_requests): syncs neither read
  -- its transactions nor update it; its rows stay as they were.
  sync_excluded            boolean not null default false,
  sync_excluded_at         timestamptz,
  source_fetched_at        timestamptz not null,
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now()
);
revoke all on public.open_banking_accounts from public, anon, authenticated;
grant select on public.open_banking_accounts to authenticated;
grant all on public.open_banking_accounts to service_role;

alter table public.open_banking_accounts enable row level security;
create policy "CPAs read their clients' accounts" on public.open_banking_accounts
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));

create index open_banking_accounts_client_idx on public.open_banking_accounts (platform_client_id);
create index open_banking_accounts_customer_idx on public.open_banking_accounts (customer_id);

create trigger set_updated_at before update on public.open_banking_accounts
  for each row execute function private.set_updated_at();

-- Functions ----------------------------------------------------------------------------------------

-- A page of accounts (already mapped by the service: masked numbers only, money as strings)
-- plus today's balance snapshot for each. Older fetches never overwrite newer ones. Accounts and logins
-- a CPA had removed at Mastercard are not written back (listed in `removed_at_mastercard`, when any:
-- the sync leaves them out; ..1800_account_requests.sql).
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
  v_removed text[];
begin
  select coalesce(pg_catalog.array_agg(a ->> 'id' order by a ->> 'id'), '{}') into v_removed
    from pg_catalog.jsonb_array_elements(p_accounts) a
   where private.ob_removed_at_mastercard(a ->> 'id', (a ->> 'institution_login_id')::bigint);

  insert into public.open_banking_institution_logins
         (id, platform_client_id, customer_id, institution_id, institution_name)
  select distinct (a ->> 'institution_login_id')::bigint, v_customer.platform_client_id, v_customer.id,
         a ->> 'institution_id',
         (select i.name from public.open_banking_institutions i where i.id = a ->> 'institution_id')
    from pg_catalog.jsonb_array_elements(p_accounts) a
   where a ->> 'institution_login_id' is not null
     and not private.ob_removed_at_mastercard(null, (a ->> 'institution_login_id')::bigint)
  on conflict (id) do nothing;

  with src as (
    select * from pg_catalog.jsonb_to_recordset(p_accounts) as r(
      id text, institution_login_id bigint, institution_id text, name text, type text, status text,
      number_masked text, currency text, balance numeric, balance_date timestamptz,
      last_updated_at timestamptz, aggregation_status_code integer, display_position integer)
     where r.id <> all (v_removed)
  ), written as (
    insert into public.open_banking_accounts as a
           (id, platform_client_id, customer_id, institution_login_id, institution_id, institution_name, name, type,
            status, number_masked, currency, balance, balance_date, last_updated_at, aggregation_status_code,
            display_position, source_fetched_at)
    select s.id, v_customer.platform_client_id, v_customer.id, s.institution_login_id, s.institution_id,
           (select i.name from public.open_banking_institutions i where i.id = s.institution_id), s.name, s.type,
           s.status, s.number_masked, coalesce(s.currency, 'USD'), s.balance, s.balance_date, s.last_updated_at,
           s.aggregation_status_code, s.display_position, p_fetched_at
      from src s
    on conflict (id) do update
       set institution_login_id = excluded.institution_login_id, institution_id = excluded.institution_id,
           institution_name = coalesce(excluded.institution_name, a.institution_name),
           name = excluded.name, type = excluded.type, status = excluded.status,
           number_masked = excluded.number_masked, currency = excluded.currency, balance = excluded.balance,
           balance_date = excluded.balance_date, last_updated_at = excluded.last_updated_at,
           aggregation_status_code = excluded.aggregation_status_code,
           display_position = excluded.display_position, source_fetched_at = excluded.source_fetched_at
     where a.customer_id = excluded.customer_id and a.source_fetched_at <= excluded.source_fetched_at
       and not a.sync_excluded
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
    'skipped', pg_catalog.jsonb_array_length(p_accounts) - v_written, 'snapshots', v_snapshots)
    || case when cardinality(v_removed) = 0 then '{}'::jsonb
            else pg_catalog.jsonb_build_object('removed_at_mastercard', v_removed) end;
end
$$;
revoke all on function public.ob_accounts_upsert(text, jsonb, timestamptz) from public, anon, authenticated;
grant execute on function public.ob_accounts_upsert(text, jsonb, timestamptz) to service_role;

-- The customer's named accounts (transactions and snapshots cascade). Replay rule: with p_event_at
-- (a Connect `accountsDeleted`), an account seen by a fetch newer than the event is kept: the event
-- is older than what we know (a replay, a late delivery). Without it (a sync that no longer lists
-- the account), the accounts go.
create function public.ob_accounts_delete(p_finicity_customer_id text, p_account_ids text[],
                                          p_event_at timestamptz default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_customer public.open_banking_customers := private.ob_customer_row(p_finicity_customer_id);
  v_deleted integer;
  v_kept integer;
begin
  delete from public.open_banking_accounts a
   where a.customer_id = v_customer.id and a.id = any (p_account_ids)
     and (p_event_at is null or a.source_fetched_at < p_event_at);
  get diagnostics v_deleted = row_count;
  delete from private.ob_transaction_quarantine q
   where q.account_id = any (p_account_ids)
     and not exists (select 1 from public.open_banking_accounts a where a.id = q.account_id);
  select count(*) into v_kept from public.open_banking_accounts a
   where a.customer_id = v_customer.id and a.id = any (p_account_ids);
  return pg_catalog.jsonb_build_object('deleted', v_deleted, 'kept_newer', v_kept);
end
$$;
revoke all on function public.ob_accounts_delete(text, text[], timestamptz) from public, anon, authenticated;
grant execute on function public.ob_accounts_delete(text, text[], timestamptz) to service_role;

-- =================================================================================================
-- private.ob_transaction_quarantine
-- Transaction rows Mastercard sent that do not match the spec (a null status, an amount that is not a
-- number): kept, not dropped in silence, so an operator sees them (`status`, `jobs list`). The raw row is
-- stored with account numbers masked. A later sync that parses the row removes it (ob_transactions_upsert).
-- Service-only: the CPA never reads it.
-- =================================================================================================

create table private.ob_transaction_quarantine (
  -- No foreign key to the account: client deletion (private.ob_forget_client) orders tables by how many
  -- foreign keys point at them, and one more at accounts would put them after customers. Rows go with
  -- their client (platform_client_id), with their account (ob_accounts_delete), or when they parse.
  account_id          text not null,
  platform_client_id  uuid not null references public.clients (id) on delete cascade,
  row_key             text not null,      -- the transaction id, or a hash of the row when it has none
  transaction_id      bigint,
  raw                 jsonb not null,     -- the row as sent, account numbers masked
  reason              text not null,      -- where it failed, never the values
  read_from           timestamptz not null, -- syncs read back to here until the row parses (ob_sync_cursor)
  seen_count          integer not null default 1,
  first_seen_at       timestamptz not null,
  last_seen_at        timestamptz not null,
  primary key (account_id, row_key)
);
revoke all on private.ob_transaction_quarantine from public, anon, authenticated;
grant all on private.ob_transaction_quarantine to service_role;
create index ob_transaction_quarantine_client_idx on private.ob_transaction_quarantine (platform_client_id);

-- Functions ----------------------------------------------------------------------------------------

-- For operators (`jobs list`): how many rows are held, for how many accounts, and the latest few.
create function public.ob_transaction_quarantine_summary(p_limit integer default 10)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'rows', (select count(*) from private.ob_transaction_quarantine),
    'accounts', (select count(distinct q.account_id) from private.ob_transaction_quarantine q),
    'latest', coalesce((select pg_catalog.jsonb_agg(x order by x.last_seen_at desc) from (
        select q.account_id, q.platform_client_id, q.transaction_id, q.reason, q.seen_count, q.first_seen_at,
               q.last_seen_at
          from private.ob_transaction_quarantine q
         order by q.last_seen_at desc limit greatest(p_limit, 0)) x), '[]'::jsonb))
$$;
revoke all on function public.ob_transaction_quarantine_summary(integer) from public, anon, authenticated;
grant execute on function public.ob_transaction_quarantine_summary(integer) to service_role;

-- =================================================================================================
-- public.open_banking_transactions
-- =================================================================================================

create table public.open_banking_transactions (
  -- Mastercard's transaction ids are unique per account only ("use the transaction ID along with an
  -- accountId"), so the key is (account_id, id).
  account_id           text not null references public.open_banking_accounts (id) on delete cascade,
  id                   bigint not null,                     -- Finicity transaction id
  unique_transaction_id text,                               -- "accountId-transactionId", when Mastercard sends it
  platform_client_id   uuid not null references public.clients (id) on delete cascade,
  amount               numeric(19, 4) not null,
  description          text,
  memo                 text,
  status               text not null check (status in ('pending', 'posted')),
  transaction_at       timestamptz,
  posted_at            timestamptz,
  -- The date the app sorts on: postedDate for posted rows, transactionDate for pending ones. (Which date
  -- Mastercard's range filter uses is not documented; reconcile looks at both dates, never at this one alone.)
  effective_at         timestamptz generated always as (coalesce(posted_at, transaction_at)) stored,
  category             text,
  payee                text,
  check_number         text,
  type                 text,
  source_fetched_at    timestamptz not null,
  created_at           timestamptz not null default statement_timestamp(),
  updated_at           timestamptz not null default statement_timestamp(),
  primary key (account_id, id)
);
revoke all on public.open_banking_transactions from public, anon, authenticated;
grant select on public.open_banking_transactions to authenticated;
grant all on public.open_banking_transactions to service_role;

alter table public.open_banking_transactions enable row level security;
create policy "CPAs read their clients' transactions" on public.open_banking_transactions
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));

create index open_banking_transactions_account_date_idx
  on public.open_banking_transactions (account_id, effective_at desc, id desc);
-- The React app's reads (bench/readpath.py): one client's newest first, a month, the count (index
-- only), and, with the tenancy array of the policy, every client of a CPA.
create index open_banking_transactions_client_date_idx
  on public.open_banking_transactions (platform_client_id, effective_at desc, id desc);
-- "Latest across all my clients": walked newest first, keeping the caller's clients, it stops
-- after the first page instead of sorting every row of every client the CPA has.
create index open_banking_transactions_date_idx on public.open_banking_transactions (effective_at desc, id desc);

-- Functions ----------------------------------------------------------------------------------------

-- One page (up to 1,000 mapped rows) in one statement. `shadow` rows are removed, never stored.
-- Every row the page holds gets this fetch's time (so reconcile knows it was seen), but only
-- rows whose values changed count as `written` and get a new updated_at. Rows of the page that did not
-- parse (p_rejected: {row_key, transaction_id, raw (masked), reason}) go to the quarantine; a row that
-- parses now leaves it.
create function public.ob_transactions_upsert(
  p_account_id text, p_transactions jsonb, p_fetched_at timestamptz, p_rejected jsonb default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_client uuid;
  v_excluded boolean;
  v_written integer;
  v_removed integer := 0;
  v_released integer := 0;
begin
  select a.platform_client_id, a.sync_excluded into v_client, v_excluded
    from public.open_banking_accounts a where a.id = p_account_id;
  if v_client is null then
    raise exception 'unknown account %', p_account_id using errcode = 'P0002';
  end if;
  if v_excluded then  -- the CPA excluded this account from syncing: nothing new is stored
    return pg_catalog.jsonb_build_object('received', pg_catalog.jsonb_array_length(p_transactions),
                                         'written', 0, 'removed', 0, 'excluded', true);
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
           (id, account_id, unique_transaction_id, platform_client_id, amount, description, memo, status,
            transaction_at, posted_at, category, payee, check_number, type, source_fetched_at)
    select s.id, p_account_id, s.unique_transaction_id, v_client, s.amount, s.description, s.memo, s.status,
           s.transaction_at, s.posted_at, s.category, s.payee, s.check_number, s.type, p_fetched_at
      from pg_catalog.jsonb_to_recordset(p_transactions) as s(
             id bigint, unique_transaction_id text, amount numeric, description text, memo text, status text,
             transaction_at timestamptz, posted_at timestamptz, category text, payee text, check_number text,
             type text)
     where s.status in ('pending', 'posted')
    on conflict (account_id, id) do update
       set unique_transaction_id = excluded.unique_transaction_id,
           amount = excluded.amount, description = excluded.description, memo = excluded.memo,
           status = excluded.status, transaction_at = excluded.transaction_at, posted_at = excluded.posted_at,
           category = excluded.category, payee = excluded.payee, check_number = excluded.check_number,
           type = excluded.type, source_fetched_at = excluded.source_fetched_at,
           updated_at = case
             when (t.amount, t.description, t.memo, t.status, t.transaction_at, t.posted_at, t.category, t.payee,
                   t.check_number, t.type, t.unique_transaction_id)
                  is distinct from
                  (excluded.amount, excluded.description, excluded.memo, excluded.status, excluded.transaction_at,
                   excluded.posted_at, excluded.category, excluded.payee, excluded.check_number, excluded.type,
                   excluded.unique_transaction_id)
             then pg_catalog.statement_timestamp() else t.updated_at end
     where t.source_fetched_at <= excluded.source_fetched_at
    returning t.updated_at = pg_catalog.statement_timestamp() as changed
  )
  select count(*) filter (where changed) into v_written from written;

  -- Rows quarantined earlier that parse now (or are shadows now) leave the quarantine.
  if exists (select 1 from private.ob_transaction_quarantine q where q.account_id = p_account_id) then
    delete from private.ob_transaction_quarantine q
     where q.account_id = p_account_id
       and q.row_key in (select e ->> 'id' from pg_catalog.jsonb_array_elements(p_transactions) e);
    get diagnostics v_released = row_count;
  end if;
  if p_rejected is not null and pg_catalog.jsonb_array_length(p_rejected) > 0 then
    insert into private.ob_transaction_quarantine as q
           (account_id, platform_client_id, row_key, transaction_id, raw, reason, read_from, first_seen_at, last_seen_at)
    select p_account_id, v_client, r.row_key, r.transaction_id, r.raw, pg_catalog.left(r.reason, 300),
           coalesce(r.read_from, p_fetched_at), p_fetched_at, p_fetched_at
      from pg_catalog.jsonb_to_recordset(p_rejected)
             as r(row_key text, transaction_id bigint, raw jsonb, reason text, read_from timestamptz)
    on conflict (account_id, row_key) do update
       set raw = excluded.raw, reason = excluded.reason, seen_count = q.seen_count + 1,
           read_from = least(q.read_from, excluded.read_from),
           last_seen_at = greatest(q.last_seen_at, excluded.last_seen_at);
  end if;
  return pg_catalog.jsonb_build_object('received', pg_catalog.jsonb_array_length(p_transactions),
                                       'written', v_written, 'removed', v_removed,
                                       'quarantined', coalesce(pg_catalog.jsonb_array_length(p_rejected), 0),
                                       'released', v_released);
end
$$;
revoke all on function public.ob_transactions_upsert(text, jsonb, timestamptz, jsonb) from public, anon, authenticated;
grant execute on function public.ob_transactions_upsert(text, jsonb, timestamptz, jsonb) to service_role;

-- After every page of [p_from, p_to] was read in a run that started at p_run_started_at: rows the run
-- did not see are gone at the bank (a pending row that posted under a new id, a shadow row), but only
-- where the API must have returned them. The spec does not say which date its range filter uses, so a
-- row is removed only when every date it could have filtered on (transaction and posted date) lies in
-- the window: a row transacted before p_from and posted inside it may simply not have been asked for.
-- Rows written by a newer run are newer than p_run_started_at and stay.
create function public.ob_transactions_reconcile(
  p_account_id text, p_from timestamptz, p_to timestamptz, p_run_started_at timestamptz)
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
     and t.effective_at >= p_from and t.effective_at <= p_to   -- the index range; the two lines below decide
     and (t.transaction_at is null or (t.transaction_at >= p_from and t.transaction_at <= p_to))
     and (t.posted_at is null or (t.posted_at >= p_from and t.posted_at <= p_to))
     and t.source_fetched_at < p_run_started_at;
  get diagnostics v_removed = row_count;
  return pg_catalog.jsonb_build_object('removed', v_removed);
end
$$;
revoke all on function public.ob_transactions_reconcile(text, timestamptz, timestamptz, timestamptz) from public, anon, authenticated;
grant execute on function public.ob_transactions_reconcile(text, timestamptz, timestamptz, timestamptz) to service_role;

-- A customer-level page (v3, every account of the customer) in one round trip and one transaction: each
-- account's share of it is one ob_transactions_upsert, in account id order. p_accounts:
-- [{account_id, transactions, rejected?}]. Answers {account_id: what ob_transactions_upsert answered}.
create function public.ob_transactions_upsert_accounts(p_accounts jsonb, p_fetched_at timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_item jsonb;
  v_out jsonb := '{}'::jsonb;
begin
  for v_item in
    select e from pg_catalog.jsonb_array_elements(p_accounts) e order by e ->> 'account_id'
  loop
    v_out := v_out || pg_catalog.jsonb_build_object(v_item ->> 'account_id', public.ob_transactions_upsert(
      v_item ->> 'account_id', coalesce(v_item -> 'transactions', '[]'::jsonb), p_fetched_at, v_item -> 'rejected'));
  end loop;
  return v_out;
end
$$;
revoke all on function public.ob_transactions_upsert_accounts(jsonb, timestamptz) from public, anon, authenticated;
grant execute on function public.ob_transactions_upsert_accounts(jsonb, timestamptz) to service_role;

-- ob_transactions_reconcile for several accounts read over the same window (a customer-level read), in
-- one round trip. Answers {removed: total, accounts: {account_id: removed}}.
create function public.ob_transactions_reconcile_accounts(
  p_account_ids text[], p_from timestamptz, p_to timestamptz, p_run_started_at timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account text;
  v_removed integer;
  v_total integer := 0;
  v_by jsonb := '{}'::jsonb;
begin
  foreach v_account in array (select array(select distinct a from pg_catalog.unnest(p_account_ids) a order by a))
  loop
    v_removed := (public.ob_transactions_reconcile(v_account, p_from, p_to, p_run_started_at) ->> 'removed')::integer;
    v_total := v_total + v_removed;
    v_by := v_by || pg_catalog.jsonb_build_object(v_account, v_removed);
  end loop;
  return pg_catalog.jsonb_build_object('removed', v_total, 'accounts', v_by);
end
$$;
revoke all on function public.ob_transactions_reconcile_accounts(text[], timestamptz, timestamptz, timestamptz) from public, anon, authenticated;
grant execute on function public.ob_transactions_reconcile_accounts(text[], timestamptz, timestamptz, timestamptz) to service_role;

-- Where each account's next sync should start: the last posted date minus the overlap, the oldest pending
-- row, the earliest transaction date of a row posted within the overlap, or the oldest quarantined row,
-- whichever is earliest; null for a first backfill. The last one keeps every row that may still change (late shadows) wholly inside
-- the next window, so reconcile may remove it whichever date the API filters on.
create function public.ob_sync_cursor(p_finicity_customer_id text, p_overlap_days integer default 10)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'account_id', a.id,
           'sync_excluded', a.sync_excluded,
           'last_posted_at', l.last_posted_at,
           'oldest_pending_at', (select min(t.transaction_at) from public.open_banking_transactions t
                                  where t.account_id = a.id and t.status = 'pending'),
           'earliest_recent_at', (select min(least(t.transaction_at, t.posted_at))
                                    from public.open_banking_transactions t
                                   where t.account_id = a.id and t.status = 'posted'
                                     and t.effective_at >= l.last_posted_at
                                                           - pg_catalog.make_interval(days => p_overlap_days)),
           'quarantined_from', (select min(q.read_from) from private.ob_transaction_quarantine q
                                 where q.account_id = a.id))
         order by a.id), '[]'::jsonb)
    from public.open_banking_accounts a
    join public.open_banking_customers c on c.id = a.customer_id
    cross join lateral (select max(t.posted_at) as last_posted_at from public.open_banking_transactions t
                         where t.account_id = a.id and t.status = 'posted') l
   where c.finicity_customer_id = p_finicity_customer_id
$$;
revoke all on function public.ob_sync_cursor(text, integer) from public, anon, authenticated;
grant execute on function public.ob_sync_cursor(text, integer) to service_role;

-- =================================================================================================
-- public.open_banking_balance_snapshots
-- One row per account and day (written by ob_accounts_upsert).
-- =================================================================================================

create table public.open_banking_balance_snapshots (
  account_id          text not null references public.open_banking_accounts (id) on delete cascade,
  snapshot_date       date not null,
  platform_client_id  uuid not null references public.clients (id) on delete cascade,
  balance             numeric(19, 4),
  currency            text not null default 'USD',
  captured_at         timestamptz not null,
  primary key (account_id, snapshot_date)
);
revoke all on public.open_banking_balance_snapshots from public, anon, authenticated;
grant select on public.open_banking_balance_snapshots to authenticated;
grant all on public.open_banking_balance_snapshots to service_role;

alter table public.open_banking_balance_snapshots enable row level security;
create policy "CPAs read their clients' balance history" on public.open_banking_balance_snapshots
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));

create index open_banking_balance_snapshots_client_idx on public.open_banking_balance_snapshots (platform_client_id);
