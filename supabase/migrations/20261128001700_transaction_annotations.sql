-- The CPA's own words about a transaction: category, tax line, note, reviewed. CPAs write this
-- table (their own clients only, exactly these columns); the sync never writes it. Rows are keyed
-- like transactions, by (account_id, transaction_id), and live as long as their transaction:
--
-- * When Mastercard replaces a pending transaction by a posted one under a new id, the sync removes
--   the pending row; its annotation then moves to the posted row of the same account with the same
--   amount, the same description (case and spacing aside) and a transaction date within 3 days of
--   the pending one's (the closest date wins, then the lowest id), unless that row already has an
--   annotation of its own. The posted row is written before the pending one is removed (the sync
--   writes every page of a window, then reconciles), so the successor is there to be found.
-- * When a transaction goes with no successor (a shadow row, a removed account, a deleted client),
--   its annotation goes too: nothing is kept about data the bank no longer has.

-- =================================================================================================
-- public.open_banking_transaction_annotations
-- =================================================================================================

create table public.open_banking_transaction_annotations (
  account_id          text not null references public.open_banking_accounts (id) on delete cascade,
  transaction_id      bigint not null,
  platform_client_id  uuid not null references public.clients (id) on delete cascade,
  category            text check (char_length(category) <= 100),
  tax_line            text check (char_length(tax_line) <= 100),
  note                text check (char_length(note) <= 4000),
  reviewed            boolean not null default false,
  reviewed_by         uuid references auth.users (id) on delete set null,
  reviewed_at         timestamptz,
  updated_by          uuid references auth.users (id) on delete set null,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  primary key (account_id, transaction_id)
);
create index open_banking_transaction_annotations_client_idx
  on public.open_banking_transaction_annotations (platform_client_id);
revoke all on public.open_banking_transaction_annotations from public, anon, authenticated, service_role;
grant select, delete on public.open_banking_transaction_annotations to authenticated;
grant insert (account_id, transaction_id, category, tax_line, note, reviewed)
  on public.open_banking_transaction_annotations to authenticated;
grant update (category, tax_line, note, reviewed) on public.open_banking_transaction_annotations to authenticated;
-- The service reads annotations (exports) but never writes a CPA's words.
grant select on public.open_banking_transaction_annotations to service_role;
alter table public.open_banking_transaction_annotations enable row level security;
create policy "CPAs read their clients' annotations" on public.open_banking_transaction_annotations
  for select to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));
create policy "CPAs annotate their clients' transactions" on public.open_banking_transaction_annotations
  for insert to authenticated with check (platform_client_id = any (array(select public.ob_accessible_clients())));
create policy "CPAs edit their clients' annotations" on public.open_banking_transaction_annotations
  for update to authenticated
  using (platform_client_id = any (array(select public.ob_accessible_clients())))
  with check (platform_client_id = any (array(select public.ob_accessible_clients())));
create policy "CPAs clear their clients' annotations" on public.open_banking_transaction_annotations
  for delete to authenticated using (platform_client_id = any (array(select public.ob_accessible_clients())));

-- Functions ----------------------------------------------------------------------------------------

