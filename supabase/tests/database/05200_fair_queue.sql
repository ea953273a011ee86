-- The fair queue: claims go by class (links and webhooks, then refreshes, then the daily sync),
-- then clients take turns. The bound: with one client holding 10,000 queued jobs, another client's
-- link email is claimed after at most one job of each other client with work waiting in its class
-- (here: the first or second claim), and a link email goes before any refresh or bulk sync.
begin;
select plan(9);

create temp table fx (a uuid, b uuid, ca uuid, ca2 uuid, cb uuid, b_link uuid) on commit drop;
grant select, update on fx to public;
insert into fx (a, b) values (tests.create_user('fair-a@cpa.test'), tests.create_user('fair-b@cpa.test'));
update fx set ca = tests.create_client(a), ca2 = tests.create_client(a),
              cb = tests.create_client(b);
delete from private.ob_jobs;  -- rolled back; the queue holds only this test's jobs

-- Client A: 10,000 refreshes' worth of sync jobs waiting (as a bulk backlog would be).
insert into private.ob_jobs (kind, payload)
select 'sync_customer', jsonb_build_object('platform_client_id', ca, 'sync_request_id', gen_random_uuid())
  from fx, generate_series(1, 10000);
select results_eq($$select priority, fair_key, min(fair_seq), max(fair_seq) from private.ob_jobs
                     group by priority, fair_key$$,
                  $$select 1::smallint, md5(ca::text), 0::bigint, 9999::bigint from fx$$,
                  'A''s 10,000 refresh jobs are in class 1 and hold turns 0..9999');

-- Client B's CPA sends a bank-link request: its job goes before all of A's.
select tests.authenticate_as((select b from fx));
insert into public.open_banking_link_requests (platform_client_id, email_to) select cb, 'quiet@client.test' from fx;
select tests.clear_auth();
update fx set b_link = (select id from public.open_banking_link_requests where platform_client_id = fx.cb);
select results_eq($$select priority, fair_key from private.ob_jobs where kind = 'deliver_link'$$,
                  $$select 0::smallint, md5(cb::text) from fx$$,
                  'B''s link job is in class 0 and keyed by B''s client');
select is((public.ob_job_claim('fair-worker', 1, 60) -> 0 ->> 'kind'), 'deliver_link',
          'the next claim is B''s link email, ahead of A''s 10,000 jobs');

-- Within a class, clients take turns: A's other client floods class 0 too (10,000 link deliveries),
-- B asks once. (A's class-1 backlog stays queued behind them.)
insert into private.ob_jobs (kind, payload)
select 'deliver_link', jsonb_build_object('platform_client_id', ca2, 'n', g) from fx, generate_series(1, 10000) g;
select tests.authenticate_as((select b from fx));
insert into public.open_banking_link_requests (platform_client_id, email_to) select cb, 'quiet-again@client.test' from fx;
select tests.clear_auth();
create temp table claimed on commit drop as
  select c.ord, c.job ->> 'kind' as kind, (c.job -> 'payload' ->> 'link_request_id') is not null as is_b
    from jsonb_array_elements(public.ob_job_claim('fair-worker', 2, 60)) with ordinality as c(job, ord);
select is((select count(*) from claimed where is_b), 1::bigint,
          'with 10,000 of A''s link jobs waiting, B''s link email is within the first 2 claims (one per client with work waiting)');

-- Turns follow their client: after the claim, A's next job and B's next job alternate.
select tests.authenticate_as((select b from fx));
insert into public.open_banking_link_requests (platform_client_id, email_to)
select cb, 'b' || g || '@client.test' from fx, generate_series(1, 3) g;
select tests.clear_auth();
select is((select count(*) from jsonb_array_elements(public.ob_job_claim('fair-worker', 6, 60)) j
            where j -> 'payload' ? 'link_request_id'), 3::bigint,
          'B''s next three link jobs take every other turn among the next six claims');

-- Classes: a CPA's refresh before the daily sync; a webhook-asked sync with the links.
update private.ob_jobs set status = 'succeeded' where status in ('queued', 'running');
select private.ob_enqueue('sync_customer', '{"finicity_customer_id": "fair-daily", "reason": "daily"}', 'sync:fair-daily');
select private.ob_enqueue('sync_customer', jsonb_build_object('platform_client_id', (select cb from fx), 'sync_request_id', gen_random_uuid()));
select private.ob_enqueue('sync_customer', '{"finicity_customer_id": "fair-hook", "reason": "webhook"}', 'sync:fair-hook');
select results_eq($$select payload ->> 'reason', priority from private.ob_jobs where status = 'queued' order by priority$$,
                  $$values ('webhook'::text, 0::smallint), (null, 1::smallint), ('daily', 2::smallint)$$,
                  'a webhook-asked sync is class 0, a CPA refresh class 1, the daily sync class 2');
select is(array[(public.ob_job_claim('fair-worker', 1, 60) -> 0 -> 'payload' ->> 'reason'),
                (public.ob_job_claim('fair-worker', 1, 60) -> 0 -> 'payload' ->> 'reason'),
                (public.ob_job_claim('fair-worker', 1, 60) -> 0 -> 'payload' ->> 'reason')],
          array['webhook', null, 'daily'],
          'one claim at a time takes the classes in order: webhook-asked sync, refresh, daily sync');

-- A webhook event's job is class 0 under the shared key `webhooks` (arrival order among events).
select private.ob_enqueue('process_webhook_event', '{"event_id": 1}', 'webhook_event:fair-1');
select results_eq($$select priority, fair_key from private.ob_jobs where kind = 'process_webhook_event'$$,
                  $$values (0::smallint, 'webhooks'::text)$$, 'webhook events are class 0, key webhooks');

-- A Mastercard customer's job is keyed by its platform client when the customer is known.
insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username, customer_type)
select ca, 'fair-known', 'fair-known-user', 'testing' from fx;
select private.ob_enqueue('sync_customer', '{"finicity_customer_id": "fair-known", "reason": "daily"}', 'sync:fair-known');
select is((select fair_key from private.ob_jobs where dedupe_key = 'sync:fair-known'), (select md5(ca::text) from fx),
          'a job naming a known Mastercard customer takes turns as its platform client');

select * from finish();
rollback;
