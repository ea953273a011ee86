-- The durable job queue. Triggers and pg_cron enqueue; service workers claim with a lease
-- (`for update skip locked`), then complete, fail (jittered exponential backoff, `dead` after
-- max_attempts) or release. A job whose lease expired (crashed worker) is claimable again.
-- Handlers are idempotent, so running a job twice is safe; the lease makes it rare.
-- Its pg_cron sweeper is scheduled in ..1000_schedules.sql with the other schedules.

-- =================================================================================================
-- private.ob_jobs
-- =================================================================================================

create table private.ob_jobs (
  id            bigint generated always as identity primary key,
  kind          text not null check (kind in (
                  'deliver_link', 'sync_customer', 'process_webhook_event',
                  'check_consent', 'delete_customer', 'produce_documents', 'account_request',
                  'refresh_institutions',
                  -- one historic load per bank login; following a refresh to its end (issue 12)
                  'load_history', 'follow_refresh')),
  payload       jsonb not null default '{}',
  dedupe_key    text,
  status        text not null default 'queued'
                check (status in ('queued', 'running', 'succeeded', 'dead')),
  attempts      integer not null default 0,
  -- the attempt budget is the job_max_attempts setting (private.ob_settings), read when the job is made
  max_attempts  integer not null default (private.ob_setting('job_max_attempts')::integer) check (max_attempts > 0),
  run_after     timestamptz not null default now(),
  locked_by     text,
  locked_until  timestamptz,
  last_error    text,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  finished_at   timestamptz,
  -- The fair queue (set by private.ob_job_place at insert): claims go by priority class, then by
  -- fair_seq, the job's turn among its client's jobs, so clients take turns within a class.
  priority      smallint not null default 1,
  fair_key      text not null default '',
  fair_seq      bigint not null default 0
);
revoke all on private.ob_jobs from public, anon, authenticated;
grant select on private.ob_jobs to service_role;

-- At most one waiting job per dedupe key; a running one may have one successor queued.
create unique index ob_jobs_dedupe_queued_idx on private.ob_jobs (dedupe_key) where status = 'queued';
create index ob_jobs_due_idx on private.ob_jobs (run_after) where status = 'queued';
create index ob_jobs_lease_idx on private.ob_jobs (locked_until) where status = 'running';
create index ob_jobs_finished_idx on private.ob_jobs (finished_at) where status in ('succeeded', 'dead');
-- The webhook batch drain (ob_webhook_events_claim) takes due events in order without scanning other kinds.
create index ob_jobs_webhook_due_idx on private.ob_jobs (run_after, id)
  where status = 'queued' and kind = 'process_webhook_event';
