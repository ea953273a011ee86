-- Dedupe key with a queued successor: "a running job may have one successor queued" (the partial
-- unique index ob_jobs_dedupe_queued_idx). Every path that puts a running/dead job back to
-- 'queued' must cope with that successor instead of failing on the unique index.
begin;
select plan(13);

delete from private.ob_jobs;
create temp table ids (name text primary key, id bigint) on commit drop;
create function pg_temp.id(p text) returns bigint language sql as $$ select id from ids where name = p $$;
-- Enqueue + claim a job with key p_key for worker p_worker, then queue its successor.
create function pg_temp.running_with_successor(p_name text, p_key text, p_worker text) returns void language plpgsql as $$
begin
  delete from private.ob_jobs;  -- each scenario starts from an empty queue (rolled back at the end)
  insert into ids select p_name, (public.ob_job_enqueue('sync_customer', '{}', p_key) ->> 'id')::bigint;
  perform public.ob_job_claim(p_worker, 1, 60);
  insert into ids select p_name || '_next', (public.ob_job_enqueue('sync_customer', '{}', p_key) ->> 'id')::bigint;
end
$$;

-- fail with retry
select pg_temp.running_with_successor('f', 'succ-fail', 'w1');
select is((select status from private.ob_jobs where id = pg_temp.id('f')), 'running', 'setup: the first job is running');
select isnt(pg_temp.id('f_next'), pg_temp.id('f'), 'setup: a successor with the same key is queued');
select lives_ok($$select public.ob_job_fail(pg_temp.id('f'), 'w1', 'transient', true)$$,
                'ob_job_fail(retry) of a running job whose key has a queued successor does not raise');
select is((select count(*) from private.ob_jobs where dedupe_key = 'succ-fail' and status = 'queued'), 1::bigint,
          '...and leaves exactly one queued job for the key');

-- release
select pg_temp.running_with_successor('r', 'succ-release', 'w2');
select lives_ok($$select public.ob_job_release(pg_temp.id('r'), 'w2')$$,
                'ob_job_release of a running job whose key has a queued successor does not raise');
select is((select count(*) from private.ob_jobs where dedupe_key = 'succ-release' and status in ('queued', 'running')), 1::bigint,
          '...and leaves exactly one live job for the key');

-- sweep: one expired job with a successor must not stop the sweeper reclaiming the others
select pg_temp.running_with_successor('s', 'succ-sweep', 'w3');
update private.ob_jobs set run_after = 'infinity' where status = 'queued';  -- so w4 claims 'other'
insert into ids select 'other', (public.ob_job_enqueue('sync_customer', '{}', null) ->> 'id')::bigint;
select public.ob_job_claim('w4', 1, 60);
update private.ob_jobs set locked_until = now() - interval '1 second' where id in (pg_temp.id('s'), pg_temp.id('other'));
select lives_ok($$select private.ob_job_sweep()$$,
                'ob_job_sweep does not raise when an expired job''s key has a queued successor');
select is((select status from private.ob_jobs where id = pg_temp.id('other')), 'queued',
          '...and still reclaims the other expired jobs');
select is((select count(*) from private.ob_jobs where dedupe_key = 'succ-sweep' and status = 'queued'), 1::bigint,
          '...and leaves exactly one queued job for the key');
select is((select count(*) from private.ob_jobs where status = 'running' and locked_until < now()), 0::bigint,
          '...and leaves no expired lease behind');

-- operator retry of a dead job whose key has a queued sibling
delete from private.ob_jobs;
insert into ids select 'd', (public.ob_job_enqueue('sync_customer', '{}', 'succ-retry') ->> 'id')::bigint;
select public.ob_job_claim('w5', 1, 60);
select public.ob_job_fail(pg_temp.id('d'), 'w5', 'fatal', false);
select is((select status from private.ob_jobs where id = pg_temp.id('d')), 'dead', 'setup: the job is dead');
select public.ob_job_enqueue('sync_customer', '{}', 'succ-retry');
select lives_ok($$select public.ob_job_retry(pg_temp.id('d'))$$,
                'ob_job_retry of a dead job whose key already has a queued job does not raise');
select is((select count(*) from private.ob_jobs where dedupe_key = 'succ-retry' and status = 'queued'), 1::bigint,
          '...and leaves exactly one queued job for the key');

select * from finish();
rollback;
