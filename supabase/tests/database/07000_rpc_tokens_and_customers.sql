-- Service RPCs (called as service_role): the partner-token cache with its one-refresher lease,
-- customer upsert, out-of-order link status events, and customer deletion cascading.
begin;
select plan(46);

update private.ob_partner_tokens set token_ciphertext = null, expires_at = null, refreshed_at = null,
       refresh_holder = null, refresh_lease_until = null, refresh_count = 0;

-- partner token --------------------------------------------------------------------------------
select tests.as_service_role();
select is(public.ob_partner_token_get(), null, 'no token cached: get returns null');
select is(public.ob_partner_token_begin_refresh('h1'), '{"granted": true, "expires_at": null, "token_ciphertext": null}'::jsonb,
          'the first caller is granted the refresh lease');
select is(public.ob_partner_token_begin_refresh('h2') ->> 'granted', 'false', 'a second caller is told to wait (not granted)...');
select is(public.ob_partner_token_begin_refresh('h2') ->> 'token_ciphertext', null, '...and gets no token');
select is(public.ob_partner_token_begin_refresh('h1') ->> 'granted', 'true', 'the lease holder asking again keeps the lease');
select is(public.ob_partner_token_put('h1', 'ct-1', now() + interval '2 hours'), '{"stored": true}'::jsonb, 'the holder stores the new token');
select results_eq($$select token_ciphertext, refresh_holder, refresh_lease_until, refresh_count from private.ob_partner_tokens$$,
                  $$values ('ct-1'::text, null::text, null::timestamptz, 1::bigint)$$,
                  'put stores the ciphertext, releases the holder''s lease and counts the refresh');
select is(public.ob_partner_token_get(), jsonb_build_object('token_ciphertext', 'ct-1', 'expires_at', now() + interval '2 hours'),
          'get returns the cached ciphertext and its expiry');
select is(public.ob_partner_token_begin_refresh('h2'),
          jsonb_build_object('granted', false, 'token_ciphertext', 'ct-1', 'expires_at', now() + interval '2 hours'),
          'with a valid token cached, begin_refresh returns it without a lease');
select is((select refresh_holder from private.ob_partner_tokens), null, '...and no lease is taken');
select is(public.ob_partner_token_begin_refresh('h2', 30, 900, 'ct-1') ->> 'granted', 'true',
          'p_stale_ciphertext naming the cached token forces a refresh: lease granted');
select is(public.ob_partner_token_begin_refresh('h3', 30, 900, 'ct-1'),
          '{"granted": false, "expires_at": null, "token_ciphertext": null}'::jsonb,
          'another caller with the same stale token waits, and is not handed the stale token');
select is(public.ob_partner_token_begin_refresh('h3', 30, 900, 'ct-0') ->> 'token_ciphertext', 'ct-1',
          'a caller whose stale token is an older one gets the cached (newer) token');
select public.ob_partner_token_put('h9', 'ct-x', now() + interval '2 hours');
-- an operator deleting the cache row must not let every caller refresh at once
savepoint row_deleted;
select tests.clear_auth();
delete from private.ob_partner_tokens;
select tests.as_service_role();
select is(public.ob_partner_token_begin_refresh('h4') ->> 'granted', 'true',
          'with the cache row deleted, the first caller is granted the refresh');
select is(public.ob_partner_token_begin_refresh('h5') ->> 'granted', 'false',
          '...and a second caller waits instead of refreshing too');
select public.ob_partner_token_put('h4', 'ct-r', now() + interval '2 hours');
select is(public.ob_partner_token_get() ->> 'token_ciphertext', 'ct-r', '...and the refreshed token is stored');
rollback to savepoint row_deleted;
select is((select refresh_holder from private.ob_partner_tokens), 'h2', 'a put by a non-holder does not release the holder''s lease');
select tests.clear_auth();
update private.ob_partner_tokens set refresh_lease_until = now() - interval '1 second', token_ciphertext = 'ct-2',
       expires_at = now() + interval '5 minutes';
