-- The job queue: enqueue with dedupe key, claim N with a lease (run_after, limit), lease expiry,
-- complete/fail/release/heartbeat/retry, jittered exponential backoff, dead after max_attempts,
-- and the sweeper. (Two racing claimers need two connections: see the pytest suite.)
begin;
select plan(55);

delete from private.ob_jobs;  -- rolled back; the claims below see only this file's jobs
create temp table ids (name text primary key, id bigint) on commit drop;
create function pg_temp.id(p text) returns bigint language sql as $$ select id from ids where name = p $$;
create function pg_temp.job(p text) returns private.ob_jobs language sql as $$ select * from private.ob_jobs where id = pg_temp.id(p) $$;

-- dedupe key -----------------------------------------------------------------------------------
insert into ids select 'd1', (public.ob_job_enqueue('check_consent', '{"n":1}', 'key-1') ->> 'id')::bigint;
select is(public.ob_job_enqueue('check_consent', '{"n":2}', 'key-1'),
          jsonb_build_object('id', pg_temp.id('d1'), 'created', false),
          'a second enqueue with the same key while queued returns the same id, created=false');
select is((select count(*) from private.ob_jobs where dedupe_key = 'key-1'), 1::bigint, 'only one job exists for the key');
select is((pg_temp.job('d1')).payload, '{"n":1}'::jsonb, 'the duplicate does not overwrite the queued job''s payload');
select is(jsonb_array_length(public.ob_job_claim('w1', 1, 60)), 1, 'the keyed job is claimed');
insert into ids select 'd2', (public.ob_job_enqueue('check_consent', '{"n":3}', 'key-1') ->> 'id')::bigint;
select ok(pg_temp.id('d2') <> pg_temp.id('d1'), 'once the first is running, a successor with the same key can be queued');
select is(public.ob_job_enqueue('check_consent', '{}', 'key-1') ->> 'id', pg_temp.id('d2')::text,
          '...and only one successor: the next enqueue returns the queued successor');
select is(public.ob_job_enqueue('check_consent', '{}', null) ->> 'created', 'true', 'jobs without a key are never deduped (1)');
select is(public.ob_job_enqueue('check_consent', '{}', null) ->> 'created', 'true', 'jobs without a key are never deduped (2)');
select throws_ok($$select public.ob_job_enqueue('no_such_kind', '{}', null)$$, '23514', null, 'an unknown job kind is refused');
delete from private.ob_jobs;

-- claim: run_after, limit, order ---------------------------------------------------------------
insert into ids select 'c1', (public.ob_job_enqueue('sync_customer', '{}', null, now() - interval '3 min') ->> 'id')::bigint;
insert into ids select 'c2', (public.ob_job_enqueue('sync_customer', '{}', null, now() - interval '2 min') ->> 'id')::bigint;
insert into ids select 'c3', (public.ob_job_enqueue('sync_customer', '{}', null, now() - interval '1 min') ->> 'id')::bigint;
insert into ids select 'cf', (public.ob_job_enqueue('sync_customer', '{}', null, now() + interval '1 hour') ->> 'id')::bigint;
select is((select array_agg((j ->> 'id')::bigint) from jsonb_array_elements(public.ob_job_claim('w1', 2, 60)) j),
          array[pg_temp.id('c1'), pg_temp.id('c2')], 'claim respects the limit and takes the oldest due jobs first');
select results_eq($$select status, attempts, locked_by, locked_until from private.ob_jobs where id = pg_temp.id('c1')$$,
                  $$values ('running'::text, 1, 'w1'::text, now() + interval '60 seconds')$$,
                  'a claimed job is running, attempts=1, locked by the worker until now()+lease');
select is((select array_agg((j ->> 'id')::bigint) from jsonb_array_elements(public.ob_job_claim('w2', 10, 60)) j),
          array[pg_temp.id('c3')], 'claim takes only due jobs: not the running ones, not the one with run_after in the future');
select is(public.ob_job_claim('w3', 10, 60), '[]'::jsonb, 'nothing due: claim returns an empty array');
select is(public.ob_job_claim('w3', 0, 60), '[]'::jsonb, 'claim with limit 0 returns nothing');
select throws_ok($$select public.ob_job_claim('', 1, 60)$$, '22023', null, 'claim requires a worker name');

-- lease expiry and heartbeat -------------------------------------------------------------------
update private.ob_jobs set locked_until = now() - interval '1 second' where id = pg_temp.id('c1');
select is((select array_agg((j ->> 'id')::bigint) from jsonb_array_elements(public.ob_job_claim('w9', 10, 60)) j),
          array[pg_temp.id('c1')], 'after its lease expires, a running job is claimable again');
