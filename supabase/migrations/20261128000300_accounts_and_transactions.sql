-- Accounts, transactions and daily balance snapshots. Written by the service, read by CPAs.
-- `source_fetched_at` is when the data was read from Mastercard: upserts only move it forward,
-- so a slow, older fetch can never overwrite what a newer one wrote.

create table public.open_banking_accounts (
  id                       text primary key,              -- Finicity account id
  platform_client_id       uuid not null references public.clients (id) on delete cascade,
  customer_id              uuid not null references public.open_banking_customers (id) on delete cascade,
  institution_login_id     bigint,
  institution_id           text,
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
  source_fetched_at        timestamptz not null,
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now()
);
create index open_banking_accounts_client_idx on public.open_banking_accounts (platform_client_id);
create index open_banking_accounts_customer_idx on public.open_banking_accounts (customer_id);
revoke all on public.open_banking_accounts from anon, authenticated;
grant select on public.open_banking_accounts to authenticated;
grant all on public.open_banking_accounts to service_role;
alter table public.open_banking_accounts enable row level security;
create policy "CPAs read their clients' accounts" on public.open_banking_accounts
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));
create trigger set_updated_at before update on public.open_banking_accounts
  for each row execute function private.set_updated_at();

create table public.open_banking_transactions (
  id                   bigint primary key,                  -- Finicity transaction id
  account_id           text not null references public.open_banking_accounts (id) on delete cascade,
  platform_client_id   uuid not null references public.clients (id) on delete cascade,
  amount               numeric(19, 4) not null,
  description          text,
  memo                 text,
  status               text not null check (status in ('pending', 'posted')),
  transaction_at       timestamptz,
  posted_at            timestamptz,
  -- The date Mastercard filters on: postedDate for posted rows, transactionDate for pending ones.
  effective_at         timestamptz generated always as (coalesce(posted_at, transaction_at)) stored,
  category             text,
  payee                text,
  check_number         text,
  type                 text,
  source_fetched_at    timestamptz not null,
  created_at           timestamptz not null default statement_timestamp(),
  updated_at           timestamptz not null default statement_timestamp()
);
create index open_banking_transactions_account_date_idx
  on public.open_banking_transactions (account_id, effective_at desc, id desc);
create index open_banking_transactions_client_idx on public.open_banking_transactions (platform_client_id);
revoke all on public.open_banking_transactions from anon, authenticated;
grant select on public.open_banking_transactions to authenticated;
grant all on public.open_banking_transactions to service_role;
alter table public.open_banking_transactions enable row level security;
create policy "CPAs read their clients' transactions" on public.open_banking_transactions
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));

create table public.open_banking_balance_snapshots (
  account_id          text not null references public.open_banking_accounts (id) on delete cascade,
  snapshot_date       date not null,
  platform_client_id  uuid not null references public.clients (id) on delete cascade,
  balance             numeric(19, 4),
  currency            text not null default 'USD',
  captured_at         timestamptz not null,
  primary key (account_id, snapshot_date)
);
create index open_banking_balance_snapshots_client_idx on public.open_banking_balance_snapshots (platform_client_id);
revoke all on public.open_banking_balance_snapshots from anon, authenticated;
grant select on public.open_banking_balance_snapshots to authenticated;
grant all on public.open_banking_balance_snapshots to service_role;
alter table public.open_banking_balance_snapshots enable row level security;
create policy "CPAs read their clients' balance history" on public.open_banking_balance_snapshots
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));

-- On-demand refresh: the CPA inserts a row, the service runs the sync and fills in the outcome.
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
create index open_banking_sync_requests_client_idx
  on public.open_banking_sync_requests (platform_client_id, created_at desc);
revoke all on public.open_banking_sync_requests from anon, authenticated;
grant select on public.open_banking_sync_requests to authenticated;
grant insert (platform_client_id) on public.open_banking_sync_requests to authenticated;
grant all on public.open_banking_sync_requests to service_role;
alter table public.open_banking_sync_requests enable row level security;
create policy "CPAs read their clients' refresh requests" on public.open_banking_sync_requests
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));
create policy "CPAs request refreshes for their own clients" on public.open_banking_sync_requests
  for insert to authenticated
  with check ((select public.ob_can_access_client(platform_client_id)) and requested_by = (select auth.uid()));
create trigger force_request_defaults before insert on public.open_banking_sync_requests
  for each row execute function private.force_request_defaults();
create trigger set_updated_at before update on public.open_banking_sync_requests
  for each row execute function private.set_updated_at();

-- One row per platform client the caller may see: the badge the React app shows.
create view public.open_banking_client_status
with (security_invoker = true)
as
select
  c.id as platform_client_id,
  case
    when bool_or(l.needs_reauth) then 'needs_reauth'
    when cu.link_status = 'error' then 'error'
    when cu.link_status = 'linked' then 'linked'
    when cu.id is not null or exists (
      select 1 from public.open_banking_link_requests e
      where e.platform_client_id = c.id and e.status in ('queued', 'sending', 'sent', 'ready')
    ) then 'pending'
    else 'not_linked'
  end as badge,
  cu.finicity_customer_id is not null as has_customer,
  count(l.id) as institution_logins,
  cu.last_synced_at,
  cu.last_error_message,
  min(l.authorization_end_at) filter (where l.authorization_end_at > now()) as next_consent_expiry_at
from public.clients c
left join public.open_banking_customers cu on cu.platform_client_id = c.id
left join public.open_banking_institution_logins l on l.customer_id = cu.id
where current_user = 'service_role' or (select public.ob_can_access_client(c.id))
group by c.id, cu.id;
revoke all on public.open_banking_client_status from anon, authenticated;
grant select on public.open_banking_client_status to authenticated, service_role;
