-- What a CPA had removed at Mastercard (a disconnected bank login, a removed account) is not written
-- back by anything still carrying its ids: a sync that listed the accounts just before the removal, a
-- replayed Connect event, a login update. Other accounts, and requests that failed, change nothing.
begin;
select plan(12);

create temp table fx (cpa uuid, client uuid, disconnect uuid, remove uuid, failed uuid) on commit drop;
insert into fx (cpa) select tests.create_user('rsr@cpa.test');
update fx set client = tests.create_client(cpa);
select public.ob_customer_upsert(client, 'rsr-user', 'testing', 'rsr-fin') from fx;
-- Two banks: login 971000001 (rsr-a1, rsr-a2) and 971000002 (rsr-a3, rsr-a4).
select public.ob_accounts_upsert('rsr-fin', '[
  {"id":"rsr-a1","institution_login_id":971000001,"institution_id":"102105"},
  {"id":"rsr-a2","institution_login_id":971000001,"institution_id":"102105"},
  {"id":"rsr-a3","institution_login_id":971000002,"institution_id":"102176"},
  {"id":"rsr-a4","institution_login_id":971000002,"institution_id":"102176"}]', '2026-03-01 00:00Z');

-- The CPA's requests, carried out (Mastercard confirmed): the first bank disconnected, rsr-a3 removed;
-- a removal of rsr-a4 that Mastercard refused.
insert into public.open_banking_account_requests (platform_client_id, action, institution_login_id)
select client, 'disconnect_login', 971000001 from fx;
insert into public.open_banking_account_requests (platform_client_id, action, account_id)
select client, 'remove_account', 'rsr-a3' from fx;
insert into public.open_banking_account_requests (platform_client_id, action, account_id)
select client, 'remove_account', 'rsr-a4' from fx;
update fx set disconnect = (select id from public.open_banking_account_requests where institution_login_id = 971000001),
              remove = (select id from public.open_banking_account_requests where account_id = 'rsr-a3'),
              failed = (select id from public.open_banking_account_requests where account_id = 'rsr-a4');
select public.ob_account_request_begin(id) from public.open_banking_account_requests;
select public.ob_account_request_finish(disconnect) from fx;
select public.ob_account_request_finish(remove) from fx;
select public.ob_account_request_finish(failed, 'Mastercard refused') from fx;
select is((select array_agg(id order by id) from public.open_banking_accounts where platform_client_id = (select client from fx)),
          array['rsr-a4'], 'fixture: after the requests only rsr-a4 is left');

-- A sync that listed the accounts before the removals, writing after them --------------------------
select is(public.ob_accounts_upsert('rsr-fin', '[
  {"id":"rsr-a1","institution_login_id":971000001,"institution_id":"102105"},
  {"id":"rsr-a2","institution_login_id":971000001,"institution_id":"102105"},
  {"id":"rsr-a3","institution_login_id":971000002,"institution_id":"102176"},
  {"id":"rsr-a4","institution_login_id":971000002,"institution_id":"102176","balance":"5.00"},
  {"id":"rsr-a5","institution_login_id":971000002,"institution_id":"102176"}]', '2026-03-02 00:00Z'),
  '{"written": 2, "skipped": 3, "snapshots": 2, "removed_at_mastercard": ["rsr-a1", "rsr-a2", "rsr-a3"]}'::jsonb,
  'a late sync page writes the accounts still at the bank and names the ones removed at Mastercard');
select is((select array_agg(id order by id) from public.open_banking_accounts where platform_client_id = (select client from fx)),
          array['rsr-a4', 'rsr-a5'], 'no removed account comes back; a new one on the remaining bank is stored');
select is((select balance from public.open_banking_accounts where id = 'rsr-a4'), 5.00::numeric,
          'a request Mastercard refused removes nothing and blocks nothing');
select is((select array_agg(id order by id) from public.open_banking_institution_logins
            where platform_client_id = (select client from fx)), array[971000002::bigint],
          'the disconnected bank login does not come back either');

-- A replayed Connect event carrying the removed ids --------------------------------------------------
select is(public.ob_webhook_events_apply('rsr-w', jsonb_build_object(
  'logins', jsonb_build_array(jsonb_build_object('customer', 'rsr-fin', 'id', 971000001, 'institution_id', '102105')),
  'accounts', jsonb_build_array(
     jsonb_build_object('customer', 'rsr-fin', 'fetched_at', '2026-03-03T00:00:00Z', 'ord', 0, 'id', 'rsr-a2',
                        'institution_login_id', 971000001, 'institution_id', '102105'),
     jsonb_build_object('customer', 'rsr-fin', 'fetched_at', '2026-03-03T00:00:00Z', 'ord', 1, 'id', 'rsr-a3',
                        'institution_login_id', 971000002, 'institution_id', '102176'),
     jsonb_build_object('customer', 'rsr-fin', 'fetched_at', '2026-03-03T00:00:00Z', 'ord', 2, 'id', 'rsr-a5',
                        'institution_login_id', 971000002, 'institution_id', '102176', 'balance', '7.00')))),
  '{"completed": 0, "enqueued": 0}'::jsonb, 'a replayed event batch applies');
select is((select array_agg(id order by id) from public.open_banking_accounts where platform_client_id = (select client from fx)),
          array['rsr-a4', 'rsr-a5'], 'its removed accounts stay removed');
select is((select balance from public.open_banking_accounts where id = 'rsr-a5'), 7.00::numeric,
          'its other accounts are applied as usual');
select is((select count(*) from public.open_banking_institution_logins where id = 971000001), 0::bigint,
          'its disconnected login stays disconnected');

-- A login update naming the disconnected login --------------------------------------------------------
select is(public.ob_institution_login_upsert('rsr-fin', '{"id": 971000001, "institution_id": "102105"}'), null,
          'a login update for a disconnected login is refused (null) ...');
select is((select count(*) from public.open_banking_institution_logins where id = 971000001), 0::bigint, '... and writes nothing');
select isnt(public.ob_institution_login_upsert('rsr-fin', '{"id": 971000002, "status": "active"}'), null,
            'a login update for the remaining bank is written');

select * from finish();
rollback;