-- What the CPA cannot send is derived: the client from the transaction (read with the caller's own
-- rights, so another CPA's transaction is "not found"), who reviewed and when, who edited last.
create function private.ob_annotation_defaults()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_client uuid;
begin
  if tg_op = 'INSERT' then
    select t.platform_client_id into v_client
      from public.open_banking_transactions t
     where t.account_id = new.account_id and t.id = new.transaction_id;
    if v_client is null then
      raise exception 'No transaction % in account % for this user.', new.transaction_id, new.account_id
        using errcode = '23503', hint = 'Annotate a transaction of one of your own clients.';
    end if;
    new.platform_client_id := v_client;
    new.created_at := now();
  elsif current_user not in ('authenticated', 'anon') then
    return new;  -- the database itself (an annotation following its transaction): keys move, nothing else
  else
    new.account_id := old.account_id;
    new.transaction_id := old.transaction_id;
    new.platform_client_id := old.platform_client_id;
    new.created_at := old.created_at;
  end if;
  if not new.reviewed then
    new.reviewed_by := null;
    new.reviewed_at := null;
  elsif tg_op = 'INSERT' or not old.reviewed then
    new.reviewed_by := auth.uid();
    new.reviewed_at := now();
  else
    new.reviewed_by := old.reviewed_by;
    new.reviewed_at := old.reviewed_at;
  end if;
  new.updated_by := auth.uid();
  new.updated_at := now();
  return new;
end
$$;
revoke all on function private.ob_annotation_defaults() from public, anon, authenticated;
create trigger annotation_defaults before insert or update on public.open_banking_transaction_annotations
  for each row execute function private.ob_annotation_defaults();

-- Description equality for the pending -> posted rule above.
create function private.ob_same_description(a text, b text)
returns boolean
language sql immutable
set search_path = ''
as $$
  select pg_catalog.lower(pg_catalog.btrim(pg_catalog.regexp_replace(coalesce(a, ''), '\s+', ' ', 'g')))
       = pg_catalog.lower(pg_catalog.btrim(pg_catalog.regexp_replace(coalesce(b, ''), '\s+', ' ', 'g')))
$$;
revoke all on function private.ob_same_description(text, text) from public, anon, authenticated;

-- Once per deleting statement on transactions (reconcile, shadow removal, cascades): annotations of
-- removed pending rows follow their posted successor; the rest of the removed rows' annotations go.
create function private.ob_annotations_follow()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from gone g
                   join public.open_banking_transaction_annotations a
                     on a.account_id = g.account_id and a.transaction_id = g.id) then
    return null;
  end if;
  with orphaned as (
    select a.account_id, a.transaction_id, g.amount, g.description, g.transaction_at
      from gone g
      join public.open_banking_transaction_annotations a
        on a.account_id = g.account_id and a.transaction_id = g.id
     where g.status = 'pending' and g.transaction_at is not null
  ), candidate as (
    select distinct on (o.account_id, o.transaction_id) o.account_id, o.transaction_id, t.id as new_id
      from orphaned o
      join public.open_banking_transactions t
        on t.account_id = o.account_id and t.status = 'posted' and t.amount = o.amount
       and t.transaction_at between o.transaction_at - interval '3 days' and o.transaction_at + interval '3 days'
       and private.ob_same_description(t.description, o.description)
     where not exists (select 1 from public.open_banking_transaction_annotations x
                        where x.account_id = t.account_id and x.transaction_id = t.id)
     order by o.account_id, o.transaction_id,
              abs(extract(epoch from t.transaction_at - o.transaction_at)), t.id
  ), moved as (
    -- Two pending rows never share one successor: the lower pending id keeps it.
    select distinct on (c.account_id, c.new_id) c.account_id, c.transaction_id, c.new_id
      from candidate c
     order by c.account_id, c.new_id, c.transaction_id
  )
  update public.open_banking_transaction_annotations a
     set transaction_id = m.new_id
    from moved m
   where a.account_id = m.account_id and a.transaction_id = m.transaction_id;

  delete from public.open_banking_transaction_annotations a
   using gone g
   where a.account_id = g.account_id and a.transaction_id = g.id;
  return null;
end
$$;
revoke all on function private.ob_annotations_follow() from public, anon, authenticated;
create trigger annotations_follow after delete on public.open_banking_transactions
  referencing old table as gone
  for each statement execute function private.ob_annotations_follow();

-- =================================================================================================
-- public.open_banking_transactions_annotated (view)
-- =================================================================================================

-- The React app's transaction list: every transaction with the CPA's annotation, one query, under
-- both tables' RLS. `category` is Mastercard's, `cpa_category` the CPA's.
create view public.open_banking_transactions_annotated
with (security_invoker = true)
as
select t.id, t.account_id, t.platform_client_id, t.amount, t.description, t.memo, t.payee, t.status,
       t.transaction_at, t.posted_at, t.effective_at, t.category, t.check_number, t.type,
       a.category as cpa_category, a.tax_line, a.note, coalesce(a.reviewed, false) as reviewed,
       a.reviewed_by, a.reviewed_at, a.updated_at as annotated_at
  from public.open_banking_transactions t
  left join public.open_banking_transaction_annotations a
    on a.account_id = t.account_id and a.transaction_id = t.id;
revoke all on public.open_banking_transactions_annotated from public, anon, authenticated;
grant select on public.open_banking_transactions_annotated to authenticated, service_role;
