-- Documents for the CPA's file: the bank's monthly statements (PDF) and accountant exports (CSV,
-- OFX, QBO). The CPA inserts a request row (under RLS, like the other request tables); its trigger
-- queues the `produce_documents` job; the service writes each file to the private Storage bucket
-- `open-banking-documents` under `{platform_client_id}/` and records it in open_banking_documents.
-- The CPA lists documents with supabase-js and downloads them from Storage, where the
-- storage.objects policy below applies the same tenancy rule as every table.

-- The request table's trigger (declared with the table below): the CPA's insert and its job commit together, then the service wakes.
create function private.ob_enqueue_document_request()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.ob_enqueue('produce_documents',
    pg_catalog.jsonb_build_object('document_request_id', new.id), 'document_request:' || new.id);
  perform private.ob_wake(tg_table_name);
  return null;
end
$$;
revoke all on function private.ob_enqueue_document_request() from public, anon, authenticated;

-- =================================================================================================
-- public.open_banking_document_requests
-- kind `statements`: the accounts (null = every account of the client) and either `last_n` (the last
-- N monthly statements, N counted back from the request's month) or `statement_months` (first days
-- of the wanted months). kind `export`: accounts, an inclusive date range and the formats (csv: one
-- file for all accounts; ofx/qbo: one file per account), pending transactions only when asked.
-- =================================================================================================

create table public.open_banking_document_requests (
  id                  uuid primary key default gen_random_uuid(),
  platform_client_id  uuid not null references public.clients (id) on delete cascade,
  kind                text not null check (kind in ('statements', 'export')),
  account_ids         text[] check (account_ids is null or cardinality(account_ids) between 1 and 100),
  last_n              integer check (last_n between 1 and 24),
  statement_months    date[] check (statement_months is null or cardinality(statement_months) between 1 and 24),
  from_date           date,
  to_date             date,
  formats             text[] check (formats is null or (cardinality(formats) between 1 and 3
                                    and formats <@ array['csv', 'ofx', 'qbo'])),
  include_pending     boolean not null default false,
  requested_by        uuid references auth.users (id) on delete set null,
  status              text not null default 'queued'
                      -- `partial`: some documents were produced, some could not be (see their errors)
                      check (status in ('queued', 'running', 'succeeded', 'partial', 'failed')),
  documents_ready     integer,
  documents_failed    integer,
  error_message       text,
  started_at          timestamptz,
  finished_at         timestamptz,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  constraint statements_shape check (kind <> 'statements' or (
    (last_n is null) <> (statement_months is null) and from_date is null and to_date is null and formats is null)),
  constraint export_shape check (kind <> 'export' or (
    from_date is not null and to_date is not null and from_date <= to_date
    and to_date - from_date <= 731 and formats is not null and last_n is null and statement_months is null))
);
revoke all on public.open_banking_document_requests from public, anon, authenticated;
grant select on public.open_banking_document_requests to authenticated;
-- The CPA supplies only these columns; everything else is the service's.
grant insert (platform_client_id, kind, account_ids, last_n, statement_months, from_date, to_date, formats,
              include_pending)
  on public.open_banking_document_requests to authenticated;
grant all on public.open_banking_document_requests to service_role;

alter table public.open_banking_document_requests enable row level security;
-- Live request rows: Supabase Realtime sends changes to each CPA under the table's RLS.
alter publication supabase_realtime add table public.open_banking_document_requests;
create policy "CPAs read their clients' document requests" on public.open_banking_document_requests
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));
create policy "CPAs request documents for their own clients" on public.open_banking_document_requests
  for insert to authenticated
  with check (
    platform_client_id = any (array(select public.ob_accessible_clients()))
    and requested_by = (select auth.uid())
    -- every named account is one of this same client's
    and (account_ids is null or not exists (
      select 1 from pg_catalog.unnest(account_ids) a(id)
       where not exists (select 1 from public.open_banking_accounts x
                          where x.id = a.id
                            and x.platform_client_id = open_banking_document_requests.platform_client_id))));

create index open_banking_document_requests_client_idx
  on public.open_banking_document_requests (platform_client_id, created_at desc);

create trigger force_request_defaults before insert on public.open_banking_document_requests
  for each row execute function private.force_request_defaults();
create trigger enqueue_job after insert on public.open_banking_document_requests
  for each row execute function private.ob_enqueue_document_request();
create trigger set_updated_at before update on public.open_banking_document_requests
  for each row execute function private.set_updated_at();

-- =================================================================================================
-- public.open_banking_documents
-- One row per produced (or failed) file. A statement is one per account and statement month (the
-- month its period ends in): the unique index is what keeps a statement from being bought twice.
-- `status = 'failed'` rows carry a per-document error (institution without statements, no statement
-- for that month, an account type the format cannot represent) and no object.
-- =================================================================================================

