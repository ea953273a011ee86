-- Retention: each purge's body run directly, on rows either side of its cutoff (the schedules
-- themselves are checked in 06000_cron.sql).
begin;
select plan(18);

delete from private.ob_webhook_events;
delete from private.ob_jobs;
delete from private.ob_deletions;

-- webhook payloads ------------------------------------------------------------------------------
insert into private.ob_webhook_events (source, message_id, payload, verified, received_at, processed_at) values
  ('connect', 'old-processed', '{"eventType": "added"}', true, now() - interval '31 days', now() - interval '31 days'),
  ('connect', 'old-live-job', '{"eventType": "added"}', true, now() - interval '31 days', null),
  ('connect', 'old-dead-job', '{"eventType": "added"}', true, now() - interval '31 days', null),
  ('obwms', 'recent-processed', '{"eventType": "x"}', true, now() - interval '29 days', now() - interval '29 days'),
  ('connect', 'ancient-processed', '{"eventType": "done"}', true, now() - interval '91 days', now() - interval '91 days'),
  ('connect', 'ancient-live-job', '{"eventType": "done"}', true, now() - interval '91 days', null);
insert into private.ob_jobs (kind, payload, status, finished_at)
select 'process_webhook_event', jsonb_build_object('event_id', e.id),
       case when e.message_id = 'old-dead-job' then 'dead' else 'queued' end,
       case when e.message_id = 'old-dead-job' then now() else null end
  from private.ob_webhook_events e where e.message_id in ('old-live-job', 'old-dead-job', 'ancient-live-job');

select is(private.ob_purge_webhook_payloads(), 3,
          'payloads purge: three settled events older than 30 days (processed, or their job is dead)');
select set_eq($$select message_id from private.ob_webhook_events where payload = '{}' and payload_cleared_at is not null$$,
              array['old-processed', 'old-dead-job', 'ancient-processed'],
              'their payloads are emptied and marked cleared; the rows stay');
select set_eq($$select message_id from private.ob_webhook_events where payload <> '{}'$$,
              array['old-live-job', 'recent-processed', 'ancient-live-job'],
              'a payload a job will still process, and a recent one, are kept');
select is(private.ob_purge_webhook_payloads(), 0, 'a second payloads purge finds nothing');
select throws_ok($$select public.ob_webhook_event_replay((select id from private.ob_webhook_events where message_id = 'old-processed'))$$,
                 '55000', null, 'a cleared event cannot be replayed (there is nothing to process)');
update private.ob_settings set value = '20' where key = 'webhook_payload_retention_days';
select is(private.ob_purge_webhook_payloads(), 1,
          'the payload age is read from private.ob_settings (20 days: the 29-day-old one goes)');

-- webhook event rows (the dedupe window) --------------------------------------------------------
select is(private.ob_purge_webhook_events(), 1, 'events purge: the one settled event older than 90 days');
select set_eq($$select message_id from private.ob_webhook_events$$,
              array['old-processed', 'old-live-job', 'old-dead-job', 'recent-processed', 'ancient-live-job'],
              'event rows within the dedupe window, and an old one a job will still process, are kept');
update private.ob_settings set value = '30' where key = 'webhook_retention_days';
select is(private.ob_purge_webhook_events(), 2,
          'the window is read from private.ob_settings (30 days: the processed and dead-job events go)');

-- jobs -------------------------------------------------------------------------------------------
delete from private.ob_jobs;
insert into private.ob_jobs (kind, status, finished_at, dedupe_key, payload) values
  ('sync_customer', 'succeeded', now() - interval '15 days', 'old-succeeded', '{}'),
  ('sync_customer', 'succeeded', now() - interval '13 days', 'recent-succeeded', '{}'),
  ('sync_customer', 'dead', now() - interval '31 days', 'old-dead', '{"finicity_customer_id": "ret-fin-1"}'),
  ('sync_customer', 'dead', now() - interval '29 days', 'recent-dead', '{}'),
  ('delete_customer', 'dead', now() - interval '400 days', 'unconfirmed-deletion', '{"deletion_id": 1, "finicity_customer_id": "ret-fin-2"}'),
  ('delete_customer', 'succeeded', now() - interval '15 days', 'confirmed-deletion', '{"deletion_id": 2}'),
  ('sync_customer', 'queued', null, 'queued', '{}');
select is(private.ob_purge_jobs(), 3, 'jobs purge: succeeded over 14 days, dead over 30 days');
select set_eq($$select dedupe_key from private.ob_jobs$$,
              array['recent-succeeded', 'recent-dead', 'unconfirmed-deletion', 'queued'],
              'recent jobs, queued ones, and a delete_customer job still holding a Mastercard id are kept');
select is((select count(*) from private.ob_jobs where payload ->> 'finicity_customer_id' = 'ret-fin-1'), 0::bigint,
          'a purged dead job takes its payload with it');

-- finished requests ------------------------------------------------------------------------------
create temp table fx (cpa uuid, client uuid) on commit drop;
insert into fx select u, tests.create_client(u) from tests.create_user('retention@cpa.test') u;
-- (as postgres: the CPA-only insert trigger leaves these statuses; updated_at is only set on update)
insert into public.open_banking_link_requests (platform_client_id, email_to, status, updated_at)
select client, 'dana@client.test', v.status, now() - v.age from fx,
       (values ('sent', interval '91 days'), ('failed', interval '91 days'), ('queued', interval '91 days'),
               ('sent', interval '89 days')) v(status, age);
insert into public.open_banking_sync_requests (platform_client_id, status, updated_at)
select client, v.status, now() - interval '91 days' from fx, (values ('succeeded'), ('running')) v(status);
insert into public.open_banking_document_requests (platform_client_id, kind, last_n, status, updated_at)
select client, 'statements', 1, v.status, now() - interval '91 days' from fx, (values ('partial'), ('queued')) v(status);
select is(private.ob_purge_requests(), 4,
          'requests purge: a sent and a failed link request, a succeeded refresh and a partial document request, '
          'finished over 90 days ago');
select set_eq($$select status from public.open_banking_link_requests$$, array['queued', 'sent'],
              'a waiting request and a recent one are kept');
select set_eq($$select status from public.open_banking_sync_requests$$, array['running'], 'a running refresh is kept');
select set_eq($$select status from public.open_banking_document_requests$$, array['queued'], 'a waiting document request is kept');

-- pg_cron's run log and the deletion audit ---------------------------------------------------------
insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status, start_time, end_time)
values (1, 900000001, 1, current_database(), 'postgres', 'select 1', 'succeeded', now() - interval '15 days', now() - interval '15 days'),
       (1, 900000002, 1, current_database(), 'postgres', 'select 1', 'succeeded', now() - interval '13 days', now() - interval '13 days');
select is(private.ob_purge_cron_history(), 1, 'cron history purge: the run over 14 days old');
insert into private.ob_deletions (platform_client_id, requested_by, mastercard, requested_at) values
  (gen_random_uuid(), 'platform', 'deleted', now() - interval '2556 days'),
  (gen_random_uuid(), 'platform', 'pending', now() - interval '2556 days'),
  (gen_random_uuid(), 'operator', 'deleted', now() - interval '2554 days');
select is(private.ob_purge_deletion_audit(), 1,
          'audit purge: the confirmed line over 7 years old (a pending one stays until Mastercard answers)');

select * from finish();
rollback;
