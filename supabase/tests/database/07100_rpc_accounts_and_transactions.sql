-- Service RPCs for accounts and transactions: pages upsert in one call, exact money, one balance
-- snapshot per account per day, and the guard: an older fetch never overwrites a newer row.
begin;
select plan(47);

create temp table fx (a uuid, ca uuid, cb uuid) on commit drop;
grant select on fx to public;
insert into fx (a) values (tests.create_user('acct-a@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(a);
select public.ob_customer_upsert(ca, 'acct-user-a', 'testing', 'acct-fin-a') from fx;
select public.ob_customer_upsert(cb, 'acct-user-b', 'testing', 'acct-fin-b') from fx;

select tests.as_service_role();
-- accounts -------------------------------------------------------------------------------------
select is(public.ob_accounts_upsert('acct-fin-a',
  '[{"id":"acct-1","institution_login_id":980000001,"institution_id":"101732","name":"Checking","type":"checking",
     "number_masked":"****1234","balance":"1234.5678","currency":"USD"},
    {"id":"acct-2","institution_login_id":980000001,"name":"Savings","balance":"-0.0001"}]',
  '2026-01-10 10:00Z'), '{"skipped": 0, "written": 2, "snapshots": 2}'::jsonb,
  'a page of two accounts: both written, one snapshot each');
select results_eq($$select balance, platform_client_id, institution_login_id, source_fetched_at from public.open_banking_accounts where id = 'acct-1'$$,
                  $$select 1234.5678::numeric, ca, 980000001::bigint, '2026-01-10 10:00Z'::timestamptz from fx$$,
                  'the account row has the exact balance, the client, the login and the fetch time');
select is((select balance from public.open_banking_accounts where id = 'acct-2'), -0.0001::numeric, 'a tiny negative balance is exact');
select results_eq($$select platform_client_id, customer_id is not null from public.open_banking_institution_logins where id = 980000001$$,
                  $$select ca, true from fx$$, 'the institution login named by the accounts is created for the customer');
select is(public.ob_accounts_upsert('acct-fin-a', '[{"id":"acct-1","balance":"1.00","institution_login_id":980000001}]', '2026-01-10 09:00Z'),
          '{"skipped": 1, "written": 0, "snapshots": 0}'::jsonb, 'an older fetch is skipped');
select results_eq($$select a.balance, s.balance, s.captured_at from public.open_banking_accounts a
                      join public.open_banking_balance_snapshots s on s.account_id = a.id where a.id = 'acct-1'$$,
                  $$values (1234.5678::numeric, 1234.5678::numeric, '2026-01-10 10:00Z'::timestamptz)$$,
                  'the older fetch overwrote neither the account nor the day''s snapshot');
select is(public.ob_accounts_upsert('acct-fin-a', '[{"id":"acct-1","balance":"2000","institution_login_id":980000001}]', '2026-01-10 11:00Z') ->> 'snapshots',
          '1', 'a newer fetch the same day rewrites that day''s snapshot');
select results_eq($$select snapshot_date, balance, captured_at from public.open_banking_balance_snapshots where account_id = 'acct-1'$$,
                  $$values ('2026-01-10'::date, 2000::numeric, '2026-01-10 11:00Z'::timestamptz)$$,
                  'still one snapshot for the day, with the newer balance');
select public.ob_accounts_upsert('acct-fin-a', '[{"id":"acct-1","balance":"2100","institution_login_id":980000001}]', '2026-01-11 08:00Z');
select is((select count(*) from public.open_banking_balance_snapshots where account_id = 'acct-1'), 2::bigint,
          'the next day adds a second snapshot (one per account per day)');
select is(public.ob_accounts_upsert('acct-fin-b', '[{"id":"acct-1","balance":"0"}]', '2026-02-01 00:00Z') ->> 'written', '0',
          'an account id owned by another customer is not taken over');
select is((select platform_client_id from public.open_banking_accounts where id = 'acct-1'), (select ca from fx),
          '...the account still belongs to its client');
select throws_ok($$select public.ob_accounts_upsert('acct-fin-nobody', '[]', now())$$, 'P0002', null, 'an unknown customer is refused (P0002)');
select throws_ok($$select public.ob_accounts_upsert('acct-fin-a', '[{"id":"acct-9","number_masked":"123456789"}]', now())$$,
                 '23514', null, 'an unmasked account number is refused (check violation)');
select is(public.ob_accounts_delete('acct-fin-a', array['acct-2', 'acct-1-of-nobody']), '{"deleted": 1, "kept_newer": 0}'::jsonb,
          'ob_accounts_delete removes only the customer''s named accounts');

