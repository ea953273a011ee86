-- Foundation: extensions, the private schema, settings, the one tenancy rule, and shared helpers.

create extension if not exists pg_cron;

-- Service-only state lives here. Not in [api].schemas, not granted to anon/authenticated.
create schema private;
revoke all on schema private from public, anon, authenticated;
grant usage on schema private to service_role;

-- New functions in public must not be callable by the API roles unless a migration grants it.
alter default privileges for role postgres in schema public revoke execute on functions from anon, authenticated;

-- Tunables read by SQL (cron bodies, the wake-up). Set per deployment with plain SQL.
create table private.ob_settings (
  key        text primary key,
  value      text not null,
  updated_at timestamptz not null default now()
);
comment on table private.ob_settings is
  'Per-deployment knobs: wake_url and wake_secret (pg_net doorbell), webhook_retention_days, consent_warning_days, job_max_attempts.';
insert into private.ob_settings (key, value) values
  ('webhook_retention_days', '90'),
  ('consent_warning_days', '14'),
  ('job_max_attempts', '8');
revoke all on private.ob_settings from public, anon, authenticated;
grant select on private.ob_settings to service_role;

create function private.ob_setting(p_key text, p_default text default null)
returns text
language sql stable
set search_path = ''
as $$
  select coalesce((select s.value from private.ob_settings s where s.key = p_key), p_default)
$$;

-- THE tenancy rule: a caller may see a platform client's data when they own the client.
-- This is the one function a platform changes to fit its own tenancy (firms, teams).
create function public.ob_can_access_client(p_platform_client_id uuid)
returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.clients c
    where c.id = p_platform_client_id
      and c.user_id = (select auth.uid())
  )
$$;
revoke all on function public.ob_can_access_client(uuid) from public, anon;
grant execute on function public.ob_can_access_client(uuid) to authenticated, service_role;

create function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
