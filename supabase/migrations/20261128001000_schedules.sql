-- pg_cron schedules (5-field syntax: the local pg_cron is 1.4), all in one place. Each calls one
-- private function, so tests can run a job's body directly instead of waiting for the scheduler.

-- =================================================================================================
-- Daily sync (open_banking_customers)
-- =================================================================================================

-- Daily refresh of every linked customer (Mastercard itself refreshes accounts about once a day).
create function private.ob_schedule_daily_sync()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  select count(*) into v_n from (
    select private.ob_enqueue('sync_customer',
             pg_catalog.jsonb_build_object('finicity_customer_id', c.finicity_customer_id, 'reason', 'daily'),
             'sync:' || c.finicity_customer_id)
      from public.open_banking_customers c
     where c.link_status = 'linked' and c.finicity_customer_id is not null
  ) q;
  if v_n > 0 then
    perform private.ob_wake('daily_sync');
  end if;
  return v_n;
end
$$;
revoke all on function private.ob_schedule_daily_sync() from public, anon, authenticated;

-- =================================================================================================
-- Consent check (open_banking_institution_logins)
-- =================================================================================================

-- Look up the authorization window of every OAuth login whose window is unknown, stale (checked
-- over a day ago) or closing, so `needs_reauth` is raised ahead of expiry.
create function private.ob_schedule_consent_check()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  select count(*) into v_n from (
    select private.ob_enqueue('check_consent',
             pg_catalog.jsonb_build_object('institution_login_id', l.id,
                                           'finicity_customer_id', c.finicity_customer_id),
             'consent:' || l.id)
      from public.open_banking_institution_logins l
      join public.open_banking_customers c on c.id = l.customer_id
     where l.oauth and c.finicity_customer_id is not null
       and (l.consent_checked_at is null or l.consent_checked_at < now() - interval '20 hours')
  ) q;
  if v_n > 0 then
    perform private.ob_wake('consent_check');
  end if;
  return v_n;
end
$$;
revoke all on function private.ob_schedule_consent_check() from public, anon, authenticated;

-- =================================================================================================
-- Retention: one purge function and one pg_cron job per kind of data, each reading its
-- *_retention_days from private.ob_settings (defaults in ..0100_foundation.sql). README "Data retention".
-- =================================================================================================

create function private.ob_retention_cutoff(p_key text, p_default integer)
returns timestamptz
language sql stable
set search_path = ''
as $$
  select now() - make_interval(days => private.ob_setting(p_key, p_default::text)::integer)
$$;
revoke all on function private.ob_retention_cutoff(text, integer) from public, anon, authenticated;

-- A webhook event no job will process any more: processed, or its job is dead or gone.
create function private.ob_webhook_event_settled(p_event private.ob_webhook_events)
returns boolean
language sql stable
set search_path = ''
as $$
  select p_event.processed_at is not null or not exists (
    select 1 from private.ob_jobs j
     where j.kind = 'process_webhook_event' and j.status in ('queued', 'running')
       and j.payload ->> 'event_id' = p_event.id::text)
$$;
revoke all on function private.ob_webhook_event_settled(private.ob_webhook_events) from public, anon, authenticated;

-- Payloads of settled events older than webhook_payload_retention_days are emptied; the row (type,
-- outcome, message and body event ids) stays for the dedupe window.
create function private.ob_purge_webhook_payloads()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  update private.ob_webhook_events e
     set payload = '{}'::jsonb, payload_cleared_at = now()
   where e.payload_cleared_at is null
     and e.received_at < private.ob_retention_cutoff('webhook_payload_retention_days', 30)
     and private.ob_webhook_event_settled(e);
  get diagnostics v_n = row_count;
  return v_n;
end
$$;
revoke all on function private.ob_purge_webhook_payloads() from public, anon, authenticated;

-- Settled event rows older than webhook_retention_days (the dedupe window) are deleted.
create function private.ob_purge_webhook_events()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  delete from private.ob_webhook_events e
   where e.received_at < private.ob_retention_cutoff('webhook_retention_days', 90)
     and private.ob_webhook_event_settled(e);
  get diagnostics v_n = row_count;
  return v_n;
end
$$;
revoke all on function private.ob_purge_webhook_events() from public, anon, authenticated;

-- Succeeded jobs after job_retention_days; dead jobs, payloads and all, after dead_job_retention_days.
-- A delete_customer job that still carries a Mastercard id is never purged: it is the only record
-- of a customer Mastercard has not confirmed deleted (it retries for years rather than dying).
create function private.ob_purge_jobs()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  delete from private.ob_jobs j
   where (j.status = 'succeeded' and j.finished_at < private.ob_retention_cutoff('job_retention_days', 14))
      or (j.status = 'dead' and j.finished_at < private.ob_retention_cutoff('dead_job_retention_days', 30)
          and not (j.kind = 'delete_customer' and j.payload ? 'finicity_customer_id'));
  get diagnostics v_n = row_count;
  return v_n;
end
$$;
revoke all on function private.ob_purge_jobs() from public, anon, authenticated;

-- Finished link requests (they hold an email address, a name and a link long expired), refresh and
-- document requests, after request_retention_days. Waiting ones are kept. A coalesced request goes
-- with the same delay after its last change (its outcome is mirrored from the one it joined).
create function private.ob_purge_requests()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_cutoff timestamptz := private.ob_retention_cutoff('request_retention_days', 90);
  v_links integer;
  v_syncs integer;
  v_documents integer;
  v_accounts integer;
