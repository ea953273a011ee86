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
-- Retention (private.ob_webhook_events, private.ob_jobs)
-- =================================================================================================

-- Processed webhook events older than webhook_retention_days, and finished jobs older than the
-- same age. Unprocessed events are kept whatever their age.
create function private.ob_purge_old_records()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_cutoff timestamptz := now() - make_interval(days => private.ob_setting('webhook_retention_days', '90')::integer);
  v_events integer;
  v_jobs integer;
begin
  delete from private.ob_webhook_events e where e.received_at < v_cutoff and e.processed_at is not null;
  get diagnostics v_events = row_count;
  delete from private.ob_jobs j where j.status = 'succeeded' and j.finished_at < v_cutoff;
  get diagnostics v_jobs = row_count;
  return pg_catalog.jsonb_build_object('webhook_events', v_events, 'jobs', v_jobs);
end
$$;
revoke all on function private.ob_purge_old_records() from public, anon, authenticated;

-- =================================================================================================
-- The schedules
-- ob-job-sweeper runs private.ob_job_sweep() (..0200_job_queue.sql).
-- =================================================================================================

select cron.schedule('ob-daily-sync',        '15 6 * * *', 'select private.ob_schedule_daily_sync()');
select cron.schedule('ob-consent-check',     '45 6 * * *', 'select private.ob_schedule_consent_check()');
select cron.schedule('ob-job-sweeper',       '* * * * *',  'select private.ob_job_sweep()');
select cron.schedule('ob-retention-purge',   '30 3 * * *', 'select private.ob_purge_old_records()');