-- transactions ---------------------------------------------------------------------------------
select is(public.ob_transactions_upsert('acct-1',
  '[{"id":981,"amount":"-1234.5678","status":"posted","posted_at":"2026-01-05T00:00:00Z","transaction_at":"2026-01-04T00:00:00Z","description":"RENT"},
    {"id":982,"amount":"10.00","status":"pending","transaction_at":"2026-01-09T00:00:00Z","description":"COFFEE"},
    {"id":983,"amount":"99.99","status":"posted","posted_at":"2026-01-06T00:00:00Z","description":"REFUND"}]',
  '2026-01-10 10:00Z'), '{"removed": 0, "written": 3, "received": 3, "released": 0, "quarantined": 0}'::jsonb,
  'a page of three transactions is written');
select results_eq($$select amount, amount::text, effective_at, platform_client_id from public.open_banking_transactions where id = 981$$,
                  $$select -1234.5678::numeric, '-1234.5678'::text, '2026-01-05 00:00Z'::timestamptz, ca from fx$$,
                  'amounts are exact numeric (-1234.5678), effective_at is the posted date, the client is the account''s');
select is((select effective_at from public.open_banking_transactions where id = 982), '2026-01-09 00:00Z'::timestamptz,
          'a pending row''s effective_at is its transaction date');
select is(public.ob_transactions_upsert('acct-1',
  '[{"id":981,"amount":"-1234.5678","status":"posted","posted_at":"2026-01-05T00:00:00Z","transaction_at":"2026-01-04T00:00:00Z","description":"RENT"}]',
  '2026-01-10 10:30Z') ->> 'written', '0', 'an unchanged row is not rewritten');
select is(public.ob_transactions_upsert('acct-1',
  '[{"id":982,"amount":"10.50","status":"posted","transaction_at":"2026-01-09T00:00:00Z","posted_at":"2026-01-10T00:00:00Z","description":"COFFEE"}]',
  '2026-01-10 11:00Z') ->> 'written', '1', 'a newer fetch updates a row (pending -> posted)');
select results_eq($$select status, amount, source_fetched_at from public.open_banking_transactions where id = 982$$,
                  $$values ('posted'::text, 10.50::numeric, '2026-01-10 11:00Z'::timestamptz)$$, 'the row has the newer values');
select is(public.ob_transactions_upsert('acct-1',
  '[{"id":982,"amount":"10.00","status":"pending","transaction_at":"2026-01-09T00:00:00Z","description":"COFFEE"}]',
  '2026-01-10 09:00Z') ->> 'written', '0', 'upsert guard: an older fetch arriving late writes nothing...');
select results_eq($$select status, amount, source_fetched_at from public.open_banking_transactions where id = 982$$,
                  $$values ('posted'::text, 10.50::numeric, '2026-01-10 11:00Z'::timestamptz)$$,
                  '...and the newer row is kept');
select is(public.ob_transactions_upsert('acct-1', '[{"id":983,"amount":"99.99","status":"shadow"}]', '2026-01-10 09:00Z') ->> 'removed', '0',
          'a shadow marker from an older fetch does not remove a newer row');
select is(public.ob_transactions_upsert('acct-1', '[{"id":983,"amount":"99.99","status":"shadow"},{"id":984,"amount":"1","status":"shadow"}]',
                                        '2026-01-10 12:00Z'), '{"removed": 1, "written": 0, "received": 2, "released": 0, "quarantined": 0}'::jsonb,
          'shadow rows are removed, never stored');
select is((select count(*) from public.open_banking_transactions where id in (983, 984)), 0::bigint, 'no shadow row is left');
select throws_ok($$select public.ob_transactions_upsert('no-such-account', '[]', now())$$, 'P0002', null, 'an unknown account is refused (P0002)');

-- reconcile ------------------------------------------------------------------------------------
select public.ob_transactions_upsert('acct-1',
  '[{"id":985,"amount":"5","status":"posted","posted_at":"2026-01-02T00:00:00Z"},
    {"id":986,"amount":"6","status":"posted","posted_at":"2025-12-01T00:00:00Z"}]', '2026-01-10 10:00Z');
select public.ob_transactions_upsert('acct-1', '[{"id":987,"amount":"7","status":"posted","posted_at":"2026-01-03T00:00:00Z"}]',
                                     '2026-01-10 13:00Z');