create table public.open_banking_documents (
  id                  uuid primary key default gen_random_uuid(),
  platform_client_id  uuid not null references public.clients (id) on delete cascade,
  request_id          uuid references public.open_banking_document_requests (id) on delete set null,
  -- No foreign key: a statement stays the bank's document of that account and month even when the
  -- account is no longer linked; the rows go with the client (platform_client_id).
  account_id          text,
  kind                text not null check (kind in ('statement', 'export')),
  format              text not null check (format in ('pdf', 'csv', 'ofx', 'qbo')),
  statement_month     date check (statement_month is null or extract(day from statement_month) = 1),
  period_start        date,
  period_end          date,
  status              text not null check (status in ('ready', 'failed')),
  error_message       text,
  storage_bucket      text not null default 'open-banking-documents',
  storage_path        text,
  size_bytes          bigint,
  sha256              text check (sha256 is null or sha256 ~ '^[0-9a-f]{64}$'),
  transaction_count   integer,
  total_amount        numeric(19, 4),
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  constraint ready_has_object check (status <> 'ready' or (storage_path is not null and size_bytes is not null
                                                             and sha256 is not null)),
  constraint object_in_client_folder check (storage_path is null
                                            or storage_path like platform_client_id::text || '/%'),
  constraint statement_shape check (kind <> 'statement' or (format = 'pdf' and account_id is not null
                                                             and statement_month is not null))
);
revoke all on public.open_banking_documents from public, anon, authenticated;
grant select on public.open_banking_documents to authenticated;
grant all on public.open_banking_documents to service_role;

alter table public.open_banking_documents enable row level security;
create policy "CPAs read their clients' documents" on public.open_banking_documents
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));

create index open_banking_documents_client_idx on public.open_banking_documents (platform_client_id, created_at desc);
create index open_banking_documents_request_idx on public.open_banking_documents (request_id);
create unique index open_banking_documents_statement_key
  on public.open_banking_documents (account_id, statement_month) where kind = 'statement';
create unique index open_banking_documents_export_key
  on public.open_banking_documents (request_id, format, coalesce(account_id, '')) where kind = 'export';

create trigger set_updated_at before update on public.open_banking_documents
  for each row execute function private.set_updated_at();

-- =================================================================================================
-- Storage: the private bucket and who may read its objects
-- =================================================================================================

insert into storage.buckets (id, name, public, file_size_limit)
values ('open-banking-documents', 'open-banking-documents', false, 52428800)
on conflict (id) do nothing;

-- A CPA reads objects under their own clients' folders only; the first folder of every object name
-- is its platform_client_id. Nothing else is granted to the API roles: the service writes with the
-- service-role key (which bypasses RLS), and no policy lets a CPA insert, update or delete.
create policy "CPAs read their clients' documents" on storage.objects
  for select to authenticated
  using (
    bucket_id = 'open-banking-documents'
    and (storage.foldername(name))[1] = any (array(select a::text from public.ob_accessible_clients() a)));

-- Functions ----------------------------------------------------------------------------------------

-- What the job needs in one call: the request, the client's Mastercard customer, the accounts it
-- covers (all of the client's when account_ids is null) and the statements already held for them.
create function public.ob_document_request_get(p_id uuid)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.to_jsonb(r) || pg_catalog.jsonb_build_object(
    'finicity_customer_id', (select c.finicity_customer_id from public.open_banking_customers c
                              where c.platform_client_id = r.platform_client_id),
    'accounts', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'id', a.id, 'name', a.name, 'type', a.type, 'currency', a.currency,
               'institution_id', a.institution_id, 'balance', a.balance, 'balance_date', a.balance_date)
             order by a.display_position nulls last, a.id)
        from public.open_banking_accounts a
       where a.platform_client_id = r.platform_client_id
         and (r.account_ids is null or a.id = any (r.account_ids))), '[]'::jsonb),
    'held', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'account_id', d.account_id, 'statement_month', d.statement_month, 'id', d.id))
        from public.open_banking_documents d
       where d.platform_client_id = r.platform_client_id and d.kind = 'statement' and d.status = 'ready'
         and (r.account_ids is null or d.account_id = any (r.account_ids))), '[]'::jsonb))
    from public.open_banking_document_requests r
   where r.id = p_id
$$;
revoke all on function public.ob_document_request_get(uuid) from public, anon, authenticated;
grant execute on function public.ob_document_request_get(uuid) to service_role;

