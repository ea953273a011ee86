-- Replay rules in SQL: dedupe on the body's event id as well as the message id; an OBWMS event
-- older than the newest applied one for its login changes nothing; accountsDeleted only removes
-- accounts no fetch has seen since the event.
begin;
-- One event through the batch intake (what the service calls), as its single result.
create function pg_temp.ingest(p_source text, p_message_id text, p_event_type text, p_customer text,
                               p_headers jsonb, p_payload jsonb, p_verified boolean default true,
                               p_event_key text default null)
returns jsonb language sql as $$
  select public.ob_webhook_events_ingest(jsonb_build_array(jsonb_build_object(
    'p_source', p_source, 'p_message_id', p_message_id, 'p_event_type', p_event_type,
    'p_finicity_customer_id', p_customer, 'p_headers', p_headers, 'p_payload', p_payload,
    'p_verified', p_verified, 'p_event_key', p_event_key))) -> 0
$$;
select plan(14);

-- dedupe on the body's event id -------------------------------------------------------------------
select is(pg_temp.ingest('obwms', 'hdr-1', 'x', null, '{}', '{"eventId": "body-1"}', true, 'body-1') ->> 'stored',
          'true', 'an OBWMS event is stored with its body event id');
select is(pg_temp.ingest('obwms', 'hdr-2', 'x', null, '{}', '{"eventId": "body-1"}', true, 'body-1'),
          jsonb_build_object('stored', false, 'event_id', (select id from private.ob_webhook_events where message_id = 'hdr-1')),
          'the same body under a new message id is a duplicate of the first (nothing stored, no job)');
select is(public.ob_webhook_events_ingest(jsonb_build_array(
            jsonb_build_object('p_source', 'obwms', 'p_message_id', 'hdr-3', 'p_event_key', 'body-1', 'p_payload', '{}', 'p_verified', true),
            jsonb_build_object('p_source', 'obwms', 'p_message_id', 'hdr-4', 'p_event_key', 'body-2', 'p_payload', '{}', 'p_verified', true),
            jsonb_build_object('p_source', 'obwms', 'p_message_id', 'hdr-5', 'p_event_key', 'body-2', 'p_payload', '{}', 'p_verified', true)))
          #>> '{0,stored}', 'false', 'batch intake: a body event id stored before is a duplicate');
select is((select count(*) from private.ob_webhook_events where event_key = 'body-2'), 1::bigint,
          'batch intake: the same body event id twice in one batch is stored once');
select is((select count(*) from private.ob_jobs j join private.ob_webhook_events e on (j.payload ->> 'event_id')::bigint = e.id
            where e.event_key in ('body-1', 'body-2')), 2::bigint, 'one processing job per stored event, none for replays');
select is(pg_temp.ingest('connect', 'body-1', 'x', null, '{}', '{}', true, 'body-1') ->> 'stored', 'true',
          'event ids are per source: a Connect event may share an OBWMS body id');

-- OBWMS consent events per login ----------------------------------------------------------------------
create temp table fx (client uuid) on commit drop;
insert into fx select tests.create_client(tests.create_user('replay@cpa.test'));
insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username, customer_type)
select client, 'replay-fin', 'replay-user', 'testing' from fx;
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, oauth, authorization_start_at)
select 980000001, c.platform_client_id, c.id, true, now() - interval '10 days' from public.open_banking_customers c
 where c.finicity_customer_id = 'replay-fin';

select is(public.ob_institution_login_flag_reauth(980000001, true, 'ends soon', now() - interval '1 day') ->> 'applied', 'true',
          'a consent reminder newer than the consent and than any applied event is applied');
update public.open_banking_institution_logins set needs_reauth = false where id = 980000001;
select is(public.ob_institution_login_flag_reauth(980000001, true, 'old', now() - interval '2 days') ->> 'applied', 'false',
          'an event older than the newest applied one for the login is not applied');
select is((select needs_reauth from public.open_banking_institution_logins where id = 980000001), false,
          '... and does not undo newer state');
select is(public.ob_institution_login_flag_reauth(980000001, true, 'replayed', now() - interval '1 day') ->> 'applied', 'true',
          'the newest event itself may run again (a retried job is idempotent)');
update public.open_banking_institution_logins set authorization_start_at = now(), last_event_at = null, needs_reauth = false
 where id = 980000001;
select is(public.ob_institution_login_flag_reauth(980000001, true, 'stale', now() - interval '1 hour') ->> 'applied', 'false',
          'a reminder about a consent since renewed is not applied');
select is(public.ob_institution_login_flag_reauth(980000999, true, 'x', now()), null, 'an unknown login: null');

-- accountsDeleted against the account's latest sighting --------------------------------------------------
select public.ob_accounts_upsert('replay-fin', '[{"id": "replay-acct-1", "institution_login_id": 980000001},
                                                 {"id": "replay-acct-2", "institution_login_id": 980000001}]', now() - interval '1 hour');
select public.ob_accounts_upsert('replay-fin', '[{"id": "replay-acct-2", "institution_login_id": 980000001}]', now());
select is(public.ob_accounts_delete('replay-fin', array['replay-acct-1', 'replay-acct-2'], now() - interval '30 minutes'),
          '{"deleted": 1, "kept_newer": 1}'::jsonb,
          'accountsDeleted removes the account last seen before the event and keeps the one seen after it');
select is(public.ob_accounts_delete('replay-fin', array['replay-acct-2']), '{"deleted": 1, "kept_newer": 0}'::jsonb,
          'without an event time (a sync that no longer lists it) the account goes');

select * from finish();
rollback;
