-- Disconnect a bank, remove an account, exclude or include an account: request rules for CPAs, and
-- the service's finish touching exactly the rows the request names.
begin;
select plan(28);

create temp table fx (a uuid, b uuid, ca uuid, cb uuid, r1 uuid, r2 uuid, r3 uuid, r4 uuid) on commit drop;
grant select, update on fx to public;
insert into fx (a, b) values (tests.create_user('acr-a@cpa.test'), tests.create_user('acr-b@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(b);
select public.ob_customer_upsert(ca, 'acr-user-a', 'testing', 'acr-fin-a') from fx;
select public.ob_customer_upsert(cb, 'acr-user-b', 'testing', 'acr-fin-b') from fx;
-- A's client has two banks (logins 970000001 with two accounts, 970000002 with one); B's has one.
select public.ob_accounts_upsert('acr-fin-a', '[
  {"id":"acr-a1","institution_login_id":970000001,"institution_id":"102105"},
  {"id":"acr-a2","institution_login_id":970000001,"institution_id":"102105"},
  {"id":"acr-a3","institution_login_id":970000002,"institution_id":"102176"}]', '2026-03-01 00:00Z');
select public.ob_accounts_upsert('acr-fin-b', '[{"id":"acr-b1","institution_login_id":970000003,"institution_id":"102105"}]', '2026-03-01 00:00Z');
select public.ob_transactions_upsert(acct, format('[{"id":%s,"amount":"-1","status":"posted","posted_at":"2026-03-01","transaction_at":"2026-03-01"}]', n)::jsonb, '2026-03-01 00:00Z')
  from (values ('acr-a1', 980001), ('acr-a2', 980002), ('acr-a3', 980003), ('acr-b1', 980004)) v(acct, n);

-- rules for the CPA ------------------------------------------------------------------------------
select is((select array_agg(column_name::text order by column_name::text) from information_schema.column_privileges
             where table_schema = 'public' and table_name = 'open_banking_account_requests'
               and grantee = 'authenticated' and privilege_type = 'INSERT'),
          array['account_id', 'action', 'institution_login_id', 'platform_client_id']::text[],
          'a CPA may insert only the request columns');
select table_privs_are('public', 'open_banking_account_requests', 'authenticated', array['SELECT'],
                       'table-wide, a CPA may only read requests (no update, no delete)');
select table_privs_are('public', 'open_banking_account_requests', 'anon', array[]::text[], 'anon: nothing');

select tests.authenticate_as((select a from fx));
select lives_ok($$with r as (insert into public.open_banking_account_requests (platform_client_id, action, institution_login_id)
                              select ca, 'disconnect_login', 970000001 from fx returning id)
                  update fx set r1 = (select id from r)$$, 'CPA A asks to disconnect one of their client''s banks');
select results_eq($$select requested_by, status from public.open_banking_account_requests where id = (select r1 from fx)$$,
                  $$select a, 'queued'::text from fx$$, 'the request is A''s and queued');
select lives_ok($$with r as (insert into public.open_banking_account_requests (platform_client_id, action, account_id)
                              select ca, 'exclude_account', 'acr-a3' from fx returning id)
                  update fx set r2 = (select id from r)$$, 'CPA A asks to exclude an account from syncing');
select throws_ok($$insert into public.open_banking_account_requests (platform_client_id, action, account_id)
                   select ca, 'remove_account', 'acr-b1' from fx$$, '23503', 'This client has no account acr-b1.',
                 'CPA A cannot name B''s client''s account, even under their own client');
select throws_ok($$insert into public.open_banking_account_requests (platform_client_id, action, institution_login_id)
                   select ca, 'disconnect_login', 970000003 from fx$$, '23503', 'This client has no bank connection 970000003.',
                 'CPA A cannot name B''s client''s bank connection');
select throws_ok($$insert into public.open_banking_account_requests (platform_client_id, action, account_id)
                   select cb, 'remove_account', 'acr-b1' from fx$$, '23503', 'This client has no account acr-b1.',
                 'CPA A cannot make a request for B''s client (B''s account is not found for A)');
select throws_ok($$insert into public.open_banking_account_requests (platform_client_id, action, account_id)
                   select ca, 'disconnect_login', 'acr-a1' from fx$$, '23514', null,
                 'a disconnect names a bank connection, not an account (check violation)');
select throws_ok($$insert into public.open_banking_account_requests (platform_client_id, action)
                   select ca, 'remove_account' from fx$$, '23514', null, 'a removal must name the account');
select throws_ok($$insert into public.open_banking_account_requests (platform_client_id, action, account_id)
                   select ca, 'delete_everything', 'acr-a1' from fx$$, '23514', null, 'an unknown action is refused');
select throws_ok($$insert into public.open_banking_account_requests (platform_client_id, action, account_id, status)
                   select ca, 'remove_account', 'acr-a1', 'succeeded' from fx$$, '42501', null, 'CPA A cannot name status');
select throws_ok($$update public.open_banking_account_requests set status = 'failed'$$, '42501', null, 'CPA A cannot update a request');
select tests.authenticate_as((select b from fx));
select is((select count(*) from public.open_banking_account_requests), 0::bigint, 'CPA B sees none of A''s requests');

-- the service carries them out --------------------------------------------------------------------
select tests.as_service_role();
select is(public.ob_account_request_begin((select r1 from fx)) - 'id' - 'created_at' - 'updated_at' - 'requested_by' - 'platform_client_id',
          '{"action": "disconnect_login", "status": "running", "account_id": null, "error_message": null, "finished_at": null,
            "accounts_removed": null, "institution_login_id": 970000001, "finicity_customer_id": "acr-fin-a"}'::jsonb,
          'begin: running, with what to call at Mastercard');
select is(public.ob_account_request_finish((select r1 from fx)), '{"status": "succeeded", "accounts_removed": 2}'::jsonb,
          'finish: the disconnect removed the login''s two accounts');
select is(array(select id from public.open_banking_accounts where platform_client_id = (select ca from fx) order by id),
          array['acr-a3'], 'only the other bank''s account is left');
select is(array(select id from public.open_banking_institution_logins where platform_client_id = (select ca from fx) order by id),
          array[970000002::bigint], 'the disconnected login is gone, the other stays');
select is(array(select id from public.open_banking_transactions where account_id like 'acr-%' order by id), array[980003::bigint, 980004],
          'the removed accounts'' transactions are gone; the others (and B''s) are untouched');
select is(public.ob_account_request_finish((select r1 from fx)), '{"status": "succeeded", "accounts_removed": 2}'::jsonb,
          'finishing twice changes nothing');
select public.ob_account_request_begin((select r2 from fx));
select is(public.ob_account_request_finish((select r2 from fx)) ->> 'status', 'succeeded', 'the exclusion is confirmed');
select results_eq($$select sync_excluded, sync_excluded_at is not null from public.open_banking_accounts where id = 'acr-a3'$$,
                  $$values (true, true)$$, 'the account is excluded from syncing and kept');
select is(public.ob_accounts_upsert('acr-fin-a', '[{"id":"acr-a3","institution_login_id":970000002,"balance":"999"}]', '2026-03-02 00:00Z'),
          '{"skipped": 1, "written": 0, "snapshots": 0}'::jsonb, 'a sync does not update an excluded account');
select is(public.ob_transactions_upsert('acr-a3', '[{"id":990001,"amount":"-2","status":"posted","posted_at":"2026-03-02","transaction_at":"2026-03-02"}]', '2026-03-02 00:00Z') ->> 'written',
          '0', 'nor write transactions into it');
select tests.clear_auth();
insert into public.open_banking_account_requests (platform_client_id, action, account_id) select ca, 'include_account', 'acr-a3' from fx;
select is((select count(*) from private.ob_jobs j join public.open_banking_account_requests r
             on j.kind = 'account_request' and j.payload ->> 'account_request_id' = r.id::text
           where r.platform_client_id = (select ca from fx)), 3::bigint, 'every request queues one job');

-- retention: finished requests go with the other request rows (ob-purge-requests)
alter table public.open_banking_account_requests disable trigger set_updated_at;  -- (rolled back)
update public.open_banking_account_requests set updated_at = now() - interval '91 days'
 where id in (select r1 from fx union all select r2 from fx);
select is(private.ob_purge_requests(), 2, 'the requests purge removes finished account requests over 90 days old');
select is((select count(*) from public.open_banking_account_requests where platform_client_id = (select ca from fx)), 1::bigint,
          '...and keeps the waiting one');

select * from finish();
rollback;