select tests.as_service_role();
select is(public.ob_partner_token_begin_refresh('h3') ->> 'granted', 'true',
          'a token expiring within p_min_valid_seconds is refreshed, and an expired lease is taken over');

-- failed partner authentications, counted across processes -------------------------------------
select tests.clear_auth();
update private.ob_partner_tokens set auth_failures = 0, auth_held_until = null, refresh_holder = null, refresh_lease_until = null;
select tests.as_service_role();
select is(public.ob_partner_auth_attempt('a1', 2) ->> 'allowed', 'false', 'no lease, no attempt');
select public.ob_partner_token_begin_refresh('a1', 30, 999999);
select is(public.ob_partner_auth_attempt('a1', 2) ->> 'allowed', 'true', 'the lease holder may authenticate');
select is(public.ob_partner_auth_failed('a1', '10001: Invalid credentials', 2, 1800) -> 'failures', '1'::jsonb,
          'a refusal is counted...');
select is((select refresh_holder from private.ob_partner_tokens), null, '...and the lease is released at once');
select public.ob_partner_token_begin_refresh('a2', 30, 999999);
select is(public.ob_partner_auth_attempt('a2', 2) ->> 'allowed', 'true', 'another process may try once more');
select public.ob_partner_auth_failed('a2', '10001: Invalid credentials', 2, 1800);
select public.ob_partner_token_begin_refresh('a3', 30, 999999);
select is(public.ob_partner_auth_attempt('a3', 2) ->> 'allowed', 'false', 'after 2 in a row nobody authenticates');
select is(public.ob_partner_auth_state() - 'held_until' - 'last_failure_at',
          '{"held": true, "failures": 2, "last_error": "10001: Invalid credentials"}'::jsonb, 'the state says held');
select tests.clear_auth();
update private.ob_partner_tokens set auth_held_until = now() - interval '1 second';
select tests.as_service_role();
select is(public.ob_partner_auth_attempt('a3', 2) ->> 'allowed', 'true', 'a timed hold that passed allows one attempt');
select is(public.ob_partner_auth_reset() -> 'before' -> 'failures', '2'::jsonb, 'auth reset clears the count');
select tests.clear_auth();
update private.ob_partner_tokens set auth_failures = 0, auth_held_until = null, refresh_holder = null, refresh_lease_until = null;

