-- One sync per client: whoever asks (a CPA's refresh, a webhook, the daily schedule, a historic load),
-- a client has at most one sync job waiting, and the running one at most one successor. A request
-- arriving while one waits is folded into it (private.ob_job_fold): the waiting job does what both
-- asked and takes the better place in the queue. A job ending without its outcome hands its work
-- to the waiting successor, so a CPA's refresh request is never left unfinished.
begin;
select plan(24);

delete from private.ob_jobs;  -- rolled back; the counts below see only this file's jobs
create temp table fx (a uuid, ca uuid, cb uuid, cu uuid, req uuid, req2 uuid, running bigint) on commit drop;
grant select, update on fx to public;
insert into fx (a) values (tests.create_user('one-sync@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(a), cu = tests.create_client(a);
insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username, customer_type, link_status)
select ca, '7400000001', 'one-sync-a', 'testing', 'linked' from fx
union all select cb, '7400000002', 'one-sync-b', 'testing', 'linked' from fx;
update private.ob_settings set value = '0' where key = 'refresh_min_interval_seconds';

create function pg_temp.live(p_status text) returns bigint language sql as $$
  select count(*) from private.ob_jobs where kind = 'sync_customer' and dedupe_key = 'sync:7400000001' and status = p_status
$$;
create function pg_temp.waiting() returns private.ob_jobs language sql as $$
  select * from private.ob_jobs where kind = 'sync_customer' and dedupe_key = 'sync:7400000001' and status = 'queued'
$$;

-- Every asker's job carries the client's one key --------------------------------------------------
select is(private.ob_schedule_daily_sync(), 2, 'the daily schedule asks for a sync of each linked client');
select results_eq($$select (pg_temp.waiting()).priority, (pg_temp.waiting()).payload ->> 'reason'$$,
                  $$values (2::smallint, 'daily'::text)$$, 'the daily sync waits in the bulk class');

select tests.authenticate_as((select a from fx));
with r as (insert into public.open_banking_sync_requests (platform_client_id) select ca from fx returning id)
update fx set req = (select id from r);
select tests.clear_auth();
select is(pg_temp.live('queued'), 1::bigint, 'a CPA''s refresh while the daily sync waits: still one sync waiting');
select results_eq($$select (pg_temp.waiting()).payload ->> 'sync_request_id', (pg_temp.waiting()).payload ->> 'reason',
                           (pg_temp.waiting()).priority$$,
                  $$select req::text, 'refresh_request'::text, 1::smallint from fx$$,
                  '...which now finishes the CPA''s request and moved up to the refresh class');
select is((select count(*) from private.ob_jobs where kind = 'sync_customer' and status = 'queued'), 2::bigint,
          'the other client''s daily sync is untouched (one each)');

select is(public.ob_job_enqueue('sync_customer', '{"finicity_customer_id": "7400000001", "reason": "connect:added"}',
                                'sync:7400000001') ->> 'created', 'false',
          'a webhook''s sync for the same client is folded in (created = false)');
select results_eq($$select (pg_temp.waiting()).priority, (pg_temp.waiting()).payload ->> 'sync_request_id' is not null$$,
                  $$values (0::smallint, true)$$, '...moving it to the webhook class and keeping the CPA''s request');
select is(public.ob_job_enqueue('sync_customer', '{"platform_client_id": "00000000-0000-0000-0000-000000000000"}',
                                'whatever') ->> 'created', 'true',
          'a client with no customer yet keeps the caller''s key');

-- Running plus one successor ---------------------------------------------------------------------
update private.ob_jobs set run_after = 'infinity' where kind = 'sync_customer' and dedupe_key <> 'sync:7400000001';
update fx set running = (select (public.ob_job_claim('w1', 1, 60) -> 0 ->> 'id')::bigint);
select results_eq($$select pg_temp.live('running'), pg_temp.live('queued')$$, $$values (1::bigint, 0::bigint)$$,
                  'the worker runs the client''s sync');
select is(private.ob_schedule_daily_sync(), 2, 'the next day''s schedule while it runs...');
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_sync_requests (platform_client_id) select ca from fx$$,
                '...and a second CPA refresh (joins the first request, still in flight)');
select tests.clear_auth();
select results_eq($$select pg_temp.live('running'), pg_temp.live('queued')$$, $$values (1::bigint, 1::bigint)$$,
                  'one running, one successor: nothing more');
select is((select count(*) from public.open_banking_sync_requests where coalesced_into = (select req from fx)), 1::bigint,
          'the second refresh request joined the first');

-- A job ending without its outcome hands its work to the successor ---------------------------------
select is(public.ob_job_fail((select running from fx), 'w1', 'Mastercard 503', true) ->> 'status', 'superseded',
          'the running sync fails with retries left while its successor waits: superseded');
select results_eq($$select pg_temp.live('running'), pg_temp.live('queued')$$, $$values (0::bigint, 1::bigint)$$,
                  '...leaving the one successor');
select is((pg_temp.waiting()).payload ->> 'sync_request_id', (select req::text from fx),
          '...which now carries the CPA''s request (it would otherwise never finish)');

update fx set running = (select (public.ob_job_claim('w2', 1, 60) -> 0 ->> 'id')::bigint);
select public.ob_job_enqueue('sync_customer', '{"finicity_customer_id": "7400000001", "reason": "connect:added"}', null);
select is(public.ob_job_release((select running from fx), 'w2') ->> 'released', 'true', 'a stopping worker releases it');
select results_eq($$select pg_temp.live('running'), pg_temp.live('queued'), (pg_temp.waiting()).payload ->> 'sync_request_id'$$,
                  $$select 0::bigint, 1::bigint, req::text from fx$$,
                  '...into the successor, the request with it (one sync waiting)');

update fx set running = (select (public.ob_job_claim('w3', 1, 60) -> 0 ->> 'id')::bigint);
select public.ob_job_enqueue('sync_customer', '{"finicity_customer_id": "7400000001", "reason": "daily"}', null);
update private.ob_jobs set locked_until = now() - interval '1 second' where id = (select running from fx);
select private.ob_job_sweep();
select results_eq($$select pg_temp.live('running'), pg_temp.live('queued'), (pg_temp.waiting()).payload ->> 'sync_request_id',
                           (pg_temp.waiting()).priority$$,
                  $$select 0::bigint, 1::bigint, req::text, 0::smallint from fx$$,
                  'a crashed worker''s expired sync hands over too, keeping the request and the webhook''s class');

-- What a fold keeps ---------------------------------------------------------------------------------
select is(private.ob_job_fold('sync_customer', '{"history_login_ids": [5, 1]}', '{"history_login_ids": [2, 5]}')
            -> 'history_login_ids', '[1, 2, 5]'::jsonb,
          'two historic loads: one sync reads both logins'' older windows');
select is(private.ob_job_fold('sync_customer', '{"reason": "daily"}', '{"sync_request_id": "r", "refreshed": true, "reason": "refresh_request"}'),
          '{"sync_request_id": "r", "refreshed": true, "reason": "refresh_request"}'::jsonb,
          'a refreshed request joining a daily sync keeps its flag and reason');
select is(private.ob_job_fold('sync_customer', '{"sync_request_id": "r", "reason": "refresh_request"}', '{"refreshed": true, "reason": "daily"}'),
          '{"sync_request_id": "r", "reason": "refresh_request"}'::jsonb,
          'another asker''s flag never attaches to the waiting request');
select is(private.ob_job_fold('sync_customer', '{"sync_request_id": "r"}', '{"sync_request_id": "r", "refreshed": true}'),
          '{"sync_request_id": "r", "refreshed": true}'::jsonb,
          'the request''s own refresh completing while its first job waits to retry: the job syncs, no second refresh');
select is(private.ob_job_fold('check_consent', '{"n": 1}', '{"n": 2}'), '{"n": 1}'::jsonb,
          'other kinds keep the waiting job''s payload');

select * from finish();
rollback;
