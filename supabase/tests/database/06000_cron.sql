-- pg_cron schedules, and each job's body run directly (no waiting for the scheduler).
begin;
select plan(22);

select results_eq($$select jobname::text collate "default", schedule::text collate "default", command::text collate "default", active from cron.job
                     where jobname like 'ob-%' order by jobname$$,
                  $$values ('ob-consent-check', '45 6 * * *', 'select private.ob_schedule_consent_check()', true),
                           ('ob-daily-sync', '15 6 * * *', 'select private.ob_schedule_daily_sync()', true),
                           ('ob-institutions-discover', '*/10 * * * *', 'select private.ob_schedule_institutions_discover()', true),
                           ('ob-institutions-refresh', '40 4 * * 0', 'select private.ob_schedule_institutions_refresh()', true),
                           ('ob-job-sweeper', '* * * * *', 'select private.ob_job_sweep()', true),
                           ('ob-purge-cron-history', '25 3 * * *', 'select private.ob_purge_cron_history()', true),
                           ('ob-purge-deletion-audit', '30 3 * * *', 'select private.ob_purge_deletion_audit()', true),
                           ('ob-purge-jobs', '10 3 * * *', 'select private.ob_purge_jobs()', true),
                           ('ob-purge-requests', '20 3 * * *', 'select private.ob_purge_requests()', true),
                           ('ob-purge-webhook-events', '5 3 * * *', 'select private.ob_purge_webhook_events()', true),
                           ('ob-purge-webhook-payloads', '0 3 * * *', 'select private.ob_purge_webhook_payloads()', true)$$,
                  'cron.job has the ob-* jobs (five schedules, six purges) with their schedules and commands, active');
select is((select count(*) from cron.job where jobname like 'ob-%' and database <> current_database()), 0::bigint,
          'every ob-* cron job runs in this database');
select lives_ok(command, format('the %s command runs as written', jobname)) from cron.job where jobname like 'ob-%' order by jobname;

delete from private.ob_jobs;
create temp table fx (a uuid, c_l1 uuid, c_l2 uuid, c_pending uuid, c_error uuid, c_nofin uuid) on commit drop;
insert into fx (a) values (tests.create_user('cron-a@cpa.test'));
update fx set c_l1 = tests.create_client(a), c_l2 = tests.create_client(a), c_pending = tests.create_client(a),
              c_error = tests.create_client(a), c_nofin = tests.create_client(a);
insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username, customer_type, link_status)
select c_l1, 'cron-fin-1', 'cron-u1', 'testing', 'linked' from fx union all
select c_l2, 'cron-fin-2', 'cron-u2', 'testing', 'linked' from fx union all
select c_pending, 'cron-fin-3', 'cron-u3', 'testing', 'pending' from fx union all
select c_error, 'cron-fin-4', 'cron-u4', 'testing', 'error' from fx union all
select c_nofin, null, 'cron-u5', 'testing', 'linked' from fx;

-- daily sync -----------------------------------------------------------------------------------
select is(private.ob_schedule_daily_sync(), 2, 'daily sync schedules the two linked customers');
select set_eq($$select payload, dedupe_key from private.ob_jobs where kind = 'sync_customer'$$,
              $$select jsonb_build_object('finicity_customer_id', f, 'reason', 'daily'), 'sync:' || f
                  from unnest(array['cron-fin-1', 'cron-fin-2']) f$$,
              'one sync_customer job per linked customer (not pending, error or customer-less ones), keyed '
              'sync:<finicity customer id> like the webhook-triggered syncs');
select private.ob_schedule_daily_sync();
select is((select count(*) from private.ob_jobs where kind = 'sync_customer'), 2::bigint, 'a second daily run is deduped: still two jobs');
select public.ob_job_claim('w', 1, 60);
select private.ob_schedule_daily_sync();
select is((select count(*) from private.ob_jobs where kind = 'sync_customer' and status = 'queued'), 2::bigint,
          'while one sync runs, the next daily run queues one successor for it');

-- consent check --------------------------------------------------------------------------------
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, oauth, consent_checked_at)
select v.id, c.platform_client_id, c.id, v.oauth, now() - v.age
  from public.open_banking_customers c,
       (values (950000001, true, null::interval), (950000002, true, interval '1 hour'),
               (950000003, true, interval '2 days'), (950000004, false, null::interval)) v(id, oauth, age)
 where c.finicity_customer_id = 'cron-fin-1';
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, oauth)
select 950000005, c.platform_client_id, c.id, true from public.open_banking_customers c where c.finicity_username = 'cron-u5';
select is(private.ob_schedule_consent_check(), 2, 'consent check schedules the OAuth logins never checked or checked over 20 h ago');
select set_eq($$select payload, dedupe_key from private.ob_jobs where kind = 'check_consent'$$,
              $$values ('{"institution_login_id": 950000001, "finicity_customer_id": "cron-fin-1"}'::jsonb, 'consent:950000001'),
                       ('{"institution_login_id": 950000003, "finicity_customer_id": "cron-fin-1"}'::jsonb, 'consent:950000003')$$,
              'check_consent jobs carry the login and the customer (not recently checked, non-OAuth, or customer-less logins)');
select private.ob_schedule_consent_check();
select is((select count(*) from private.ob_jobs where kind = 'check_consent'), 2::bigint, 'a second consent run is deduped');

-- retention purges: supabase/tests/database/08100_retention.sql

-- sweeper body: wakes the service when work is due (the rest is in the queue suite)
create schema if not exists net;
create table net.stub_calls (body jsonb);
create function net.http_post(url text, body jsonb default '{}', params jsonb default '{}', headers jsonb default '{}',
                              timeout_milliseconds integer default 5000)
returns bigint language sql as $$ insert into net.stub_calls values (body) returning 1::bigint $$;
insert into private.ob_settings (key, value) values ('wake_url', 'https://svc.test/wake')
  on conflict (key) do update set value = excluded.value;
delete from private.ob_jobs;
select private.ob_job_sweep();
select is((select count(*) from net.stub_calls), 0::bigint, 'the sweeper does not wake the service when nothing is due');
select public.ob_job_enqueue('sync_customer', '{}', null);
delete from net.stub_calls;
select private.ob_job_sweep();
select results_eq($$select body from net.stub_calls$$, $$values ('{"reason": "sweep"}'::jsonb)$$,
                  'the sweeper wakes the service when a job is due (in case a wake-up was missed)');

select * from finish();
rollback;
