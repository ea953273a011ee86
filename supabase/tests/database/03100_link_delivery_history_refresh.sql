-- Link delivery modes (platform / mastercard_email and its consumer fields), the history of each bank
-- login (one historic load, settled once) and the refresh a CPA asks for (refreshing, settled once).
begin;
select plan(34);

create temp table fx (a uuid, ca uuid, cb uuid, customer_a uuid, sync_id uuid, sync2_id uuid) on commit drop;
grant select, update on fx to public;
insert into fx (a) values (tests.create_user('delivery-a@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(a);

-- delivery modes at insert ----------------------------------------------------------------------
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_link_requests (platform_client_id) select ca from fx$$,
                'a platform-delivered link needs nothing but the client (no address, no personal data)');
select is((select delivery from public.open_banking_link_requests where platform_client_id = (select ca from fx)),
          'platform', 'platform is the default delivery');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, delivery, first_name)
                   select ca, 'o@client.test', 'mastercard_email', 'Olive' from fx$$,
                 '23502', 'last_name is required for delivery mastercard_email (Mastercard needs a consumer: first_name, last_name, state, birthday)',
                 'Mastercard''s email without a consumer: refused at insert, naming the missing field');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, delivery, last_name, state, birthday)
                   select ca, 'o@client.test', 'mastercard_email', 'Oak', 'OR', date '1980-01-02' from fx$$,
                 '23502', 'first_name is required for delivery mastercard_email (Mastercard needs a consumer: first_name, last_name, state, birthday)',
                 'first_name is named when it is the one missing');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, delivery, first_name, last_name, birthday)
                   select ca, 'o@client.test', 'mastercard_email', 'Olive', 'Oak', date '1980-01-02' from fx$$,
                 '23502', null, 'state is required too');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, delivery, first_name, last_name, state)
                   select ca, 'o@client.test', 'mastercard_email', 'Olive', 'Oak', 'OR' from fx$$,
                 '23502', null, 'and birthday');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, delivery, first_name, last_name, state, birthday)
                   select ca, 'o@client.test', 'mastercard_email', 'Olive', 'Oak', 'Oregon', date '1980-01-02' from fx$$,
                 '23514', null, 'state is a two-letter code');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, delivery, first_name, last_name, state, birthday)
                   select ca, 'o@client.test', 'mastercard_email', 'Olive', 'Oak', 'OR', current_date + 1 from fx$$,
                 '23514', null, 'a birthday is in the past');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, delivery) select ca, 'fax' from fx$$,
                 '23514', null, 'delivery is platform or mastercard_email');
select lives_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, delivery, first_name, last_name, state, birthday)
                  select ca, 'o@client.test', 'mastercard_email', 'Olive', 'Oak', 'OR', date '1980-01-02' from fx$$,
                'with the consumer fields, Mastercard''s email is accepted');
select tests.clear_auth();

-- the consumer exists: its id on the customer, the personal fields gone ----------------------------
select tests.as_service_role();
select is((public.ob_customer_upsert((select ca from fx), 'delivery_a_1', 'testing', '7100000001') ->> 'finicity_customer_id'),
          '7100000001', 'a customer row for the client');
select is((public.ob_customer_set_consumer((select ca from fx), 'c0ffee') ->> 'finicity_consumer_id'), 'c0ffee',
          'ob_customer_set_consumer stores the consumer id on the customer row');
select is((select count(*)::int from public.open_banking_link_requests
            where platform_client_id = (select ca from fx)
              and (last_name is not null or state is not null or birthday is not null)), 0,
          '...and clears last_name, state and birthday from the client''s link requests');
select tests.clear_auth();
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, delivery)
                  select ca, 'o@client.test', 'mastercard_email' from fx$$,
                'once the client has a consumer, Mastercard''s email needs no personal fields');
select tests.clear_auth();

-- one historic load per login --------------------------------------------------------------------
select tests.as_service_role();
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id)
select 930000001, ca, (select id from public.open_banking_customers where platform_client_id = ca) from fx;
select is((select history_status from public.open_banking_institution_logins where id = 930000001), 'not_started',
          'a new login has not started its historic load');
select is((public.ob_institution_logins_after_sync('7100000001') ->> 'history_loads_queued')::int, 1,
          'after a sync, one load_history job is queued for it');
