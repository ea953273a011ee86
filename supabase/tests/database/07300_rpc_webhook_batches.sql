-- Webhook events in batches: ob_webhook_events_claim takes due event jobs with their events under a
-- lease; ob_webhook_events_apply applies a batch's effects in one call, marks the events processed and
-- completes the jobs (only the lease holder's). Link status follows event time as in
-- ob_customer_set_link_status, applied to all of a batch's changes at once.
begin;
select plan(17);

delete from private.ob_jobs;
delete from private.ob_webhook_events;
create temp table fx (a uuid, c1 uuid, c2 uuid, claimed jsonb, login bigint) on commit drop;
grant select, update on fx to public;
insert into fx (a) values (tests.create_user('batch-a@cpa.test'));
update fx set c1 = tests.create_client(a), c2 = tests.create_client(a), login = 88001;
insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username, customer_type, link_status)
select c1, 'bat-fin-1', 'bat-u1', 'testing', 'pending' from fx union all
select c2, 'bat-fin-2', 'bat-u2', 'testing', 'linked' from fx;
update public.open_banking_customers set link_status_at = '2026-01-01T00:00:00Z' where finicity_customer_id like 'bat-fin-%';

select tests.as_service_role();
select public.ob_webhook_events_ingest(jsonb_build_array(
  jsonb_build_object('p_source', 'connect', 'p_message_id', 'b-1', 'p_event_type', 'done', 'p_finicity_customer_id', 'bat-fin-1', 'p_payload', '{}'::jsonb, 'p_verified', true),
  jsonb_build_object('p_source', 'connect', 'p_message_id', 'b-2', 'p_event_type', 'adding', 'p_finicity_customer_id', 'bat-fin-1', 'p_payload', '{}'::jsonb, 'p_verified', true),
  jsonb_build_object('p_source', 'connect', 'p_message_id', 'b-3', 'p_event_type', 'done', 'p_finicity_customer_id', 'nobody', 'p_payload', '{}'::jsonb, 'p_verified', true)));
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id)
select login, c1, (select id from public.open_banking_customers where finicity_customer_id = 'bat-fin-1') from fx;

select throws_ok($$select public.ob_webhook_events_claim('', 10, 60)$$, '22023', null, 'a worker name is required');
update fx set claimed = public.ob_webhook_events_claim('w1', 2, 60);
select is(jsonb_array_length((select claimed from fx)), 2, 'p_limit bounds the batch');
select is((select array_agg(e.message_id order by e.id)
             from fx, jsonb_array_elements(claimed) c join private.ob_webhook_events e on e.id = (c -> 'event' ->> 'id')::bigint),
          array['b-1', 'b-2'], 'the oldest due jobs come first, each with its event');
select ok((select bool_and((c -> 'event' ->> 'customer_known')::boolean) from fx, jsonb_array_elements(claimed) c),
          'each event says whether its customer is ours');
select is((select count(*) from private.ob_jobs where status = 'running' and locked_by = 'w1'), 2::bigint,
          'the claimed jobs are running under w1''s lease');
select is(jsonb_array_length(public.ob_webhook_events_claim('w2', 10, 60)), 1, 'another worker gets only what is left');
select is((select c -> 'event' ->> 'customer_known' from jsonb_array_elements(public.ob_webhook_events_claim('w3', 10, 60)) c),
          null, 'nothing is claimed twice while its lease holds');

-- done at 10:00 and a later adding at 11:00 in one batch: pending never undoes linked.
select is(public.ob_webhook_events_apply('w1', jsonb_build_object(
  'events', (select jsonb_agg(jsonb_build_object('id', c -> 'event' -> 'id', 'note', null)) from fx, jsonb_array_elements(claimed) c),
  'jobs', (select jsonb_agg(c -> 'job_id') from fx, jsonb_array_elements(claimed) c),
  'statuses', jsonb_build_array(
     jsonb_build_object('customer', 'bat-fin-1', 'status', 'linked', 'at', '2026-02-01T10:00:00Z', 'ord', 0),
     jsonb_build_object('customer', 'bat-fin-1', 'status', 'pending', 'at', '2026-02-01T11:00:00Z', 'ord', 1),
     jsonb_build_object('customer', 'bat-fin-2', 'status', 'error', 'at', '2025-12-01T00:00:00Z', 'code', '103', 'message', 'old', 'ord', 1)),
  'enqueue', jsonb_build_array(
     jsonb_build_object('kind', 'sync_customer', 'payload', jsonb_build_object('finicity_customer_id', 'bat-fin-1'), 'dedupe_key', 'sync:bat-fin-1'),
     jsonb_build_object('kind', 'sync_customer', 'payload', jsonb_build_object('finicity_customer_id', 'bat-fin-1'), 'dedupe_key', 'sync:bat-fin-1')),
  'reauth', jsonb_build_array(
     jsonb_build_object('event', (select (claimed -> 0 -> 'event' ->> 'id')::bigint from fx), 'login', 88001, 'message', 'renew'),
     jsonb_build_object('event', (select (claimed -> 1 -> 'event' ->> 'id')::bigint from fx), 'login', 1, 'message', 'renew')))),
  '{"completed": 2, "enqueued": 1}'::jsonb, 'one call completes the batch''s jobs and enqueues one sync for two asks');
select is((select link_status || '@' || link_status_at::text from public.open_banking_customers where finicity_customer_id = 'bat-fin-1'),
          'linked@2026-02-01 10:00:00+00', 'done then a later adding in one batch ends linked at the done''s time');
select is((select link_status from public.open_banking_customers where finicity_customer_id = 'bat-fin-2'), 'linked',
          'a change older than the current status is ignored');
select is((select needs_reauth from public.open_banking_institution_logins where id = 88001), true, 'a reminder flags its login');
select is((select array_agg(coalesce(process_error, '-') order by message_id) from private.ob_webhook_events where message_id in ('b-1', 'b-2')),
          array['-', 'unknown institution login 1'], 'both events are processed; a reminder for an unknown login is noted');
select is((select count(*) from private.ob_jobs where kind = 'process_webhook_event' and status = 'succeeded'), 2::bigint,
          'the batch''s jobs are complete');
select is(public.ob_webhook_events_apply('w2', jsonb_build_object('jobs', (select jsonb_agg(c -> 'job_id') from fx, jsonb_array_elements(claimed) c)))
            ->> 'completed', '0', 'a worker cannot complete jobs it does not hold');
select is(public.ob_webhook_events_apply('w1', jsonb_build_object(
            'events', jsonb_build_array(jsonb_build_object('id', (select (claimed -> 0 -> 'event' ->> 'id')::bigint from fx), 'note', 'again')))),
          '{"completed": 0, "enqueued": 0}'::jsonb, 'applying a processed event again is harmless');
select is((select process_error from private.ob_webhook_events where message_id = 'b-1'), null, '...and does not rewrite its outcome');
select tests.clear_auth();

select tests.authenticate_as((select a from fx));
select throws_ok($$select public.ob_webhook_events_claim('x', 1, 60)$$, '42501', null, 'a CPA cannot claim webhook events');
select tests.clear_auth();

select * from finish();
rollback;