-- a run that started 12:00 read [Jan 1, Jan 11] and saw 981 and 982 only: its pages stamp them
-- with its fetch time (12:30)
select public.ob_transactions_upsert('acct-1',
  (select jsonb_agg(jsonb_build_object('id', t.id, 'amount', t.amount::text, 'status', t.status, 'posted_at', t.posted_at,
                                       'transaction_at', t.transaction_at, 'description', t.description))
     from public.open_banking_transactions t where t.id in (981, 982)), '2026-01-10 12:30Z');
select is(public.ob_transactions_reconcile('acct-1', '2026-01-01 00:00Z', '2026-01-11 00:00Z', '2026-01-10 12:00Z'),
          '{"removed": 1}'::jsonb, 'reconcile removes the row in range that the run did not see');
select is(array(select id from public.open_banking_transactions where account_id = 'acct-1' order by id), array[981, 982, 986, 987]::bigint[],
          'seen rows, rows outside the range (986) and rows written after the run started (987) stay');

-- A row the run saw but found unchanged must not be removed either (its fetch time moved on).
select public.ob_transactions_upsert('acct-1',
  '[{"id":981,"amount":"-1234.5678","status":"posted","posted_at":"2026-01-05T00:00:00Z","transaction_at":"2026-01-04T00:00:00Z","description":"RENT"}]',
  '2026-01-11 12:00Z');
select is(public.ob_transactions_reconcile('acct-1', '2026-01-01 00:00Z', '2026-01-12 00:00Z', '2026-01-11 11:59Z') -> 'removed', '2'::jsonb,
          'reconcile removes only the unseen rows (982, 987), not 981 which the run saw unchanged');
select is(array(select id from public.open_banking_transactions where account_id = 'acct-1' order by id), array[981, 986]::bigint[],
          'after a run that saw only 981 (unchanged), 981 is still there (and 986, outside the range)');

-- both dates: a row transacted before the window and posted inside it may not have been asked for ------
select public.ob_transactions_upsert('acct-1',
  '[{"id":990,"amount":"1","status":"posted","transaction_at":"2026-01-20T00:00:00Z","posted_at":"2026-01-23T00:00:00Z"},
    {"id":991,"amount":"2","status":"posted","transaction_at":"2026-01-22T00:00:00Z","posted_at":"2026-01-23T00:00:00Z"},
    {"id":992,"amount":"3","status":"pending","transaction_at":"2026-01-22T00:00:00Z"}]', '2026-01-24 10:00Z');
select is(public.ob_transactions_reconcile('acct-1', '2026-01-21 00:00Z', '2026-01-25 00:00Z', '2026-01-24 11:00Z') -> 'removed', '2'::jsonb,
          'reconcile of [Jan 21, Jan 25] removes the unseen rows whose every date is inside (991, 992)...');
select is(array(select id from public.open_banking_transactions where account_id = 'acct-1' and id >= 990), array[990]::bigint[],
          '...and keeps 990: transacted Jan 20, it is outside the window if the API filters on transactionDate');

-- ids are unique per account only -------------------------------------------------------------------
select public.ob_accounts_upsert('acct-fin-b', '[{"id":"acct-b1","institution_login_id":980000002}]', '2026-01-10 10:00Z');
select is(public.ob_transactions_upsert('acct-b1',
  '[{"id":981,"unique_transaction_id":"acct-b1-981","amount":"42","status":"posted","posted_at":"2026-01-05T00:00:00Z"}]',
  '2026-01-10 10:00Z') ->> 'written', '1', 'the same transaction id in another client''s account is written');
select results_eq($$select account_id, amount, platform_client_id, unique_transaction_id from public.open_banking_transactions where id = 981 order by account_id$$,
                  $$select 'acct-1'::text, -1234.5678::numeric, ca, null::text from fx
                    union all select 'acct-b1', 42::numeric, cb, 'acct-b1-981' from fx$$,
                  'both rows of id 981 are kept, each with its own account, client and uniqueTransactionId');

-- quarantine ----------------------------------------------------------------------------------------
select is(public.ob_transactions_upsert('acct-b1', '[]', '2026-01-11 10:00Z',
  '[{"row_key":"995","transaction_id":995,"raw":{"id":995,"status":null,"memo":"FROM ACCT ****9012"},"reason":"Expected `str`, got `null` - at `$.status`"}]')
  ->> 'quarantined', '1', 'a row that did not parse is quarantined');
select results_eq($$select account_id, platform_client_id, transaction_id, raw ->> 'memo', seen_count from private.ob_transaction_quarantine$$,
                  $$select 'acct-b1'::text, cb, 995::bigint, 'FROM ACCT ****9012'::text, 1 from fx$$,
                  'the quarantine keeps the account, the client, the id and the (masked) raw row');
