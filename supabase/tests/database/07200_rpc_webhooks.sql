-- Webhook inbox: a verified event and its processing job are stored in one call, once.
begin;
select plan(11);

delete from private.ob_jobs;
delete from private.ob_webhook_events;
create temp table r (name text, v jsonb) on commit drop;
grant select, insert on r to public;

select tests.as_service_role();
insert into r select 'first', public.ob_webhook_event_ingest('connect', 'evt-1', 'added', 'wh-fin-1',
                                                           '{"X-Sig":"abc"}', '{"eventType":"added"}', true);
select ok((select (v ->> 'stored')::boolean and v ->> 'event_id' is not null and v ->> 'job_id' is not null from r where name = 'first'),
          'a new verified event is stored with its job');
select results_eq($$select source, message_id, event_type, finicity_customer_id, headers, payload, verified, processed_at
                      from private.ob_webhook_events$$,
                  $$values ('connect'::text, 'evt-1'::text, 'added'::text, 'wh-fin-1'::text, '{"X-Sig":"abc"}'::jsonb,
                            '{"eventType":"added"}'::jsonb, true, null::timestamptz)$$,
                  'the event row holds source, message id, type, customer, headers, payload and is unprocessed');
select results_eq($$select j.id, j.kind, j.payload, j.status from private.ob_jobs j$$,
                  $$select (v ->> 'job_id')::bigint, 'process_webhook_event'::text, jsonb_build_object('event_id', (v ->> 'event_id')::bigint), 'queued'::text
                      from r where name = 'first'$$,
                  'exactly one process_webhook_event job for it, queued');
insert into r select 'dup', public.ob_webhook_event_ingest('connect', 'evt-1', 'added', 'wh-fin-1', '{}', '{"again":true}', true);
select is((select v from r where name = 'dup'),
          (select jsonb_build_object('stored', false, 'event_id', (v ->> 'event_id')::bigint, 'job_id', null) from r where name = 'first'),
          'a duplicate (same source and message id) is not stored again: stored=false, same event id, no job');
select is((select count(*) from private.ob_jobs), 1::bigint, 'the duplicate enqueued no second job');
select is((select payload from private.ob_webhook_events), '{"eventType":"added"}'::jsonb, 'the duplicate did not overwrite the stored payload');
select is(public.ob_webhook_event_ingest('obwms', 'evt-1', 'x', null, null, '{}') ->> 'stored', 'true',
          'the same message id from the other source is a different event');
select throws_ok($$select public.ob_webhook_event_ingest('connect', 'evt-2', 'added', null, '{}', '{}', false)$$, '22023', null,
                 'an unverified event is refused (22023)');
select is((select count(*) from private.ob_webhook_events where message_id = 'evt-2'), 0::bigint, '...and nothing was stored');
select is(public.ob_webhook_event_processed((select (v ->> 'event_id')::bigint from r where name = 'first'), null),
          '{"updated": true}'::jsonb, 'ob_webhook_event_processed marks the event');
select isnt((public.ob_webhook_event_get((select (v ->> 'event_id')::bigint from r where name = 'first')) ->> 'processed_at'), null,
            'ob_webhook_event_get returns the event with processed_at set');
select tests.clear_auth();

select * from finish();
rollback;
