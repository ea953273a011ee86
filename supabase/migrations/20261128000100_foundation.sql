-- Foundation: the pg_cron extension, the private schema, per-deployment settings, THE tenancy rule
-- (public.ob_accessible_clients), shared trigger helpers and the readiness probe.
--
-- How every area file is laid out (one file per area; each table's whole truth in its section):
-- a banner per table, then the table, its grants, RLS and policies, indexes, triggers, and the
-- functions that work on it. One grant style everywhere, a line per object right after it:
--   tables     revoke all on <table> from public, anon, authenticated;  then the grants it needs
--   functions  revoke all on function <sig> from public, anon, authenticated;
--              grant execute on function <sig> to service_role;   (service RPCs only)

create extension if not exists pg_cron;

-- Service-only state lives here. Not in [api].schemas, not granted to anon/authenticated.
create schema private;
revoke all on schema private from public, anon, authenticated;
grant usage on schema private to service_role;

-- New functions in public must not be callable by the API roles unless a migration grants it.
alter default privileges for role postgres in schema public revoke execute on functions from anon, authenticated;

-- =================================================================================================
-- private.ob_settings
-- Tunables read by SQL (cron bodies, the wake-up). Set per deployment with plain SQL.
-- =================================================================================================

create table private.ob_settings (
  key        text primary key,
  value      text not null,
  updated_at timestamptz not null default now()
);
comment on table private.ob_settings is
  'Per-deployment knobs: wake_url and wake_secret (pg_net doorbell), the CPA quotas refresh_min_interval_seconds and link_requests_per_cpa_per_day, consent_warning_days, job_max_attempts, and the *_retention_days of each purge (README: Data retention).';
insert into private.ob_settings (key, value) values
  -- CPA quotas, enforced at insert (..0400_requests.sql): a client's refreshes at least this far
  -- apart, and bank-link requests per CPA in any 24 hours.
  ('refresh_min_interval_seconds', '600'),
  ('link_requests_per_cpa_per_day', '50'),
  -- Retention, in days (the purges are pg_cron jobs in ..1000_schedules.sql; README "Data retention").
  ('webhook_payload_retention_days', '30'),   -- a processed event's payload is emptied after this
  ('webhook_retention_days', '90'),           -- the event row (the dedupe window) is deleted after this
  ('job_retention_days', '14'),               -- succeeded jobs
  ('dead_job_retention_days', '30'),          -- dead jobs, with their payloads
  ('request_retention_days', '90'),           -- finished link and refresh requests
  ('cron_history_retention_days', '14'),      -- pg_cron's own run log
  ('deletion_audit_retention_days', '2555'),  -- the audit line of a client deletion (7 years)
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
revoke all on function private.ob_setting(text, text) from public, anon, authenticated;

-- =================================================================================================
-- The tenancy rule
-- public.ob_accessible_clients(): the platform clients the caller may see (here: the clients they
-- own). This is the one function a platform replaces to fit its own tenancy (firms, teams), with
-- `create or replace function` and the same signature. Every policy reads it as
--     platform_client_id = any (array(select public.ob_accessible_clients()))
-- which Postgres evaluates once per statement (an InitPlan) and then matches with the tables'
-- platform_client_id indexes; a per-row call (`ob_can_access_client(platform_client_id)` in a
-- policy) costs a function call for every row the query touches, and a whole-table scan when the
-- query has no client filter of its own. (`in (select ...)` is evaluated once too, but as a hashed
-- filter that no index can use: a CPA's "latest across my clients" reads every tenant's rows.)
-- =================================================================================================

create function public.ob_accessible_clients()
returns setof uuid
language sql stable
security definer
set search_path = ''
rows 10
as $$
  select c.id from public.clients c where c.user_id = (select auth.uid())
$$;
revoke all on function public.ob_accessible_clients() from public, anon, authenticated;
grant execute on function public.ob_accessible_clients() to authenticated, service_role;

-- One client, for checks that name a single id (RPCs, a host's own policies): the same rule.
create function public.ob_can_access_client(p_platform_client_id uuid)
returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select p_platform_client_id = any (array(select public.ob_accessible_clients()))
$$;
revoke all on function public.ob_can_access_client(uuid) from public, anon, authenticated;
grant execute on function public.ob_can_access_client(uuid) to authenticated, service_role;

-- =================================================================================================
-- Shared trigger functions
-- =================================================================================================

-- `set_updated_at` on every table with an updated_at column.
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
revoke all on function private.set_updated_at() from public, anon, authenticated;

-- Request rows made by a CPA always carry the CPA as requester and start from a clean state,
-- whatever the insert said (column grants already stop most of it; this covers defaults too).
-- Used by both request tables (open_banking_link_requests, open_banking_sync_requests).
create function private.force_request_defaults()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if coalesce(auth.role(), '') <> 'service_role' and current_user in ('authenticated', 'anon') then
    new.requested_by := auth.uid();
    new.status := 'queued';
    if tg_table_name = 'open_banking_link_requests' then
      new.link := null;
      new.ttl_expires_at := null;
      new.error_message := null;
      new.sent_at := null;
    end if;
  end if;
  return new;
end
$$;
revoke all on function private.force_request_defaults() from public, anon, authenticated;

-- =================================================================================================
-- Readiness probe
-- =================================================================================================

-- For the service's /readyz; works through PostgREST as well as psycopg.
create function public.ob_health()
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object('ok', true, 'now', now())
$$;
revoke all on function public.ob_health() from public, anon, authenticated;
grant execute on function public.ob_health() to service_role;
