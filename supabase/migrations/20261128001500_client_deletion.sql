-- Deleting a client leaves nothing behind. Two doors, one function:
--   * the platform deletes its `public.clients` row: a trigger runs private.ob_forget_client first;
--   * the operator runs `python -m service delete CLIENT --yes`: public.ob_client_forget.
-- Every row naming the client or its Mastercard customer goes in that transaction; the Mastercard
-- customer itself is deleted by a `delete_customer` job that needs none of those rows (its payload
-- carries the Mastercard id) and is retried, hourly at most, until Mastercard confirms or says the
-- customer is already gone. What remains is one line in private.ob_deletions: when, by which door,
-- the Mastercard outcome and row counts; no Mastercard id, no name, no address, no account.
--
-- WHAT A CLIENT OWNS is decided in one place, private.ob_forget_client:
--   * every base table, in any schema, with a `platform_client_id` column (a new client-scoped table
--     is covered by carrying that column, as the project's tables do);
--   * private.ob_webhook_events naming the customer or one of its logins;
--   * private.ob_jobs whose payload names the client, the customer, a login, a deleted request row
--     (any client-scoped `*_requests` table with an `id`) or a deleted event.
-- A table that names a client some other way must be added there (and to the pgTAP test beside it).

-- =================================================================================================
-- private.ob_deletions: the audit line of each deletion
-- =================================================================================================

create table private.ob_deletions (
  id                  bigint generated always as identity primary key,
  platform_client_id  uuid not null,          -- no foreign key: the client is gone
  requested_by        text not null check (requested_by in ('platform', 'operator')),
  requested_at        timestamptz not null default now(),
  -- pending until the delete_customer job hears from Mastercard; none when no customer was created
  mastercard          text not null check (mastercard in ('pending', 'deleted', 'already_gone', 'none')),
  confirmed_at        timestamptz,
  removed             jsonb not null default '{}'   -- rows removed per table: counts only
);
comment on table private.ob_deletions is
  'One line per client deletion: when, by whom (platform/operator), Mastercard outcome, row counts. No personal data.';
revoke all on private.ob_deletions from public, anon, authenticated;
grant select on private.ob_deletions to service_role;

create index ob_deletions_requested_idx on private.ob_deletions (requested_at);

-- Functions ----------------------------------------------------------------------------------------

-- The job that deletes a Mastercard customer for a deletion line: retried until Mastercard answers
-- (backoff capped at an hour; 100,000 attempts is years). (platform_client_id: for the client's Storage
-- folder, removed through the Storage API by the job.)
create function private.ob_queue_mastercard_deletion(p_deletion_id bigint, p_finicity_customer_id text,
                                                     p_platform_client_id uuid, p_dedupe_key text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job jsonb;
begin
  v_job := private.ob_enqueue('delete_customer',
             pg_catalog.jsonb_build_object('deletion_id', p_deletion_id, 'finicity_customer_id', p_finicity_customer_id,
                                           'platform_client_id', p_platform_client_id),
             p_dedupe_key, now(), 100000);
  perform private.ob_wake('delete_customer');
  return v_job;
end
$$;
revoke all on function private.ob_queue_mastercard_deletion(bigint, text, uuid, text) from public, anon, authenticated;

-- Remove every row naming the client or its customer; queue the Mastercard deletion; write the
-- audit line. Returns {deletion_id, finicity_customer_id, job_id, removed}, or null when nothing
-- was held for the client (no audit line for a client we never knew).
create function private.ob_forget_client(p_platform_client_id uuid, p_requested_by text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_fid text;
  v_logins text[];
  v_requests text[];
  v_ids text[];
  v_names text[];
  v_events text[];
  v_removed jsonb := '{}';
  v_n integer;
  v_table record;
  v_deletion bigint;
  v_job jsonb;
begin
  -- After a link job's step in flight (public.ob_customer_upsert holds the client's row), never beside
  -- it: the customer row read below is the committed one, Finicity id included. (The platform's door
  -- has this row locked already, by its delete.)
  perform 1 from public.clients c where c.id = p_platform_client_id for update;
  select c.finicity_customer_id into v_fid
    from public.open_banking_customers c where c.platform_client_id = p_platform_client_id;
  select coalesce(pg_catalog.array_agg(l.id::text), '{}') into v_logins
    from public.open_banking_institution_logins l where l.platform_client_id = p_platform_client_id;
  v_requests := '{}';

  -- Webhook events about the customer or its logins (with their payloads).
  with gone as (
    delete from private.ob_webhook_events e
     where e.finicity_customer_id = v_fid
        or e.payload ->> 'customerId' = v_fid
        or e.payload -> 'data' ->> 'customerId' = v_fid
        or e.payload ->> 'institutionLoginId' = any (v_logins)
        or e.payload -> 'data' ->> 'institutionLoginId' = any (v_logins)
    returning e.id)
  select coalesce(pg_catalog.array_agg(g.id::text), '{}') into v_events from gone g;
  if cardinality(v_events) > 0 then
    v_removed := v_removed || pg_catalog.jsonb_build_object('private.ob_webhook_events', cardinality(v_events));
  end if;

  -- Every client-scoped table; referencing tables before the tables they reference (annotations and
  -- transactions before accounts before customers: ordered by the longest chain of foreign keys
  -- pointing at each table), so the counts are the table's own rows rather than cascades.
  for v_table in
    with recursive below (rel, depth) as (
      select k.confrelid, 1 from pg_catalog.pg_constraint k where k.contype = 'f' and k.conrelid <> k.confrelid
      union all
      select k.confrelid, b.depth + 1
        from below b join pg_catalog.pg_constraint k on k.contype = 'f' and k.conrelid = b.rel
       where k.conrelid <> k.confrelid and b.depth < 32
    ), height as (select b.rel, max(b.depth) as depth from below b group by b.rel)
    select c.table_schema as s, c.table_name as t
      from information_schema.columns c
      join information_schema.tables b on b.table_schema = c.table_schema and b.table_name = c.table_name
      left join height h on h.rel = pg_catalog.format('%I.%I', c.table_schema, c.table_name)::regclass
     where c.column_name = 'platform_client_id' and b.table_type = 'BASE TABLE'
       and c.table_schema not in ('pg_catalog', 'information_schema')
       and (c.table_schema, c.table_name) <> ('private', 'ob_deletions')
     order by coalesce(h.depth, 0), c.table_schema, c.table_name
  loop
    if v_table.t like '%\_requests' and exists (
         select 1 from information_schema.columns i
          where i.table_schema = v_table.s and i.table_name = v_table.t and i.column_name = 'id') then
      -- A request row's id is what its job's payload carries (link_request_id, document_request_id...).
      execute pg_catalog.format('with d as (delete from %I.%I where platform_client_id = $1 returning id::text) '
                                'select coalesce(pg_catalog.array_agg(d.id), ''{}'') from d', v_table.s, v_table.t)
        into v_ids using p_platform_client_id;
      v_requests := v_requests || v_ids;
      v_n := cardinality(v_ids);
    else
      execute pg_catalog.format('delete from %I.%I where platform_client_id = $1', v_table.s, v_table.t)
        using p_platform_client_id;
      get diagnostics v_n = row_count;
    end if;
    if v_n > 0 then
      v_removed := v_removed || pg_catalog.jsonb_build_object(v_table.s || '.' || v_table.t, v_n);
    end if;
  end loop;

  -- Jobs whose payload names the client, its customer, a login or a request row, or processes one
  -- of the deleted events. Earlier delete_customer jobs stay: they hold only what their own deletion
  -- needs, and finish it.
  v_names := array[p_platform_client_id::text] || v_logins || v_requests
             || case when v_fid is null then '{}'::text[] else array[v_fid] end;
  delete from private.ob_jobs j
   where j.kind <> 'delete_customer'
     and (exists (select 1 from pg_catalog.jsonb_each_text(j.payload) kv where kv.value = any (v_names))
          or (j.kind = 'process_webhook_event' and j.payload ->> 'event_id' = any (v_events)));
  get diagnostics v_n = row_count;
  if v_n > 0 then
    v_removed := v_removed || pg_catalog.jsonb_build_object('private.ob_jobs', v_n);
  end if;

  if v_fid is null and v_removed = '{}'::jsonb then
    return null;
  end if;
  insert into private.ob_deletions (platform_client_id, requested_by, mastercard, removed)
  values (p_platform_client_id, p_requested_by, case when v_fid is null then 'none' else 'pending' end, v_removed)
  returning id into v_deletion;
  if v_fid is not null then
    v_job := private.ob_queue_mastercard_deletion(v_deletion, v_fid, p_platform_client_id, 'deletion:' || v_deletion);
  end if;
  return pg_catalog.jsonb_build_object('deletion_id', v_deletion, 'finicity_customer_id', v_fid,
                                       'job_id', v_job -> 'id', 'removed', v_removed);
end
$$;
revoke all on function private.ob_forget_client(uuid, text) from public, anon, authenticated;

-- A Mastercard customer made for a client deleted while Mastercard was answering (the link job's
-- second step, public.ob_customer_upsert, found the client's row gone): it is deleted like the
-- client's own, on the client's latest audit line, which now waits for Mastercard. False when the
-- client was never deleted (nothing to do here).
create function private.ob_customer_forgotten(p_platform_client_id uuid, p_finicity_customer_id text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_deletion bigint;
begin
  select d.id into v_deletion from private.ob_deletions d
   where d.platform_client_id = p_platform_client_id order by d.id desc limit 1;
  if v_deletion is null then
    return false;
  end if;
  update private.ob_deletions d set mastercard = 'pending', confirmed_at = null
   where d.id = v_deletion and d.mastercard = 'none';
  perform private.ob_queue_mastercard_deletion(v_deletion, p_finicity_customer_id, p_platform_client_id,
                                               'deletion:' || v_deletion || ':' || p_finicity_customer_id);
  return true;
end
$$;
revoke all on function private.ob_customer_forgotten(uuid, text) from public, anon, authenticated;

-- The platform's door: a deleted client row takes our rows (and the Mastercard customer) with it.
-- BEFORE the delete, so the customer row (and its Mastercard id) is still there to read.
create function private.ob_forget_client_on_delete()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.ob_forget_client(old.id, 'platform');
  return old;
end
$$;
revoke all on function private.ob_forget_client_on_delete() from public, anon, authenticated;

create trigger ob_forget_client before delete on public.clients
  for each row execute function private.ob_forget_client_on_delete();

-- The operator's door (`python -m service delete CLIENT --yes`); the platform's client row stays.
create function public.ob_client_forget(p_platform_client_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return coalesce(private.ob_forget_client(p_platform_client_id, 'operator'),
                  '{"deletion_id": null, "removed": {}}'::jsonb);
end
$$;
revoke all on function public.ob_client_forget(uuid) from public, anon, authenticated;
grant execute on function public.ob_client_forget(uuid) to service_role;

-- Mastercard answered (deleted, or already gone): the audit line says so, and the deletion's jobs
-- forget the Mastercard id (a queued twin, e.g. the one the CLI ran inline, is finished here).
create function public.ob_deletion_confirm(p_deletion_id bigint, p_outcome text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row private.ob_deletions%rowtype;
begin
  if p_outcome not in ('deleted', 'already_gone') then
    raise exception 'outcome must be deleted or already_gone, got %', p_outcome using errcode = '22023';
  end if;
  update private.ob_deletions d
     set mastercard = case when d.confirmed_at is null then p_outcome else d.mastercard end,
         confirmed_at = coalesce(d.confirmed_at, now())
   where d.id = p_deletion_id
  returning * into v_row;
  update private.ob_jobs j
     set payload = pg_catalog.jsonb_build_object('deletion_id', p_deletion_id), last_error = null,
         status = case when j.status = 'queued' then 'succeeded' else j.status end,
         finished_at = case when j.status = 'queued' then now() else j.finished_at end
   where j.kind = 'delete_customer' and j.payload ->> 'deletion_id' = p_deletion_id::text;
  return case when v_row.id is null then null else pg_catalog.to_jsonb(v_row) end;
end
$$;
revoke all on function public.ob_deletion_confirm(bigint, text) from public, anon, authenticated;
grant execute on function public.ob_deletion_confirm(bigint, text) to service_role;