begin
  delete from public.open_banking_link_requests r
   where r.status in ('sent', 'ready', 'failed', 'coalesced') and r.updated_at < v_cutoff;
  get diagnostics v_links = row_count;
  delete from public.open_banking_sync_requests r
   where r.status in ('succeeded', 'failed', 'coalesced') and r.updated_at < v_cutoff;
  get diagnostics v_syncs = row_count;
  -- (documents produced keep their rows and files while the client exists; only the request goes)
  delete from public.open_banking_document_requests r
   where r.status in ('succeeded', 'partial', 'failed') and r.updated_at < v_cutoff;
  get diagnostics v_documents = row_count;
  delete from public.open_banking_account_requests r
   where r.status in ('succeeded', 'failed') and r.updated_at < v_cutoff;
  get diagnostics v_accounts = row_count;
  return v_links + v_syncs + v_documents + v_accounts;
end
$$;
revoke all on function private.ob_purge_requests() from public, anon, authenticated;

-- pg_cron's own run log grows by a row per run (the sweeper alone: 1,440 a day).
create function private.ob_purge_cron_history()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  delete from cron.job_run_details d
   where d.end_time < private.ob_retention_cutoff('cron_history_retention_days', 14);
  get diagnostics v_n = row_count;
  return v_n;
end
$$;
revoke all on function private.ob_purge_cron_history() from public, anon, authenticated;

create function private.ob_purge_deletion_audit()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  delete from private.ob_deletions d
   where d.requested_at < private.ob_retention_cutoff('deletion_audit_retention_days', 2555)
     and d.mastercard <> 'pending';
  get diagnostics v_n = row_count;
  return v_n;
end
$$;
revoke all on function private.ob_purge_deletion_audit() from public, anon, authenticated;

-- =================================================================================================
-- Institutions refresh (public.open_banking_institutions, ..1600_institutions.sql)
-- =================================================================================================

-- Every 10 minutes: institutions named by logins or accounts but not cached yet get a stub row
-- and one refresh job; rows still without a name get it from the cache. Returns the new ids.
create function private.ob_schedule_institutions_discover()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_ids text[];
begin
  with named as (
    select l.institution_id as id from public.open_banking_institution_logins l where l.institution_id is not null
    union
    select a.institution_id from public.open_banking_accounts a where a.institution_id is not null
  ), added as (
    insert into public.open_banking_institutions (id)
    select n.id from named n
     where not exists (select 1 from public.open_banking_institutions i where i.id = n.id)
    on conflict (id) do nothing
    returning id
  )
  select pg_catalog.array_agg(a.id order by a.id) into v_ids from added a;
  update public.open_banking_accounts a set institution_name = i.name
    from public.open_banking_institutions i
   where a.institution_name is null and a.institution_id = i.id and i.name is not null;
  update public.open_banking_institution_logins l set institution_name = i.name
    from public.open_banking_institutions i
   where l.institution_name is null and l.institution_id = i.id and i.name is not null;
  if v_ids is null then
    return 0;
  end if;
  perform private.ob_enqueue('refresh_institutions',
    pg_catalog.jsonb_build_object('institution_ids', pg_catalog.to_jsonb(v_ids)), null);
  perform private.ob_wake('institutions_discover');
  return pg_catalog.cardinality(v_ids);
end
$$;
revoke all on function private.ob_schedule_institutions_discover() from public, anon, authenticated;

-- Weekly: one job refreshes the names, URLs and logos of every cached institution.
create function private.ob_schedule_institutions_refresh()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from public.open_banking_institutions) then
    return 0;
  end if;
  perform private.ob_enqueue('refresh_institutions', '{}'::jsonb, 'refresh_institutions:all');
  perform private.ob_wake('institutions_refresh');
  return 1;
end
$$;
revoke all on function private.ob_schedule_institutions_refresh() from public, anon, authenticated;

-- =================================================================================================
-- The schedules
-- ob-job-sweeper runs private.ob_job_sweep() (..0200_job_queue.sql).
-- =================================================================================================

select cron.schedule('ob-daily-sync',        '15 6 * * *', 'select private.ob_schedule_daily_sync()');
select cron.schedule('ob-consent-check',     '45 6 * * *', 'select private.ob_schedule_consent_check()');
select cron.schedule('ob-job-sweeper',       '* * * * *',  'select private.ob_job_sweep()');
select cron.schedule('ob-purge-webhook-payloads', '0 3 * * *',  'select private.ob_purge_webhook_payloads()');
select cron.schedule('ob-purge-webhook-events',   '5 3 * * *',  'select private.ob_purge_webhook_events()');
select cron.schedule('ob-purge-jobs',             '10 3 * * *', 'select private.ob_purge_jobs()');
select cron.schedule('ob-purge-requests',         '20 3 * * *', 'select private.ob_purge_requests()');
select cron.schedule('ob-purge-cron-history',     '25 3 * * *', 'select private.ob_purge_cron_history()');
select cron.schedule('ob-purge-deletion-audit',   '30 3 * * *', 'select private.ob_purge_deletion_audit()');
select cron.schedule('ob-institutions-discover', '*/10 * * * *', 'select private.ob_schedule_institutions_discover()');
select cron.schedule('ob-institutions-refresh', '40 4 * * 0', 'select private.ob_schedule_institutions_refresh()');
