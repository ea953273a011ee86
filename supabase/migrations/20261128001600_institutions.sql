-- Institutions: names, URLs and logos from Mastercard's GetInstitution and GetInstitutionBranding
-- (neither is billable), cached here. A login or account naming an institution we have not seen
-- adds a stub row and queues a `refresh_institutions` job at once; pg_cron refreshes every cached
-- institution weekly (ob-institutions-refresh, ..1000_schedules.sql). Public reference data (no client data): every signed-in user may read it.
-- Accounts and logins carry the name (`institution_name`), kept in step by the triggers below.

-- =================================================================================================
-- public.open_banking_institutions
-- =================================================================================================

create table public.open_banking_institutions (
  id                  text primary key,                 -- Mastercard institution id (as on accounts)
  name                text,
  display_name        text,
  url_home_app        text,
  url_logon_app       text,
  oauth_enabled       boolean,
  status              text,
  logo_url            text,
  alternate_logo_url  text,
  icon_url            text,
  tile_url            text,
  primary_color       text check (primary_color is null or primary_color ~ '^#[0-9A-Fa-f]{3,8}$'),
  fetched_at          timestamptz,                      -- null: not fetched yet
  fetch_error         text,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);
revoke all on public.open_banking_institutions from public, anon, authenticated;
grant select on public.open_banking_institutions to authenticated;
grant all on public.open_banking_institutions to service_role;
alter table public.open_banking_institutions enable row level security;
create policy "Signed-in users read institutions" on public.open_banking_institutions
  for select to authenticated using (true);
create trigger set_updated_at before update on public.open_banking_institutions
  for each row execute function private.set_updated_at();

-- Functions ----------------------------------------------------------------------------------------

-- New institution ids on logins or accounts: a stub row each and one refresh job for them.
create function private.ob_institutions_discover()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_ids text[];
begin
  with added as (
    insert into public.open_banking_institutions (id)
    select distinct n.institution_id from new_rows n where n.institution_id is not null
    on conflict (id) do nothing
    returning id
  )
  select pg_catalog.array_agg(a.id order by a.id) into v_ids from added a;
  if v_ids is not null then
    perform private.ob_enqueue('refresh_institutions',
      pg_catalog.jsonb_build_object('institution_ids', pg_catalog.to_jsonb(v_ids)), null);
    perform private.ob_wake('open_banking_institutions');
  end if;
  return null;
end
$$;
revoke all on function private.ob_institutions_discover() from public, anon, authenticated;
create trigger institutions_discover after insert on public.open_banking_institution_logins
  referencing new table as new_rows for each statement execute function private.ob_institutions_discover();
create trigger institutions_discover after insert on public.open_banking_accounts
  referencing new table as new_rows for each statement execute function private.ob_institutions_discover();

-- A login or account gets the cached name when it is written (the cache wins over a name sent
-- with the row; a row sent without one keeps what it had).
create function private.ob_institution_name()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  new.institution_name := coalesce(
    (select i.name from public.open_banking_institutions i where i.id = new.institution_id),
    new.institution_name);
  return new;
end
$$;
revoke all on function private.ob_institution_name() from public, anon, authenticated;
create trigger institution_name before insert or update of institution_id, institution_name
  on public.open_banking_institution_logins for each row execute function private.ob_institution_name();
create trigger institution_name before insert or update of institution_id, institution_name
  on public.open_banking_accounts for each row execute function private.ob_institution_name();

-- The service: which institutions to refresh (the given ids, or every cached one).
create function public.ob_institutions_to_refresh(p_ids text[] default null)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(i.id order by i.id), '[]'::jsonb)
    from public.open_banking_institutions i
   where p_ids is null or i.id = any (p_ids)
$$;
revoke all on function public.ob_institutions_to_refresh(text[]) from public, anon, authenticated;
grant execute on function public.ob_institutions_to_refresh(text[]) to service_role;

-- The service: store what Mastercard said (one object per institution: the mapped institution and
-- branding fields, or `fetch_error`), then carry new names onto logins and accounts.
create function public.ob_institutions_upsert(p_institutions jsonb, p_fetched_at timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_written integer;
  v_renamed integer;
  v_renamed_logins integer;
begin
  insert into public.open_banking_institutions as i
         (id, name, display_name, url_home_app, url_logon_app, oauth_enabled, status, logo_url,
          alternate_logo_url, icon_url, tile_url, primary_color, fetched_at, fetch_error)
  select s.id, s.name, s.display_name, s.url_home_app, s.url_logon_app, s.oauth_enabled, s.status, s.logo_url,
         s.alternate_logo_url, s.icon_url, s.tile_url,
         case when s.primary_color ~ '^#[0-9A-Fa-f]{3,8}$' then s.primary_color end,
         case when s.fetch_error is null then p_fetched_at end, s.fetch_error
    from pg_catalog.jsonb_to_recordset(p_institutions) as s(
           id text, name text, display_name text, url_home_app text, url_logon_app text, oauth_enabled boolean,
           status text, logo_url text, alternate_logo_url text, icon_url text, tile_url text,
           primary_color text, fetch_error text)
  on conflict (id) do update
     set name = coalesce(excluded.name, i.name), display_name = coalesce(excluded.display_name, i.display_name),
         url_home_app = coalesce(excluded.url_home_app, i.url_home_app),
         url_logon_app = coalesce(excluded.url_logon_app, i.url_logon_app),
         oauth_enabled = coalesce(excluded.oauth_enabled, i.oauth_enabled),
         status = coalesce(excluded.status, i.status),
         logo_url = coalesce(excluded.logo_url, i.logo_url),
         alternate_logo_url = coalesce(excluded.alternate_logo_url, i.alternate_logo_url),
         icon_url = coalesce(excluded.icon_url, i.icon_url), tile_url = coalesce(excluded.tile_url, i.tile_url),
         primary_color = coalesce(excluded.primary_color, i.primary_color),
         fetched_at = coalesce(excluded.fetched_at, i.fetched_at), fetch_error = excluded.fetch_error;
  get diagnostics v_written = row_count;

  update public.open_banking_accounts a
     set institution_name = i.name
    from public.open_banking_institutions i
   where a.institution_id = i.id and i.name is not null and a.institution_name is distinct from i.name
     and i.id in (select e ->> 'id' from pg_catalog.jsonb_array_elements(p_institutions) e);
  get diagnostics v_renamed = row_count;
  update public.open_banking_institution_logins l
     set institution_name = i.name
    from public.open_banking_institutions i
   where l.institution_id = i.id and i.name is not null and l.institution_name is distinct from i.name
     and i.id in (select e ->> 'id' from pg_catalog.jsonb_array_elements(p_institutions) e);
  get diagnostics v_renamed_logins = row_count;
  return pg_catalog.jsonb_build_object('written', v_written, 'accounts_renamed', v_renamed,
                                       'logins_renamed', v_renamed_logins);
end
$$;
revoke all on function public.ob_institutions_upsert(jsonb, timestamptz) from public, anon, authenticated;
grant execute on function public.ob_institutions_upsert(jsonb, timestamptz) to service_role;