select results_eq($$select status, attempts, locked_by from private.ob_jobs where id = pg_temp.id('c1')$$,
                  $$values ('running'::text, 2, 'w9'::text)$$, 'the reclaimed job has attempts=2 and the new owner');
select is(public.ob_job_heartbeat(pg_temp.id('c1'), 'w1', 60), '{"extended": false}'::jsonb, 'the old owner can no longer heartbeat it');
select is(public.ob_job_heartbeat(pg_temp.id('c1'), 'w9', 600), '{"extended": true}'::jsonb, 'the owner can heartbeat it');
select is((pg_temp.job('c1')).locked_until, now() + interval '600 seconds', 'heartbeat extends the lease');

-- complete -------------------------------------------------------------------------------------
select is(public.ob_job_complete(pg_temp.id('c1'), 'w1'), '{"completed": false}'::jsonb, 'complete by the wrong worker: completed=false');
select is((pg_temp.job('c1')).status, 'running', '...and the job is still running');
select is(public.ob_job_complete(pg_temp.id('c1'), 'w9'), '{"completed": true}'::jsonb, 'complete by the owner: completed=true');
select results_eq($$select status, locked_by, locked_until, finished_at from private.ob_jobs where id = pg_temp.id('c1')$$,
                  $$values ('succeeded'::text, null::text, null::timestamptz, now())$$, 'a completed job is succeeded, unlocked, finished');
select is(public.ob_job_complete(pg_temp.id('c1'), 'w9'), '{"completed": false}'::jsonb, 'completing twice: completed=false');
select is(public.ob_job_claim('w3', 10, 60), '[]'::jsonb, 'a succeeded job is never claimed');

-- fail and backoff -----------------------------------------------------------------------------
delete from private.ob_jobs;
insert into ids select 'f1', (public.ob_job_enqueue('sync_customer', '{}', null, null, 10) ->> 'id')::bigint;
create temp table backoff (attempt int, secs numeric) on commit drop;
do $$
declare
  v jsonb;
begin
  for i in 1..4 loop
    update private.ob_jobs set run_after = now() where id = pg_temp.id('f1');
    perform public.ob_job_claim('wf', 1, 60);
    v := public.ob_job_fail(pg_temp.id('f1'), 'wf', 'boom ' || i);
    insert into backoff select i, extract(epoch from (v ->> 'run_after')::timestamptz - now());
  end loop;
end
$$;
select results_eq($$select status, attempts, last_error, locked_by from private.ob_jobs where id = pg_temp.id('f1')$$,
                  $$values ('queued'::text, 4, 'boom 4'::text, null::text)$$, 'a failed job goes back to queued with its error, unlocked');
select ok(secs between 0.75 * 5 * 2 ^ (attempt - 1) and 1.25 * 5 * 2 ^ (attempt - 1),
          format('backoff after attempt %s is 5 s * 2^%s +-25%% (got %s s)', attempt, attempt - 1, round(secs, 2)))
  from backoff order by attempt;
select ok((select bool_and(b2.secs > b1.secs) from backoff b1 join backoff b2 on b2.attempt = b1.attempt + 1),
          'backoff grows with every attempt');
select is(public.ob_job_claim('wf', 1, 60), '[]'::jsonb, 'a failed job is not claimable before its run_after');
select ok(private.ob_backoff_seconds(30) <= 3600 * 1.25, 'backoff is capped (one hour +-25%)');
select is(public.ob_job_fail(pg_temp.id('f1'), 'wf', 'not running'), '{"updated": false}'::jsonb, 'failing a job that is not running: updated=false');

-- dead after max_attempts; fail without retry --------------------------------------------------
insert into ids select 'm2', (public.ob_job_enqueue('check_consent', '{}', null, null, 2) ->> 'id')::bigint;
update private.ob_jobs set run_after = 'infinity' where id = pg_temp.id('f1');
select public.ob_job_claim('wm', 1, 60);
select is(public.ob_job_fail(pg_temp.id('m2'), 'wx', 'not mine') ->> 'updated', 'false', 'fail by the wrong worker: updated=false');
select is(public.ob_job_fail(pg_temp.id('m2'), 'wm', 'first') ->> 'status', 'queued', 'attempt 1 of 2 fails: queued again');
update private.ob_jobs set run_after = now() where id = pg_temp.id('m2');
select public.ob_job_claim('wm', 1, 60);
select is(public.ob_job_fail(pg_temp.id('m2'), 'wm', 'second'), '{"status": "dead", "updated": true}'::jsonb, 'attempt 2 of 2 fails: dead');
select results_eq($$select status, attempts, last_error, finished_at from private.ob_jobs where id = pg_temp.id('m2')$$,
                  $$values ('dead'::text, 2, 'second'::text, now())$$, 'the dead job keeps its attempts and last error and is finished');
