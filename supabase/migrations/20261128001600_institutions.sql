-- Institutions: names, URLs and logos from Mastercard's GetInstitution and GetInstitutionBranding
-- (neither is billable), cached here. Public reference data (no client data): every signed-in user
-- may read it. pg_cron (..1000_schedules.sql) adds a stub for every institution a login or account
-- names that is not cached yet and queues a `refresh_institutions` job for them (every 10 minutes),
-- and refreshes every cached institution weekly. Accounts and logins carry the name
-- (`institution_name`): their upserts copy it from here, and a refresh carries new names onto them.
-- Nothing here runs on the sync's or the webhooks' hot path (no triggers on those tables).

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