create function public.ob_document_request_update(
  p_id uuid, p_status text, p_documents_ready integer default null, p_documents_failed integer default null,
  p_error_message text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_document_requests%rowtype;
begin
  update public.open_banking_document_requests r
     set status = p_status,
         documents_ready = coalesce(p_documents_ready, r.documents_ready),
         documents_failed = coalesce(p_documents_failed, r.documents_failed),
         error_message = left(p_error_message, 1000),
         started_at = case when p_status = 'running' then coalesce(r.started_at, now()) else r.started_at end,
         finished_at = case when p_status in ('succeeded', 'partial', 'failed') then now() end
   where r.id = p_id
  returning * into v_row;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_document_request_update(uuid, text, integer, integer, text) from public, anon, authenticated;
grant execute on function public.ob_document_request_update(uuid, text, integer, integer, text) to service_role;

-- Record one document (after its object is stored). Statements: one row per account and month, so
-- a retry or a later request updates the same row; a held (ready) statement is never replaced by a
-- failure. Exports: one row per request, format and account.
create function public.ob_document_record(p_document jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.open_banking_documents%rowtype;
begin
  v_row := pg_catalog.jsonb_populate_record(null::public.open_banking_documents, p_document);
  if v_row.kind = 'statement' then
    insert into public.open_banking_documents as d (
      platform_client_id, request_id, account_id, kind, format, statement_month, period_start, period_end,
      status, error_message, storage_path, size_bytes, sha256)
    values (v_row.platform_client_id, v_row.request_id, v_row.account_id, 'statement', 'pdf',
            v_row.statement_month, v_row.period_start, v_row.period_end, v_row.status,
            left(v_row.error_message, 500), v_row.storage_path, v_row.size_bytes, v_row.sha256)
    on conflict (account_id, statement_month) where kind = 'statement' do update
       set request_id = excluded.request_id, period_start = excluded.period_start, period_end = excluded.period_end,
           status = excluded.status, error_message = excluded.error_message, storage_path = excluded.storage_path,
           size_bytes = excluded.size_bytes, sha256 = excluded.sha256
     where d.status <> 'ready'
    returning * into v_row;
    if v_row.id is null then  -- already held: keep it
      select * into v_row from public.open_banking_documents d
       where d.account_id = (p_document ->> 'account_id') and d.kind = 'statement'
         and d.statement_month = (p_document ->> 'statement_month')::date;
    end if;
  else
    insert into public.open_banking_documents as d (
      platform_client_id, request_id, account_id, kind, format, period_start, period_end, status, error_message,
      storage_path, size_bytes, sha256, transaction_count, total_amount)
    values (v_row.platform_client_id, v_row.request_id, v_row.account_id, 'export', v_row.format,
            v_row.period_start, v_row.period_end, v_row.status, left(v_row.error_message, 500), v_row.storage_path,
            v_row.size_bytes, v_row.sha256, v_row.transaction_count, v_row.total_amount)
    on conflict (request_id, format, coalesce(account_id, '')) where kind = 'export' do update
       set status = excluded.status, error_message = excluded.error_message, storage_path = excluded.storage_path,
           size_bytes = excluded.size_bytes, sha256 = excluded.sha256,
           transaction_count = excluded.transaction_count, total_amount = excluded.total_amount
    returning * into v_row;
  end if;
  return pg_catalog.to_jsonb(v_row);
end
$$;
revoke all on function public.ob_document_record(jsonb) from public, anon, authenticated;
grant execute on function public.ob_document_record(jsonb) to service_role;

-- The transactions of one account whose effective date (UTC) is in [p_from, p_to], oldest first.
create function public.ob_export_transactions(
  p_account_id text, p_from date, p_to date, p_include_pending boolean default false)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'id', t.id, 'account_id', t.account_id, 'amount', t.amount::text, 'status', t.status,
           'effective_at', t.effective_at, 'posted_at', t.posted_at, 'transaction_at', t.transaction_at,
           'description', t.description, 'memo', t.memo, 'payee', t.payee, 'category', t.category,
           'check_number', t.check_number, 'type', t.type)
         order by t.effective_at, t.id), '[]'::jsonb)
    from public.open_banking_transactions t
   where t.account_id = p_account_id
     and t.effective_at >= (p_from::timestamp at time zone 'UTC')
     and t.effective_at < ((p_to + 1)::timestamp at time zone 'UTC')
     and (p_include_pending or t.status <> 'pending')
$$;
revoke all on function public.ob_export_transactions(text, date, date, boolean) from public, anon, authenticated;
grant execute on function public.ob_export_transactions(text, date, date, boolean) to service_role;

-- Operators ask for documents the way a CPA would: a request row, whose trigger enqueues the job.
create function public.ob_document_request_request(p_request jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_in public.open_banking_document_requests%rowtype;
  v_row public.open_banking_document_requests%rowtype;
begin
  v_in := pg_catalog.jsonb_populate_record(null::public.open_banking_document_requests, p_request);
  insert into public.open_banking_document_requests (
    platform_client_id, kind, account_ids, last_n, statement_months, from_date, to_date, formats, include_pending)
  values (v_in.platform_client_id, v_in.kind, v_in.account_ids, v_in.last_n, v_in.statement_months,
          v_in.from_date, v_in.to_date, v_in.formats, coalesce(v_in.include_pending, false))
  returning * into v_row;
  return pg_catalog.to_jsonb(v_row);
end
$$;
revoke all on function public.ob_document_request_request(jsonb) from public, anon, authenticated;
grant execute on function public.ob_document_request_request(jsonb) to service_role;

-- The operator CLI's `documents list`: a client's documents, newest first.
create function public.ob_documents_list(p_platform_client_id uuid, p_limit integer default 200)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(d) order by d.created_at desc, d.id), '[]'::jsonb)
    from (select * from public.open_banking_documents d
           where d.platform_client_id = p_platform_client_id
           order by d.created_at desc, d.id limit greatest(least(p_limit, 1000), 1)) d
$$;
revoke all on function public.ob_documents_list(uuid, integer) from public, anon, authenticated;
grant execute on function public.ob_documents_list(uuid, integer) to service_role;

