-- Webhook inbox: verified events and their processing jobs are stored in one call, each once.
begin;
select plan(14);

delete from private.ob_jobs;
delete from private.ob_webhook_events;
create temp table r (name text, v jsonb) on commit drop;
grant select, insert on r to public;

-- One event as the service sends it (a batch may hold many).
create function pg_temp.event(p_source text, p_message_id text, p_event_type text, p_customer text,
                              p_headers jsonb, p_payload jsonb, p_verified boolean)
returns jsonb language sql as $$
  select jsonb_build_object('p_source', p_source, 'p_message_id', p_message_id, 'p_event_type', p_event_type,
                            'p_finicity_customer_id', p_customer, 'p_headers', p_headers, 'p_payload', p_payload,
                            'p_verified', p_verified)
$$;

select tests.as_service_role();
insert into r select 'first', public.ob_webhook_events_ingest(jsonb_build_array(
  pg_temp.event('connect', 'evt-1', 'added', 'wh-fin-1', '{"X-Sig":"abc"}', '{"eventType":"added"}', true))) -> 0;
select ok((select (v ->> 'stored')::boolean and v ->> 'event_id' is not null from r where name = 'first'),
          'a new verified event is stored');
select results_eq($$select source, message_id, event_type, finicity_customer_id, headers, payload, verified, processed_at
                      from private.ob_webhook_events$$,
                  $$values ('connect'::text, 'evt-1'::text, 'added'::text, 'wh-fin-1'::text, '{"X-Sig":"abc"}'::jsonb,
                            '{"eventType":"added"}'::jsonb, true, null::timestamptz)$$,
                  'the event row holds source, message id, type, customer, headers, payload and is unprocessed');
select results_eq($$select j.kind, j.payload, j.dedupe_key, j.status, j.max_attempts from private.ob_jobs j$$,
                  $$select 'process_webhook_event'::text, jsonb_build_object('event_id', (v ->> 'event_id')::bigint),
                           'webhook_event:' || (v ->> 'event_id'), 'queued'::text,
                           (select value::integer from private.ob_settings where key = 'job_max_attempts')
                      from r where name = 'first'$$,
                  'exactly one process_webhook_event job for it, queued, made by ob_enqueue (dedupe key, attempt budget)');
insert into r select 'dup', public.ob_webhook_events_ingest(jsonb_build_array(
  pg_temp.event('connect', 'evt-1', 'added', 'wh-fin-1', '{}', '{"again":true}', true))) -> 0;
select is((select v from r where name = 'dup'),
          (select jsonb_build_object('stored', false, 'event_id', (v ->> 'event_id')::bigint) from r where name = 'first'),
          'a duplicate (same source and message id) is not stored again: stored=false, same event id');
select is((select count(*) from private.ob_jobs), 1::bigint, 'the duplicate enqueued no second job');
select is((select payload from private.ob_webhook_events), '{"eventType":"added"}'::jsonb, 'the duplicate did not overwrite the stored payload');

-- A batch: results in input order; a repeat inside the batch is a duplicate; an unverified event
-- is refused on its own without failing the others.
insert into r select 'batch', public.ob_webhook_events_ingest(jsonb_build_array(
  pg_temp.event('obwms', 'evt-1', 'x', null, null, '{}', true),
  pg_temp.event('connect', 'evt-2', 'added', null, '{}', '{}', false),
  pg_temp.event('connect', 'evt-3', 'done', null, '{}', '{"n":1}', true),
  pg_temp.event('connect', 'evt-3', 'done', null, '{}', '{"n":2}', true)));
select is((select v -> 0 ->> 'stored' from r where name = 'batch'), 'true',
          'the same message id from the other source is a different event');
select is((select v -> 1 from r where name = 'batch'),
          '{"error": {"code": "22023", "message": "refusing to store an unverified webhook event"}}'::jsonb,
          'an unverified event is refused (22023)...');
select is((select count(*) from private.ob_webhook_events where message_id = 'evt-2'), 0::bigint, '...and nothing was stored for it');
select is((select array[v -> 2 ->> 'stored', v -> 3 ->> 'stored'] from r where name = 'batch'), array['true', 'false'],
          'a repeat inside one batch: the first is stored, the second is a duplicate...');
select is((select (v -> 2 ->> 'event_id') = (v -> 3 ->> 'event_id')
                   and (select e.payload from private.ob_webhook_events e where e.message_id = 'evt-3') = '{"n":1}'
              from r where name = 'batch'), true,
          '...with the same event id, and the first payload kept');
select is((select count(*) from private.ob_jobs), 3::bigint, 'one job per stored event (3), none for duplicates or refusals');

select is(public.ob_webhook_event_processed((select (v ->> 'event_id')::bigint from r where name = 'first'), null),
          '{"updated": true}'::jsonb, 'ob_webhook_event_processed marks the event');
select isnt((public.ob_webhook_event_get((select (v ->> 'event_id')::bigint from r where name = 'first')) ->> 'processed_at'), null,
            'ob_webhook_event_get returns the event with processed_at set');
select tests.clear_auth();

select * from finish();
rollback;