select is((select count(*)::int from private.ob_jobs where kind = 'load_history' and dedupe_key = 'history:930000001'
             and status = 'queued'), 1, '...once, whatever the number of syncs (dedupe key)');
select ok((public.ob_institution_login_history_claim(930000001) ->> 'claimed')::boolean, 'the job claims the login');
select is(public.ob_institution_login_history_claim(930000001), '{"claimed": false, "starting": true}'::jsonb,
          'a second job while the first is still asking Mastercard is refused and told to check again later');
update public.open_banking_institution_logins set history_started_at = now() - interval '6 minutes' where id = 930000001;
select ok((public.ob_institution_login_history_claim(930000001) ->> 'claimed')::boolean,
          'an attempt that crashed before a refresh id came back is taken over after 5 minutes');
select ok(public.ob_institution_login_history_started(930000001, 'bec83f1a-5f65-44f5-8f00-b4a0fc60c2cc') is not null,
          'and records the refresh id');
select ok(not (public.ob_institution_login_history_claim(930000001) ->> 'claimed')::boolean,
          'a second claim (another worker, a replayed job) is refused: one historic load per login');
select is((public.ob_institution_logins_after_sync('7100000001') ->> 'history_loads_queued')::int, 0,
          'a loading login queues nothing more');
select ok((public.ob_institution_login_history_settle('bec83f1a-5f65-44f5-8f00-b4a0fc60c2cc', 'COMPLETED') ->> 'settled')::boolean,
          'the COMPLETED status settles the login');
select results_eq($$select history_status, history_finished_at is not null from public.open_banking_institution_logins where id = 930000001$$,
                  $$values ('complete'::text, true)$$, 'history complete');
select is((select count(*)::int from private.ob_jobs where kind = 'sync_customer' and dedupe_key = 'sync:7100000001'
              and payload -> 'history_login_ids' = '[930000001]'),
          1, '...and the sync of the older window is queued (the customer''s one sync, naming the login)');
select ok(not (public.ob_institution_login_history_settle('bec83f1a-5f65-44f5-8f00-b4a0fc60c2cc', 'FAILED') ->> 'settled')::boolean,
          'a late or repeated status changes nothing');

-- the refresh a CPA asks for ----------------------------------------------------------------------
select tests.clear_auth();
select tests.authenticate_as((select a from fx));
with r as (insert into public.open_banking_sync_requests (platform_client_id) select ca from fx returning id)
update fx set sync_id = (select id from r);
select tests.clear_auth();
select tests.as_service_role();
select is((public.ob_sync_request_refreshing((select sync_id from fx), 'aaaaaaaa-5f65-44f5-8f00-b4a0fc60c2cc') ->> 'status'),
          'refreshing', 'a started refresh shows the request as refreshing');
select ok((public.ob_sync_request_refresh_settle('aaaaaaaa-5f65-44f5-8f00-b4a0fc60c2cc', 'COMPLETED') ->> 'settled')::boolean,
          'the COMPLETED status settles the request');
select results_eq($$select status, (select count(*)::int from private.ob_jobs where kind = 'sync_customer'
                                      and payload ->> 'sync_request_id' = r.id::text and payload ? 'refreshed')
                      from public.open_banking_sync_requests r where r.id = (select sync_id from fx)$$,
                  $$values ('running'::text, 1)$$, '...once: running, and the sync after the refresh is queued');
select ok(not (public.ob_sync_request_refresh_settle('aaaaaaaa-5f65-44f5-8f00-b4a0fc60c2cc', 'COMPLETED') ->> 'settled')::boolean,
          'a repeated status (event and poll both) settles nothing more');
select is(public.ob_refresh_owner('aaaaaaaa-5f65-44f5-8f00-b4a0fc60c2cc') ->> 'purpose', 'sync_request',
          'ob_refresh_owner names a CPA''s refresh');
select is(public.ob_refresh_owner('bec83f1a-5f65-44f5-8f00-b4a0fc60c2cc') ->> 'purpose', 'history',
          '...a login''s historic load');
select is(public.ob_refresh_owner(gen_random_uuid()), null, '...and nothing for a refresh that is not ours');
select tests.clear_auth();
rollback;
