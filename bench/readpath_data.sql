-- The read-path benchmark's data, made set-based (generate_series), not through the API:
-- 200 CPAs x 10 clients = 2,000 clients, each with a Mastercard customer, one bank login, two accounts
-- and 5,000 transactions over 24 months (10,000,000 in all). Ids are derived from the row numbers, so
-- every run makes the same data. Loaded into a fresh database of the bench's own cluster.
--
-- The rows are consistent by construction, so the load skips the per-row foreign-key triggers
-- (session_replication_role = replica) and builds the transaction indexes after the load, as a bulk
-- restore would; the indexes, policies and constraints that the queries meet are the migrations' own.

set session_replication_role = replica;

insert into auth.users (id, aud, role, email)
select md5('cpa' || g)::uuid, 'authenticated', 'authenticated', 'cpa' || g || '@bench.test'
  from generate_series(1, 200) g;

insert into public.clients (id, user_id)
select md5('client' || g)::uuid, md5('cpa' || ((g - 1) / 10 + 1))::uuid
  from generate_series(1, 2000) g;

insert into public.open_banking_customers
       (id, platform_client_id, finicity_customer_id, finicity_username, customer_type, link_status,
        last_error_message, last_synced_at)
select md5('customer' || g)::uuid, md5('client' || g)::uuid, (5000000 + g)::text, 'bench-' || g, 'testing',
       case g % 10 when 1 then 'pending' when 2 then 'error' else 'linked' end,
       case g % 10 when 2 then 'The bank said the credentials are wrong (103)' end,
       timestamptz '2026-11-30 06:15:00+00' - (g % 48) * interval '1 hour'
  from generate_series(1, 2000) g;

insert into public.open_banking_institution_logins
       (id, platform_client_id, customer_id, institution_id, institution_name, oauth, authorization_end_at, needs_reauth)
select 7000000 + g, md5('client' || g)::uuid, md5('customer' || g)::uuid, '102105', 'FinBank', true,
       timestamptz '2026-12-01 00:00:00+00' + (g % 120) * interval '1 day', g % 17 = 0
  from generate_series(1, 2000) g;

-- A link request per client that is still pending, so the badge's "pending" branch is exercised.
insert into public.open_banking_link_requests (platform_client_id, email_to, first_name, status, sent_at)
select md5('client' || g)::uuid, 'owner' || g || '@client.test', 'Owner', 'sent', timestamptz '2026-11-20 10:00:00+00'
  from generate_series(1, 2000) g
 where g % 10 = 1;

insert into public.open_banking_accounts
       (id, platform_client_id, customer_id, institution_login_id, institution_id, name, type, status,
        number_masked, balance, balance_date, display_position, source_fetched_at)
select 'acct-' || c || '-' || a, md5('client' || c)::uuid, md5('customer' || c)::uuid, 7000000 + c, '102105',
       case a when 0 then 'Checking' else 'Savings' end, case a when 0 then 'checking' else 'savings' end,
       'active', '****' || lpad((c * 2 + a)::text, 4, '0'), 1000 + c, timestamptz '2026-11-30 06:15:00+00', a,
       timestamptz '2026-11-30 06:15:00+00'
  from generate_series(1, 2000) c, generate_series(0, 1) a;

-- Transaction g belongs to account (g - 1) / 2500 (two per client), one every 7 hours back from
-- 2026-11-30 (2,500 x 7 h = 24 months); the newest three per account are still pending.
-- Indexes other than the primary key are dropped for the load and rebuilt from their definitions.
create temp table bench_indexes on commit preserve rows as
select indexname, indexdef from pg_indexes
 where schemaname = 'public' and tablename = 'open_banking_transactions'
   and indexname <> 'open_banking_transactions_pkey';
do $$
declare r record;
begin
  for r in select indexname from bench_indexes loop
    execute format('drop index public.%I', r.indexname);
  end loop;
end
$$;

insert into public.open_banking_transactions
       (id, account_id, platform_client_id, amount, description, memo, status, transaction_at, posted_at,
        category, payee, type, source_fetched_at)
select g,
       'acct-' || ((g - 1) / 5000 + 1) || '-' || ((g - 1) / 2500 % 2),
       md5('client' || ((g - 1) / 5000 + 1))::uuid,
       ((g::bigint * 7919) % 200000 - 100000) / 100.0,
       'Bench purchase ' || (g % 997),
       case when g % 5 = 0 then 'memo ' || (g % 31) end,
       case when (g - 1) % 2500 < 3 then 'pending' else 'posted' end,
       timestamptz '2026-11-30 00:00:00+00' - ((g - 1) % 2500) * interval '7 hours' - interval '1 day',
       case when (g - 1) % 2500 >= 3
            then timestamptz '2026-11-30 00:00:00+00' - ((g - 1) % 2500) * interval '7 hours' end,
       (array['Groceries', 'Travel', 'Payroll', 'Utilities', 'Dining'])[g % 5 + 1],
       'Payee ' || (g % 211), 'debit', timestamptz '2026-11-30 06:15:00+00'
  from generate_series(1, 10000000) g;

do $$
declare r record;
begin
  for r in select indexdef from bench_indexes loop
    execute r.indexdef;
  end loop;
end
$$;

set session_replication_role = origin;