update private.ob_jobs set run_after = now() - interval '1 hour' where id = pg_temp.id('m2');
select is(public.ob_job_claim('wm', 10, 60), '[]'::jsonb, 'a dead job is never claimed');

insert into ids select 'nr', (public.ob_job_enqueue('check_consent', '{}', null) ->> 'id')::bigint;
select public.ob_job_claim('wn', 1, 60);
select is(public.ob_job_fail(pg_temp.id('nr'), 'wn', 'permanent', false) ->> 'status', 'dead', 'fail with p_retry=false: dead at once');
select is((pg_temp.job('nr')).attempts, 1, '...after a single attempt');

-- release --------------------------------------------------------------------------------------
insert into ids select 'r1', (public.ob_job_enqueue('sync_customer', '{}', null) ->> 'id')::bigint;
select public.ob_job_claim('wr', 1, 60);
select is(public.ob_job_release(pg_temp.id('r1'), 'wx'), '{"released": false}'::jsonb, 'release by the wrong worker: released=false');
select is(public.ob_job_release(pg_temp.id('r1'), 'wr'), '{"released": true}'::jsonb, 'release by the owner: released=true');
select results_eq($$select status, attempts, locked_by, run_after from private.ob_jobs where id = pg_temp.id('r1')$$,
                  $$values ('queued'::text, 0, null::text, now())$$, 'a released job is queued, due now, with the attempt given back');

-- retry ----------------------------------------------------------------------------------------
select is(public.ob_job_retry(pg_temp.id('m2')), '{"retried": true}'::jsonb, 'retry of a dead job: retried=true');
select results_eq($$select status, attempts, finished_at, run_after from private.ob_jobs where id = pg_temp.id('m2')$$,
                  $$values ('queued'::text, 0, null::timestamptz, now())$$, 'the retried job is queued, due now, with attempts reset');
select is(public.ob_job_retry(pg_temp.id('c1')), '{"retried": false}'::jsonb, 'a succeeded (or missing) job is not retried');

-- sweeper --------------------------------------------------------------------------------------
delete from private.ob_jobs;
insert into ids select 's_expired', (public.ob_job_enqueue('sync_customer', '{}', null, null, 5) ->> 'id')::bigint;
insert into ids select 's_spent', (public.ob_job_enqueue('sync_customer', '{}', null, null, 1) ->> 'id')::bigint;
insert into ids select 's_live', (public.ob_job_enqueue('sync_customer', '{}', null, null, 5) ->> 'id')::bigint;
select public.ob_job_claim('ws', 3, 60);
update private.ob_jobs set locked_until = now() - interval '1 second' where id in (pg_temp.id('s_expired'), pg_temp.id('s_spent'));
select is(private.ob_job_sweep(), 2, 'the sweeper reclaims the two expired leases');
select results_eq($$select status, locked_by, last_error, attempts from private.ob_jobs where id = pg_temp.id('s_expired')$$,
                  $$values ('queued'::text, null::text, 'lease expired'::text, 1)$$, 'an expired lease with attempts left goes back to the queue');
select results_eq($$select status, last_error, finished_at from private.ob_jobs where id = pg_temp.id('s_spent')$$,
                  $$values ('dead'::text, 'lease expired'::text, now())$$, 'an expired lease with no attempts left is dead');
select results_eq($$select status, locked_by from private.ob_jobs where id = pg_temp.id('s_live')$$,
                  $$values ('running'::text, 'ws'::text)$$, 'a live lease is left alone');

-- claim also kills, rather than reclaims, an expired job with no attempts left
update private.ob_jobs set run_after = 'infinity' where status = 'queued';
insert into ids select 'k1', (public.ob_job_enqueue('sync_customer', '{}', null, null, 1) ->> 'id')::bigint;
select public.ob_job_claim('wk', 1, 60);
update private.ob_jobs set locked_until = now() - interval '1 second' where id = pg_temp.id('k1');
select is(public.ob_job_claim('wk2', 10, 60), '[]'::jsonb, 'claim does not hand out an expired job that has used all its attempts...');
select is((pg_temp.job('k1')).status, 'dead', '...it marks it dead');

-- overview
select is((public.ob_job_overview() -> 'counts'), '{"dead": 2, "queued": 1, "running": 1}'::jsonb, 'ob_job_overview counts jobs per status');

select * from finish();
rollback;