-- customers ------------------------------------------------------------------------------------
select tests.clear_auth();
create temp table fx (a uuid, ca uuid, cb uuid, cust uuid) on commit drop;
grant select, update on fx to public;
insert into fx (a) values (tests.create_user('rpc-a@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(a);
select tests.as_service_role();

update fx set cust = (public.ob_customer_upsert((select ca from fx), 'rpc-user-a', 'testing') ->> 'id')::uuid;
select results_eq($$select link_status, finicity_customer_id, customer_type from public.open_banking_customers where platform_client_id = (select ca from fx)$$,
                  $$values ('pending'::text, null::text, 'testing'::text)$$, 'ob_customer_upsert creates a pending customer');
select is((public.ob_customer_upsert((select ca from fx), 'rpc-user-a', 'testing', 'rpc-fin-a') ->> 'id')::uuid, (select cust from fx),
          'a second upsert for the same client returns the same customer');
select is(public.ob_customer_upsert((select ca from fx), 'rpc-user-a', 'testing', 'rpc-fin-z') ->> 'finicity_customer_id', 'rpc-fin-a',
          'the Finicity customer id, once set, is kept');
select is((select count(*) from public.open_banking_customers where platform_client_id = (select ca from fx)), 1::bigint,
          'upsert is idempotent: one customer per client');
select is(public.ob_customer_get(p_finicity_customer_id => 'rpc-fin-a') ->> 'platform_client_id', (select ca::text from fx),
          'ob_customer_get finds the customer by Finicity id');

-- link status by event time
select is(public.ob_customer_set_link_status('rpc-fin-a', 'linked', now() + interval '2 min') ->> 'link_status', 'linked',
          'linked at t2: linked');
select is(public.ob_customer_set_link_status('rpc-fin-a', 'pending', now() + interval '1 min') ->> 'link_status', 'linked',
          'pending at t1 arriving after linked at t2: stays linked');
select is(public.ob_customer_set_link_status('rpc-fin-a', 'error', now() + interval '90 seconds', 'E1', 'older') ->> 'link_status', 'linked',
          'an error older than the linked event is ignored');
select public.ob_customer_set_link_status('rpc-fin-a', 'error', now() + interval '3 min', '103', 'bad creds');
select results_eq($$select link_status, last_error_code, last_error_message, link_status_at
                      from public.open_banking_customers where finicity_customer_id = 'rpc-fin-a'$$,
                  $$values ('error'::text, '103'::text, 'bad creds'::text, now() + interval '3 min')$$,
                  'error at t3 after linked at t2: error, with its code and message');
select is(public.ob_customer_set_link_status('rpc-fin-a', 'linked', now() + interval '4 min') ->> 'last_error_code', null,
          'linked again at t4: the error is cleared');
select is(public.ob_customer_set_link_status('rpc-fin-a', 'pending', now() + interval '5 min') ->> 'link_status', 'linked',
          'pending never undoes linked, even when newer');
select is(public.ob_customer_set_link_status('no-such-customer', 'linked') ->> 'id', null, 'an unknown customer: no row (id null), nothing changed');

-- the end of a sync in one call
select public.ob_customer_sync_finished('rpc-fin-a', 'boom');
select is(public.ob_customer_sync_done('rpc-fin-a', now() + interval '6 min'), '{"history_loads_queued": 0}'::jsonb,
          'ob_customer_sync_done answers what ob_institution_logins_after_sync answers');
select results_eq($$select last_sync_error, last_synced_at = now(), link_status, link_status_at
                      from public.open_banking_customers where finicity_customer_id = 'rpc-fin-a'$$,
                  $$values (null::text, true, 'linked'::text, now() + interval '6 min')$$,
                  '...clears the sync error, stamps the sync time and moves the link status to linked at the sync''s time');
select public.ob_customer_set_link_status('rpc-fin-a', 'error', now() + interval '7 min', '103', 'bad creds');
select public.ob_customer_sync_done('rpc-fin-a');
select is((select link_status from public.open_banking_customers where finicity_customer_id = 'rpc-fin-a'), 'error',
          'without p_linked_at (no accounts were read) the link status is left alone');

-- delete cascades ------------------------------------------------------------------------------
select public.ob_accounts_upsert('rpc-fin-a',
  '[{"id":"rpc-acct-1","institution_login_id":970000001,"balance":"10.00"},{"id":"rpc-acct-2","institution_login_id":970000001}]',
  now());
select public.ob_transactions_upsert('rpc-acct-1',
  '[{"id":970000011,"amount":"1.00","status":"posted","posted_at":"2026-01-01T00:00:00Z"},{"id":970000012,"amount":"2.00","status":"pending"}]',
  now());
select tests.clear_auth();
insert into public.open_banking_link_requests (platform_client_id, email_to) select ca, 'keep@client.test' from fx;
select tests.as_service_role();
select is(public.ob_customer_delete('rpc-fin-a'), '{"deleted": true, "accounts": 2, "transactions": 2}'::jsonb,
          'ob_customer_delete reports the accounts and transactions it removed');
select is((select count(*) from public.open_banking_accounts where id like 'rpc-acct-%')
        + (select count(*) from public.open_banking_transactions where id in (970000011, 970000012))
        + (select count(*) from public.open_banking_balance_snapshots where account_id like 'rpc-acct-%')
        + (select count(*) from public.open_banking_institution_logins where id = 970000001)
        + (select count(*) from public.open_banking_customers where finicity_customer_id = 'rpc-fin-a'), 0::bigint,
          'the customer''s accounts, transactions, snapshots and logins are gone with it');
select is((select count(*) from public.open_banking_link_requests where platform_client_id = (select ca from fx)), 1::bigint,
          'the client''s link-request history is kept');
select is(public.ob_customer_delete('rpc-fin-a') ->> 'deleted', 'false', 'deleting again: deleted=false');
select tests.clear_auth();

select * from finish();
rollback;