select public.ob_transactions_upsert('acct-b1', '[]', '2026-01-12 10:00Z',
  '[{"row_key":"995","transaction_id":995,"raw":{"id":995},"reason":"again"}]');
select is((select seen_count from private.ob_transaction_quarantine where row_key = '995'), 2, 'seen again: counted, not duplicated');
select is(public.ob_transaction_quarantine_summary(5) - 'latest', '{"rows": 1, "accounts": 1}'::jsonb,
          'the summary counts quarantined rows and accounts');
select is(public.ob_transactions_upsert('acct-b1', '[{"id":995,"amount":"1","status":"posted","posted_at":"2026-01-11T00:00:00Z"}]',
                                        '2026-01-13 10:00Z') ->> 'released', '1',
          'a later page that parses the row releases it...');
select is((select count(*) from private.ob_transaction_quarantine), 0::bigint, '...and the quarantine is empty');
select tests.clear_auth();
select tests.authenticate_as((select a from fx));
select throws_ok($$select count(*) from private.ob_transaction_quarantine$$, '42501', null, 'a CPA cannot read the quarantine');
select tests.clear_auth();

-- a customer-level page: every account's share in one call ------------------------------------------
select tests.as_service_role();
select public.ob_accounts_upsert('acct-fin-b', '[{"id":"acct-b2","institution_login_id":980000002}]', '2026-01-10 10:00Z');
select is(public.ob_transactions_upsert_accounts(
  '[{"account_id":"acct-b2","transactions":[{"id":7001,"amount":"-12.34","status":"posted","posted_at":"2026-01-14T00:00:00Z"},
                                            {"id":7002,"amount":"5","status":"pending","transaction_at":"2026-01-15T00:00:00Z"}]},
    {"account_id":"acct-b1","transactions":[{"id":7001,"amount":"1.5","status":"posted","posted_at":"2026-01-14T00:00:00Z"}],
     "rejected":[{"row_key":"7009","transaction_id":7009,"raw":{"id":7009},"reason":"bad"}]}]',
  '2026-01-15 10:00Z'),
  '{"acct-b1": {"removed": 0, "written": 1, "received": 1, "released": 0, "quarantined": 1},
    "acct-b2": {"removed": 0, "written": 2, "received": 2, "released": 0, "quarantined": 0}}'::jsonb,
  'ob_transactions_upsert_accounts writes each account''s share as ob_transactions_upsert does, in one call');
select results_eq($$select account_id, id, amount from public.open_banking_transactions where id in (7001, 7002) order by account_id, id$$,
                  $$values ('acct-b1'::text, 7001::bigint, 1.5::numeric), ('acct-b2', 7001, -12.34), ('acct-b2', 7002, 5)$$,
                  '...each row in its own account, exact amounts, the quarantined row kept apart');
select throws_ok($$select public.ob_transactions_upsert_accounts('[{"account_id":"acct-b2","transactions":[]},{"account_id":"acct-nobody","transactions":[]}]', now())$$,
                 'P0002', null, 'a page naming an unknown account is refused whole (P0002)');
-- reconcile of several accounts over one window
select public.ob_transactions_upsert_accounts(
  '[{"account_id":"acct-b2","transactions":[{"id":7001,"amount":"-12.34","status":"posted","posted_at":"2026-01-14T00:00:00Z"}]}]',
  '2026-01-16 10:00Z');
select is(public.ob_transactions_reconcile_accounts(array['acct-b2', 'acct-b1', 'acct-b2'], '2026-01-13 00:00Z', '2026-01-17 00:00Z',
                                                    '2026-01-16 09:00Z'),
          '{"removed": 2, "accounts": {"acct-b1": 1, "acct-b2": 1}}'::jsonb,
          'ob_transactions_reconcile_accounts reconciles each account once (acct-b1''s 7001 and acct-b2''s 7002 unseen)');
select is(array(select account_id || ':' || id from public.open_banking_transactions where id in (7001, 7002) order by 1),
          array['acct-b2:7001'], '...and keeps the row the run saw');
select tests.clear_auth();

-- cursor ---------------------------------------------------------------------------------------------
select tests.as_service_role();
select results_eq($$select c ->> 'last_posted_at', c ->> 'earliest_recent_at' from jsonb_array_elements(public.ob_sync_cursor('acct-fin-a', 10)) c$$,
                  $$values ('2026-01-23T00:00:00+00:00'::text, '2026-01-20T00:00:00+00:00'::text)$$,
                  'the cursor names the earliest transaction date of rows posted within the overlap (990: Jan 20)');
select tests.clear_auth();

select * from finish();
rollback;
