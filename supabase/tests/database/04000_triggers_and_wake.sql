-- Request triggers enqueue exactly one job in the same transaction and wake the service:
-- NOTIFY always (asserted through the function definitions: a NOTIFY is only delivered at commit),
-- and an HTTP POST through pg_net's net.http_post when it exists and wake_url is set (asserted
-- with a stub of pg_net's signature created inside this transaction).
begin;
select plan(17);

create temp table fx (a uuid, ca uuid, link_request_id uuid, sync_id uuid) on commit drop;
grant select, update on fx to public;
insert into fx (a) values (tests.create_user('trg-a@cpa.test'));
update fx set ca = tests.create_client(a);

-- pg_net stand-in: net.http_post(url, body, params, headers, timeout_milliseconds) records its calls.
create schema if not exists net;
create table net.stub_calls (n serial, url text, body jsonb, headers jsonb);
create function net.http_post(url text, body jsonb default '{}'::jsonb, params jsonb default '{}'::jsonb,
                              headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
                              timeout_milliseconds integer default 5000)
returns bigint language sql as $$
  insert into net.stub_calls (url, body, headers) values (url, body, headers) returning n::bigint
$$;

-- Without a wake_url nothing is posted.
delete from private.ob_settings where key in ('wake_url', 'wake_secret');
select lives_ok($$select private.ob_wake('x')$$, 'ob_wake works without a wake_url');
select is((select count(*) from net.stub_calls), 0::bigint, 'without a wake_url, ob_wake posts nothing');

insert into private.ob_settings (key, value) values ('wake_url', 'https://svc.test/internal/wake'), ('wake_secret', 's3cret');
select private.ob_wake('x');
select results_eq($$select url, body, headers ->> 'X-Internal-Secret', headers ->> 'Content-Type' from net.stub_calls$$,
                  $$values ('https://svc.test/internal/wake', '{"reason": "x"}'::jsonb, 's3cret', 'application/json')$$,
                  'with a wake_url and pg_net present, ob_wake posts once to wake_url with the X-Internal-Secret header');
delete from net.stub_calls;

-- The NOTIFY side (not observable inside a transaction): the definitions call it.
select ok(pg_get_functiondef('private.ob_wake(text)'::regprocedure) ~ $re$pg_notify\('ob_jobs'$re$,
          'ob_wake always sends NOTIFY on channel ob_jobs');
select ok(pg_get_functiondef('private.ob_enqueue_for_request()'::regprocedure) ~ 'private\.ob_wake\(',
          'the request trigger function calls private.ob_wake');
select is(array(select tgrelid::regclass::text || ':' || tgname from pg_trigger
                 where tgfoid = 'private.ob_enqueue_for_request()'::regprocedure and not tgisinternal order by 1),
          array['open_banking_link_requests:enqueue_job', 'open_banking_sync_requests:enqueue_job'],
          'both request tables have the enqueue_job trigger');

delete from private.ob_jobs;  -- rolled back; isolates the counts below

-- A CPA's link request: one deliver_link job, same transaction, and a wake-up.
select tests.authenticate_as((select a from fx));
with r as (insert into public.open_banking_link_requests (platform_client_id, email_to) select ca, 'o@client.test' from fx returning id)
update fx set link_request_id = (select id from r);
select tests.clear_auth();
select is((select count(*) from private.ob_jobs), 1::bigint, 'a link request enqueues exactly one job');
select results_eq($$select kind, payload, dedupe_key, status from private.ob_jobs$$,
                  $$select 'deliver_link'::text, jsonb_build_object('link_request_id', link_request_id),
                           'link_request:' || link_request_id, 'queued'::text from fx$$,
                  'the job is deliver_link with the request id, deduped by it, queued');
select results_eq($$select url, body from net.stub_calls$$,
                  $$values ('https://svc.test/internal/wake', '{"reason": "open_banking_link_requests"}'::jsonb)$$,
                  'the link request woke the service once');
delete from net.stub_calls;

-- A CPA's refresh request: one sync_customer job.
select tests.authenticate_as((select a from fx));
with r as (insert into public.open_banking_sync_requests (platform_client_id) select ca from fx returning id)
update fx set sync_id = (select id from r);
select tests.clear_auth();
select is((select count(*) from private.ob_jobs where kind = 'sync_customer'), 1::bigint, 'a refresh request enqueues exactly one job');
select results_eq($$select payload, dedupe_key, status from private.ob_jobs where kind = 'sync_customer'$$,
                  $$select jsonb_build_object('platform_client_id', ca, 'sync_request_id', sync_id, 'reason', 'refresh_request'),
                           'sync_request:' || sync_id, 'queued'::text from fx$$,
                  'the job is sync_customer with the client and request ids, deduped by the request (the client is not linked yet)');
select results_eq($$select body from net.stub_calls$$, $$values ('{"reason": "open_banking_sync_requests"}'::jsonb)$$,
                  'the refresh request woke the service once');

-- A second refresh while the first is queued joins it: no second job (its outcome follows the first's).
select tests.authenticate_as((select a from fx));
insert into public.open_banking_sync_requests (platform_client_id) select ca from fx;
select tests.clear_auth();
select is((select count(*) from private.ob_jobs where kind = 'sync_customer'), 1::bigint,
          'a second refresh request while one is queued enqueues nothing (it is coalesced)');

-- The job commits with the row: a failed insert leaves no job behind.
select tests.authenticate_as((select a from fx));
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to) select ca, 'bad' from fx$$, '23514');
select tests.clear_auth();
select is((select count(*) from private.ob_jobs), 2::bigint, 'a rejected request row leaves no job');

-- Enqueue from the service also wakes it.
delete from net.stub_calls;
select public.ob_job_enqueue('sync_customer', '{}'::jsonb, null);
select results_eq($$select body from net.stub_calls$$, $$values ('{"reason": "enqueued"}'::jsonb)$$,
                  'ob_job_enqueue wakes the service');

-- pg_net absent: no POST attempted, the trigger still works (the function is looked up at run time).
drop function net.http_post(text, jsonb, jsonb, jsonb, integer);
select lives_ok($$select private.ob_wake('no pg_net')$$, 'without pg_net, ob_wake still works (NOTIFY only)');

select * from finish();
rollback;