-- The claim walks this in order, and placing a job reads the class's first turn from it. Its
-- predicate names run_after so that only queries that say so (the claim's run_after <= now(), the
-- class look-up's run_after is not null) can use it: the client look-up must take the next index,
-- whatever the planner guesses about a young, small queue.
create index ob_jobs_fair_claim_idx on private.ob_jobs (priority, fair_seq, run_after, id)
  where status = 'queued' and run_after is not null;
-- Placing a job reads its client's last turn from this.
create index ob_jobs_fair_key_idx on private.ob_jobs (fair_key, fair_seq desc) where status = 'queued';

-- One sync per client. Every sync_customer job of a client, whoever asks (a CPA's refresh, a webhook,
-- the daily schedule, a historic load's follow-up, an account put back in sync), carries the key
-- `sync:<Mastercard customer id>` (set here, whatever key the caller gave), so at most one waits and
-- the running one has at most one successor. A request arriving while one waits is folded into it
-- (private.ob_job_fold): the waiting job then does what both asked.

-- Where a new job stands in the fair queue.
--   priority 0: a link to deliver, a webhook to process, a sync a webhook asked for (someone is
--               waiting: a client mid-Connect, Mastercard's doorbell);
--            1: a CPA's refresh, consent checks, deletions;
--            2: the daily sync (bulk, nobody waiting).
--   fair_key:   the md5 of the platform client the job is for (else of its Mastercard customer,
--               else of its kind); webhook events share one key and run in arrival order.
--   fair_seq:   start-time fair queuing: one past the client's last waiting job, but never before the
--               class's earliest waiting turn. A client with 10,000 waiting jobs holds turns
--               n..n+9,999; another client's new job takes turn n, so it is claimed after at most one
--               job of each other client with work waiting in its class (and after every job of a
--               higher class).
create function private.ob_job_place()
returns trigger
language plpgsql
security definer
set search_path = ''
-- Both look-ups are one step down an index; a plan cached while the queue was empty would scan the
-- whole table for every job placed (10,000 jobs in one statement: minutes instead of a second).
set enable_seqscan = off
as $$
declare
  v_link_request text := new.payload->>'link_request_id';
  v_finicity_customer_id text := new.payload->>'finicity_customer_id';
begin
  if new.kind = 'sync_customer' then
    v_finicity_customer_id := coalesce(v_finicity_customer_id,
      (select c.finicity_customer_id from public.open_banking_customers c
        where c.platform_client_id = (new.payload->>'platform_client_id')::uuid));
    -- A client not linked yet has no customer: its job keeps the caller's key (it will only fail the request).
    if v_finicity_customer_id is not null then
      new.dedupe_key := 'sync:' || v_finicity_customer_id;
    end if;
  end if;
  new.priority := case
    when new.kind in ('deliver_link', 'process_webhook_event') then 0
    when new.kind = 'sync_customer' and new.payload ? 'sync_request_id' then 1
    when new.kind = 'sync_customer' and new.payload->>'reason' = 'daily' then 2
    when new.kind = 'sync_customer' then 0
    else 1
  end;
  -- A digest, not the id: the key only groups a client's jobs, and a deleted client's id must not
  -- outlive its deletion in a job row (..1500_client_deletion.sql strips payloads, not this).
  new.fair_key := case when new.kind = 'process_webhook_event' then 'webhooks' else pg_catalog.md5(coalesce(
    new.payload->>'platform_client_id',
    (select c.platform_client_id::text from public.open_banking_customers c
      where c.finicity_customer_id = v_finicity_customer_id),
    (select e.platform_client_id::text from public.open_banking_link_requests e
      where v_link_request ~ '^[0-9a-fA-F-]{36}$' and e.id = v_link_request::uuid),
    new.payload->>'finicity_customer_id',
    new.kind)) end;
  new.fair_seq := greatest(
    coalesce((select j.fair_seq + 1 from private.ob_jobs j
               where j.status = 'queued' and j.fair_key = new.fair_key order by j.fair_seq desc limit 1), 0),
    coalesce((select j.fair_seq from private.ob_jobs j
               where j.status = 'queued' and j.run_after is not null and j.priority = new.priority
               order by j.fair_seq limit 1), 0));
  return new;
end
$$;
revoke all on function private.ob_job_place() from public, anon, authenticated;

create trigger place_in_fair_queue before insert on private.ob_jobs
  for each row execute function private.ob_job_place();
create trigger set_updated_at before update on private.ob_jobs
  for each row execute function private.set_updated_at();

-- Wake-up ------------------------------------------------------------------------------------------

-- Ring the service: NOTIFY always (the postgres adapter LISTENs); an HTTP POST through pg_net
-- when that extension exists and a wake_url is configured (hosted Supabase). Looked up at run
-- time, so this migration applies unchanged with or without pg_net.
create function private.ob_wake(p_reason text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_url text := private.ob_setting('wake_url');
begin
  perform pg_catalog.pg_notify('ob_jobs', p_reason);
  if v_url is not null and pg_catalog.to_regprocedure('net.http_post(text,jsonb,jsonb,jsonb,integer)') is not null then
    execute 'select net.http_post(url := $1, body := $2, headers := $3)'
      using v_url,
            pg_catalog.jsonb_build_object('reason', p_reason),
            pg_catalog.jsonb_build_object(
              'Content-Type', 'application/json',
              'X-Internal-Secret', coalesce(private.ob_setting('wake_secret'), ''));
  end if;
end
$$;
revoke all on function private.ob_wake(text) from public, anon, authenticated;

-- Enqueue ------------------------------------------------------------------------------------------

-- What one waiting job does when a second request with its key arrives (or a running one hands over
-- to it): for a sync, both requests' work; for any other kind, the same work it was doing.
--   sync_request_id  the CPA's refresh it finishes (at most one: a second refresh request joins the
--                    first at insert, ..0400_requests.sql), with that request's `refreshed` flag
--                    (Mastercard refreshed the bank: sync at once);
--   history_login_ids the logins whose older history it reads (the union);
--   reason           the first non-daily reason (logs and placement only).
create function private.ob_job_fold(p_kind text, p_waiting jsonb, p_arriving jsonb)
returns jsonb
language sql immutable
set search_path = ''
as $$
  select case when p_kind <> 'sync_customer' then p_waiting else
    pg_catalog.jsonb_strip_nulls(
      (p_waiting || p_arriving) - 'sync_request_id' - 'refreshed' - 'history_login_ids' - 'reason'
      || pg_catalog.jsonb_build_object(
           'sync_request_id', coalesce(p_waiting -> 'sync_request_id', p_arriving -> 'sync_request_id'),
           'refreshed', case when p_waiting -> 'sync_request_id' = p_arriving -> 'sync_request_id'
                               then coalesce(p_waiting -> 'refreshed', p_arriving -> 'refreshed')
                             when p_waiting ? 'sync_request_id' then p_waiting -> 'refreshed'
                             else p_arriving -> 'refreshed' end,
           'history_login_ids', (select pg_catalog.jsonb_agg(distinct l.id order by l.id)
                                   from pg_catalog.jsonb_array_elements(
                                          coalesce(p_waiting -> 'history_login_ids', '[]')
                                          || coalesce(p_arriving -> 'history_login_ids', '[]')) l(id)),
           'reason', case when p_waiting ->> 'reason' = 'daily' then coalesce(p_arriving -> 'reason', p_waiting -> 'reason')
                          else coalesce(p_waiting -> 'reason', p_arriving -> 'reason') end))
  end
$$;
revoke all on function private.ob_job_fold(text, jsonb, jsonb) from public, anon, authenticated;

-- The one way a job is made (triggers, schedules, RPCs, webhook intake). Returns {id, created}.
-- A job with the key of one already waiting is folded into it (private.ob_job_fold); a sync then
-- takes the better of the two places in the queue. created is false.
-- The attempt budget comes from private.ob_settings 'job_max_attempts' (seeded in ..0100), nowhere else.
create function private.ob_enqueue(
  p_kind text, p_payload jsonb, p_dedupe_key text default null,
  p_run_after timestamptz default now(), p_max_attempts integer default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id bigint;
  v_created boolean;
begin
  insert into private.ob_jobs as j (kind, payload, dedupe_key, run_after, max_attempts)
  values (p_kind, coalesce(p_payload, '{}'), p_dedupe_key, coalesce(p_run_after, now()),
          coalesce(p_max_attempts, private.ob_setting('job_max_attempts')::integer))
  on conflict (dedupe_key) where status = 'queued' do update
     set payload = private.ob_job_fold(j.kind, j.payload, excluded.payload),
         priority = case when j.kind = 'sync_customer' then least(j.priority, excluded.priority) else j.priority end,
         fair_seq = case when j.kind = 'sync_customer' and excluded.priority < j.priority then excluded.fair_seq
                         else j.fair_seq end,
         run_after = case when j.kind = 'sync_customer' then least(j.run_after, excluded.run_after) else j.run_after end
  returning j.id, j.xmax = 0 into v_id, v_created;
  return pg_catalog.jsonb_build_object('id', v_id, 'created', v_created);
end
$$;
revoke all on function private.ob_enqueue(text, jsonb, text, timestamptz, integer) from public, anon, authenticated;

-- RPC: enqueue from the service (e.g. a webhook that asks for a sync). Returns {id, created}.
create function public.ob_job_enqueue(
  p_kind text, p_payload jsonb default '{}', p_dedupe_key text default null,
  p_run_after timestamptz default null, p_max_attempts integer default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  v_result := private.ob_enqueue(p_kind, p_payload, p_dedupe_key, coalesce(p_run_after, now()), p_max_attempts);
  perform private.ob_wake('enqueued');
  return v_result;
end
$$;
revoke all on function public.ob_job_enqueue(text, jsonb, text, timestamptz, integer) from public, anon, authenticated;
grant execute on function public.ob_job_enqueue(text, jsonb, text, timestamptz, integer) to service_role;

-- Request tables: the CPA's insert and its job commit together, then the service is woken.
-- (The `enqueue_job` triggers are declared with each request table.)
create function private.ob_enqueue_for_request()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_table_name = 'open_banking_link_requests' then
    perform private.ob_enqueue('deliver_link',
      pg_catalog.jsonb_build_object('link_request_id', new.id), 'link_request:' || new.id);
  else
    perform private.ob_enqueue('sync_customer',
      pg_catalog.jsonb_build_object('platform_client_id', new.platform_client_id, 'sync_request_id', new.id,
                                    'reason', 'refresh_request'),
      'sync_request:' || new.id);  -- the client's `sync:` key once it is linked (private.ob_job_place)
  end if;
  perform private.ob_wake(tg_table_name);
  return null;
end
$$;
revoke all on function private.ob_enqueue_for_request() from public, anon, authenticated;

-- Workers: claim, complete, fail, release, heartbeat -----------------------------------------------
-- The lease length is the caller's (the service's WORKER_LEASE_SECONDS): no default here.

-- THE successor rule. At most one job per dedupe key may wait (ob_jobs_dedupe_queued_idx). A job
-- that would go back to `queued` while a successor with its key already waits must not (it would
-- violate the index, and the successor will do the same work): fail, release and the sweeper
-- finish it instead; an operator's retry leaves it alone.
create function private.ob_job_has_queued_successor(p_dedupe_key text, p_job_id bigint)
returns boolean
language sql stable
set search_path = ''
as $$
  select p_dedupe_key is not null and exists (
    select 1 from private.ob_jobs q where q.dedupe_key = p_dedupe_key and q.status = 'queued' and q.id <> p_job_id)
$$;
revoke all on function private.ob_job_has_queued_successor(text, bigint) from public, anon, authenticated;

-- A job ending without its own outcome (failed with retries left, released at shutdown, lease
-- expired) while its successor waits hands its work over: folded into the successor
-- (private.ob_job_fold), e.g. a CPA's refresh request the successor must now finish. True if it did.
create function private.ob_job_hand_over(p_job private.ob_jobs)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  update private.ob_jobs q
     set payload = private.ob_job_fold(q.kind, q.payload, p_job.payload),
         priority = case when q.kind = 'sync_customer' then least(q.priority, p_job.priority) else q.priority end
   where p_job.dedupe_key is not null and q.dedupe_key = p_job.dedupe_key and q.status = 'queued' and q.id <> p_job.id;
  return found;
end
$$;
revoke all on function private.ob_job_hand_over(private.ob_jobs) from public, anon, authenticated;

-- RPC: claim up to p_limit due jobs for p_worker with a lease. Expired leases are reclaimed here
-- too, so a crashed worker's job runs again without waiting for the sweeper.
create function public.ob_job_claim(p_worker text, p_limit integer, p_lease_seconds integer)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_jobs jsonb;
begin
  if p_worker is null or length(p_worker) = 0 then
    raise exception 'p_worker is required' using errcode = '22023';
  end if;
  -- A job that crashed its worker as often as it may run is dead, not claimable.
  update private.ob_jobs j
     set status = 'dead', finished_at = now(), locked_by = null, locked_until = null,
         last_error = coalesce(j.last_error, 'lease expired after the last attempt')
   where j.status = 'running' and j.locked_until < now() and j.attempts >= j.max_attempts;

  -- Expired leases first (their job was claimed before), then the fair queue: by class, then turns
  -- across clients (see private.ob_job_place), walked in the order of ob_jobs_fair_claim_idx.
  with expired as (
    select j.id from private.ob_jobs j
     where j.status = 'running' and j.locked_until < now()
     order by j.locked_until
     limit greatest(least(p_limit, 100), 0)
     for update skip locked
  ), waiting as (
    select j.id from private.ob_jobs j
     where j.status = 'queued' and j.run_after <= now()
     order by j.priority, j.fair_seq, j.run_after, j.id
     limit greatest(least(p_limit, 100), 0)
     for update skip locked
  ), due as (
    select e.id from expired e
    union all
    (select w.id from waiting w limit greatest(least(p_limit, 100), 0) - (select count(*) from expired))
  ), claimed as (
    update private.ob_jobs j
       set status = 'running', attempts = j.attempts + 1, locked_by = p_worker,
           locked_until = now() + make_interval(secs => p_lease_seconds)
      from due where j.id = due.id
    returning j.id, j.kind, j.payload, j.attempts, j.max_attempts, j.locked_until
  )
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(c) order by c.id), '[]'::jsonb) into v_jobs from claimed c;
  return v_jobs;
end
$$;
revoke all on function public.ob_job_claim(text, integer, integer) from public, anon, authenticated;
grant execute on function public.ob_job_claim(text, integer, integer) to service_role;

create function public.ob_job_complete(p_job_id bigint, p_worker text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_done boolean;
begin
  update private.ob_jobs j
     set status = 'succeeded', finished_at = now(), locked_by = null, locked_until = null, last_error = null
   where j.id = p_job_id and j.status = 'running' and j.locked_by = p_worker;
  v_done := found;
  return pg_catalog.jsonb_build_object('completed', v_done);
end
$$;
revoke all on function public.ob_job_complete(bigint, text) from public, anon, authenticated;
grant execute on function public.ob_job_complete(bigint, text) to service_role;

-- Backoff: base * 2^(attempts-1), capped, with +-25% jitter so retries from many jobs spread out.
create function private.ob_backoff_seconds(p_attempts integer, p_base numeric default 5, p_cap numeric default 3600)
returns numeric
language sql volatile
set search_path = ''
as $$
  select least(p_cap, p_base * power(2::numeric, greatest(p_attempts - 1, 0)))
         * (0.75 + 0.5 * pg_catalog.random()::numeric)
$$;
revoke all on function private.ob_backoff_seconds(integer, numeric, numeric) from public, anon, authenticated;

create function public.ob_job_fail(p_job_id bigint, p_worker text, p_error text, p_retry boolean default true)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job private.ob_jobs%rowtype;
begin
  select * into v_job from private.ob_jobs j
   where j.id = p_job_id and j.status = 'running' and j.locked_by = p_worker
   for update;
  if not found then
    return pg_catalog.jsonb_build_object('updated', false);
  end if;
  if not p_retry or v_job.attempts >= v_job.max_attempts then
    update private.ob_jobs j
       set status = 'dead', finished_at = now(), locked_by = null, locked_until = null,
           last_error = left(p_error, 2000)
     where j.id = p_job_id;
    return pg_catalog.jsonb_build_object('updated', true, 'status', 'dead');
  end if;
  if private.ob_job_hand_over(v_job) then
    -- A successor with the same key is already waiting: it does this work now.
    update private.ob_jobs j
       set status = 'succeeded', finished_at = now(), locked_by = null, locked_until = null,
           last_error = left('superseded by a queued job with the same key: ' || p_error, 2000)
     where j.id = p_job_id;
    return pg_catalog.jsonb_build_object('updated', true, 'status', 'superseded');
  end if;
  update private.ob_jobs j
     set status = 'queued', locked_by = null, locked_until = null, last_error = left(p_error, 2000),
         run_after = now() + make_interval(secs => private.ob_backoff_seconds(v_job.attempts)::double precision)
   where j.id = p_job_id
  returning * into v_job;
  return pg_catalog.jsonb_build_object('updated', true, 'status', 'queued', 'run_after', v_job.run_after);
end
$$;
revoke all on function public.ob_job_fail(bigint, text, text, boolean) from public, anon, authenticated;
grant execute on function public.ob_job_fail(bigint, text, text, boolean) to service_role;

-- Shutdown: hand the job back untouched (the attempt did not run to an outcome).
create function public.ob_job_release(p_job_id bigint, p_worker text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job private.ob_jobs%rowtype;
begin
  select * into v_job from private.ob_jobs j
   where j.id = p_job_id and j.status = 'running' and j.locked_by = p_worker
   for update;
  if not found then
    return pg_catalog.jsonb_build_object('released', false);
  end if;
  if private.ob_job_hand_over(v_job) then
    -- A successor with the same key already waits and now does this work: finish this one instead of queueing a twin.
    update private.ob_jobs j
       set status = 'succeeded', finished_at = now(), locked_by = null, locked_until = null,
           last_error = 'released at shutdown; superseded by a queued job with the same key'
     where j.id = p_job_id;
  else
    update private.ob_jobs j
       set status = 'queued', attempts = greatest(j.attempts - 1, 0), locked_by = null,
           locked_until = null, run_after = now()
     where j.id = p_job_id;
  end if;
  return pg_catalog.jsonb_build_object('released', true);
end
$$;
revoke all on function public.ob_job_release(bigint, text) from public, anon, authenticated;
grant execute on function public.ob_job_release(bigint, text) to service_role;

-- Long jobs (a 100k-transaction backfill) extend their lease as they go.
create function public.ob_job_heartbeat(p_job_id bigint, p_worker text, p_lease_seconds integer)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  update private.ob_jobs j
     set locked_until = now() + make_interval(secs => p_lease_seconds)
   where j.id = p_job_id and j.status = 'running' and j.locked_by = p_worker;
  return pg_catalog.jsonb_build_object('extended', found);
end
$$;
revoke all on function public.ob_job_heartbeat(bigint, text, integer) from public, anon, authenticated;
grant execute on function public.ob_job_heartbeat(bigint, text, integer) to service_role;

-- Operators and the sweeper ------------------------------------------------------------------------

-- Operators: put a dead (or waiting) job back in line with a fresh attempt budget.
create function public.ob_job_retry(p_job_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  update private.ob_jobs j
     set status = 'queued', attempts = 0, run_after = now(), finished_at = null,
         locked_by = null, locked_until = null
   where j.id = p_job_id and j.status in ('dead', 'queued')
     and not private.ob_job_has_queued_successor(j.dedupe_key, j.id);
  if found then
    perform private.ob_wake('retry');
  end if;
  return pg_catalog.jsonb_build_object('retried', found);
end
$$;
revoke all on function public.ob_job_retry(bigint) from public, anon, authenticated;
grant execute on function public.ob_job_retry(bigint) to service_role;

-- Operators and /metrics: counts per status, the oldest due job's age, and recent dead jobs.
create function public.ob_job_overview(p_limit integer default 20)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'counts', coalesce((select pg_catalog.jsonb_object_agg(s.status, s.n)
                          from (select j.status, count(*) as n from private.ob_jobs j group by j.status) s), '{}'),
    'oldest_due_age_seconds', coalesce((select extract(epoch from now() - min(j.run_after))
                          from private.ob_jobs j where j.status = 'queued' and j.run_after <= now()), 0),
    'problems', coalesce((select pg_catalog.jsonb_agg(pg_catalog.to_jsonb(p) order by p.id desc)
                          from (select j.id, j.kind, j.payload, j.status, j.attempts, j.max_attempts,
                                       j.last_error, j.run_after, j.updated_at
                                  from private.ob_jobs j
                                 where j.status = 'dead' or (j.status = 'queued' and j.attempts > 0)
                                 order by j.id desc limit p_limit) p), '[]'))
$$;
revoke all on function public.ob_job_overview(integer) from public, anon, authenticated;
grant execute on function public.ob_job_overview(integer) to service_role;

-- Sweeper (pg_cron, every minute): expired leases go back to the queue (or die), and the service is
-- woken if anything is due, in case a NOTIFY or HTTP wake-up was missed.
create function private.ob_job_sweep()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_reclaimed integer;
  v_superseded integer := 0;
  v_job private.ob_jobs%rowtype;
begin
  -- Expired jobs whose successor (same key) already waits hand their work over and are finished,
  -- not queued twice.
  for v_job in
    select * from private.ob_jobs j
     where j.status = 'running' and j.locked_until < now()
       and private.ob_job_has_queued_successor(j.dedupe_key, j.id)
     for update skip locked
  loop
    perform private.ob_job_hand_over(v_job);
    update private.ob_jobs j
       set status = case when j.attempts >= j.max_attempts then 'dead' else 'succeeded' end,
           finished_at = now(), locked_by = null, locked_until = null,
           last_error = coalesce(j.last_error, 'lease expired; superseded by a queued job with the same key')
     where j.id = v_job.id;
    v_superseded := v_superseded + 1;
  end loop;
  update private.ob_jobs j
     set status = case when j.attempts >= j.max_attempts then 'dead' else 'queued' end,
         finished_at = case when j.attempts >= j.max_attempts then now() end,
         last_error = coalesce(j.last_error, 'lease expired'),
         locked_by = null, locked_until = null
   where j.status = 'running' and j.locked_until < now();
  get diagnostics v_reclaimed = row_count;
  v_reclaimed := v_reclaimed + v_superseded;
  if exists (select 1 from private.ob_jobs j where j.status = 'queued' and j.run_after <= now()) then
    perform private.ob_wake('sweep');
  end if;
  return v_reclaimed;
end
$$;
revoke all on function private.ob_job_sweep() from public, anon, authenticated;
