-- CPA annotations: own clients only, exactly the annotation columns, the sync cannot change them,
-- an annotation follows its pending transaction to the posted one, and the view joins them.
begin;
select plan(30);

create temp table fx (a uuid, b uuid, ca uuid, cb uuid) on commit drop;
grant select on fx to public;
insert into fx (a, b) values (tests.create_user('note-a@cpa.test'), tests.create_user('note-b@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(b);
select public.ob_customer_upsert(ca, 'note-user-a', 'testing', 'note-fin-a') from fx;
select public.ob_customer_upsert(cb, 'note-user-b', 'testing', 'note-fin-b') from fx;
select public.ob_accounts_upsert('note-fin-a', '[{"id":"note-acct-a","institution_login_id":960000001,"institution_id":"102105","name":"Checking"}]', '2026-03-01 00:00Z');
select public.ob_accounts_upsert('note-fin-b', '[{"id":"note-acct-b","institution_login_id":960000002,"institution_id":"102105","name":"Checking"}]', '2026-03-01 00:00Z');
select public.ob_transactions_upsert('note-acct-a', '[
  {"id":501,"amount":"-12.3400","description":"COFFEE  Shop","status":"pending","transaction_at":"2026-03-02 10:00Z"},
  {"id":502,"amount":"-99.0000","description":"Rent","status":"posted","transaction_at":"2026-03-01 00:00Z","posted_at":"2026-03-01 00:00Z"},
  {"id":503,"amount":"-5.0000","description":"Parking","status":"posted","transaction_at":"2026-03-01 00:00Z","posted_at":"2026-03-01 00:00Z"}]',
  '2026-03-02 12:00Z');
select public.ob_transactions_upsert('note-acct-b', '[{"id":701,"amount":"-1.0000","description":"B row","status":"posted","transaction_at":"2026-03-01 00:00Z","posted_at":"2026-03-01 00:00Z"}]',
  '2026-03-02 12:00Z');

-- grants ----------------------------------------------------------------------------------------
select is((select array_agg(column_name::text order by column_name::text) from information_schema.column_privileges
             where table_schema = 'public' and table_name = 'open_banking_transaction_annotations'
               and grantee = 'authenticated' and privilege_type = 'UPDATE'),
          array['category', 'note', 'reviewed', 'tax_line']::text[],
          'a CPA may update exactly the annotation columns');
select is((select array_agg(column_name::text order by column_name::text) from information_schema.column_privileges
             where table_schema = 'public' and table_name = 'open_banking_transaction_annotations'
               and grantee = 'authenticated' and privilege_type = 'INSERT'),
          array['account_id', 'category', 'note', 'reviewed', 'tax_line', 'transaction_id']::text[],
          'a CPA may insert the annotation columns and the transaction they are about, nothing else');
select table_privs_are('public', 'open_banking_transaction_annotations', 'authenticated', array['SELECT', 'DELETE'],
                       'table-wide, a CPA may only read and clear annotations');
select table_privs_are('public', 'open_banking_transaction_annotations', 'service_role', array['SELECT'],
                       'the service (and so the sync) may only read annotations');
select table_privs_are('public', 'open_banking_transaction_annotations', 'anon', array[]::text[], 'anon: nothing');
select ok((select relrowsecurity from pg_class where oid = 'public.open_banking_transaction_annotations'::regclass),
          'RLS is enabled on annotations');

-- a CPA annotates their own client's transactions ---------------------------------------------
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_transaction_annotations (account_id, transaction_id, category, tax_line, note, reviewed)
                  values ('note-acct-a', 501, 'Meals', 'Sch C line 24b', 'client lunch', true)$$,
                'CPA A annotates a transaction of their own client');
select results_eq($$select platform_client_id, reviewed, reviewed_by, reviewed_at is not null, updated_by
                      from public.open_banking_transaction_annotations where account_id = 'note-acct-a' and transaction_id = 501$$,
                  $$select ca, true, a, true, a from fx$$,
                  'the client comes from the transaction; reviewed_by/at and updated_by are set by the database');
select throws_ok($$insert into public.open_banking_transaction_annotations (account_id, transaction_id, note)
                   values ('note-acct-b', 701, 'peek')$$, '23503', null,
                 'CPA A cannot annotate B''s client''s transaction (it is not found for A)');
select throws_ok($$insert into public.open_banking_transaction_annotations (account_id, transaction_id, platform_client_id)
                   select 'note-acct-a', 502, cb from fx$$, '42501', null,
                 'CPA A cannot name platform_client_id: column privilege denied');
select throws_ok($$insert into public.open_banking_transaction_annotations (account_id, transaction_id, reviewed_by)
                   select 'note-acct-a', 502, b from fx$$, '42501', null,
                 'CPA A cannot name reviewed_by: column privilege denied');
select throws_ok($$update public.open_banking_transaction_annotations set transaction_id = 502
                    where account_id = 'note-acct-a' and transaction_id = 501$$, '42501', null,
                 'CPA A cannot re-key an annotation: column privilege denied');
select throws_ok($$update public.open_banking_transaction_annotations set reviewed_at = now() - interval '1 year'$$,
                 '42501', null, 'CPA A cannot back-date a review: column privilege denied');
select throws_ok($$insert into public.open_banking_transaction_annotations (account_id, transaction_id, note)
                   values ('note-acct-a', 502, repeat('x', 4001))$$, '23514', null, 'a note over 4000 characters is refused');
select lives_ok($$update public.open_banking_transaction_annotations set reviewed = false, note = 'client lunch, 2 people'
                   where account_id = 'note-acct-a' and transaction_id = 501$$, 'CPA A edits the note and un-reviews');
select results_eq($$select note, reviewed, reviewed_by, reviewed_at from public.open_banking_transaction_annotations
                     where account_id = 'note-acct-a' and transaction_id = 501$$,
                  $$values ('client lunch, 2 people'::text, false, null::uuid, null::timestamptz)$$,
                  'un-reviewing clears reviewed_by/at');
select lives_ok($$insert into public.open_banking_transaction_annotations (account_id, transaction_id, category)
                  values ('note-acct-a', 503, 'Auto')$$, 'CPA A annotates a second transaction');

-- another CPA sees and changes nothing ---------------------------------------------------------
select tests.authenticate_as((select b from fx));
select is((select count(*) from public.open_banking_transaction_annotations), 0::bigint, 'CPA B reads none of A''s annotations');
select is((select count(*) from public.open_banking_transactions_annotated where account_id = 'note-acct-a'), 0::bigint,
          'CPA B reads none of A''s transactions through the view');
update public.open_banking_transaction_annotations set note = 'vandal';
delete from public.open_banking_transaction_annotations;
select tests.authenticate_as((select a from fx));
select results_eq($$select transaction_id, note from public.open_banking_transaction_annotations order by 1$$,
                  $$values (501::bigint, 'client lunch, 2 people'::text), (503, null)$$,
                  'B''s update and delete touched none of A''s annotations');
select results_eq($$select id, cpa_category, note, reviewed from public.open_banking_transactions_annotated
                     where account_id = 'note-acct-a' order by effective_at desc, id desc$$,
                  $$values (501::bigint, 'Meals'::text, 'client lunch, 2 people'::text, false),
                           (503, 'Auto', null, false), (502, null, null, false)$$,
                  'the view gives A every transaction with its annotation in one query');

-- the sync cannot change them ------------------------------------------------------------------
select tests.as_service_role();
select throws_ok($$update public.open_banking_transaction_annotations set note = 'sync'$$, '42501', null,
                 'service_role cannot update annotations');
select throws_ok($$insert into public.open_banking_transaction_annotations (account_id, transaction_id, note)
                   values ('note-acct-a', 502, 'sync')$$, '42501', null, 'service_role cannot insert annotations');
select public.ob_transactions_upsert('note-acct-a', '[
  {"id":501,"amount":"-12.3400","description":"COFFEE  Shop","status":"pending","transaction_at":"2026-03-02 10:00Z","category":"Food"}]',
  '2026-03-03 12:00Z');
select results_eq($$select category, tax_line, note from public.open_banking_transaction_annotations where transaction_id = 501$$,
                  $$values ('Meals'::text, 'Sch C line 24b'::text, 'client lunch, 2 people'::text)$$,
                  'a sync that rewrites the transaction leaves its annotation as it was');

-- pending -> posted under a new id ---------------------------------------------------------------
select public.ob_transactions_upsert('note-acct-a', '[
  {"id":601,"amount":"-12.3400","description":"Coffee shop","status":"posted","transaction_at":"2026-03-02 10:00Z","posted_at":"2026-03-03 00:00Z"},
  {"id":602,"amount":"-12.3400","description":"Coffee shop","status":"posted","transaction_at":"2026-02-20 10:00Z","posted_at":"2026-02-21 00:00Z"},
  {"id":502,"amount":"-99.0000","description":"Rent","status":"posted","transaction_at":"2026-03-01 00:00Z","posted_at":"2026-03-01 00:00Z"}]',
  '2026-03-04 12:00Z');
select is(public.ob_transactions_reconcile('note-acct-a', '2026-03-01 00:00Z', '2026-03-05 00:00Z', '2026-03-04 00:00Z') ->> 'removed',
          '2', 'reconcile removes the pending row (posted under a new id) and the parking row the bank dropped');
select results_eq($$select transaction_id, category, tax_line, note, reviewed from public.open_banking_transaction_annotations
                     where account_id = 'note-acct-a' order by 1$$,
                  $$values (601::bigint, 'Meals'::text, 'Sch C line 24b'::text, 'client lunch, 2 people'::text, false)$$,
                  'the annotation followed its transaction to the posted row (same amount, description, date), not to the older look-alike; the dropped row''s annotation went with it');

-- the same through the view, as the CPA ----------------------------------------------------------
select tests.authenticate_as((select a from fx));
select results_eq($$select id, status, cpa_category, note from public.open_banking_transactions_annotated where note is not null$$,
                  $$values (601::bigint, 'posted'::text, 'Meals'::text, 'client lunch, 2 people'::text)$$,
                  'the CPA sees the note on the posted transaction');
select lives_ok($$delete from public.open_banking_transaction_annotations where transaction_id = 601$$, 'a CPA can clear an annotation');
select is((select count(*) from public.open_banking_transaction_annotations), 0::bigint, '...and it is gone');

-- removing the account removes its annotations ---------------------------------------------------
select tests.clear_auth();
insert into public.open_banking_transaction_annotations (account_id, transaction_id, note) values ('note-acct-b', 701, 'B''s note');
select public.ob_accounts_delete('note-fin-b', array['note-acct-b']);
select is((select count(*) from public.open_banking_transaction_annotations where account_id = 'note-acct-b'), 0::bigint,
          'deleting an account deletes its annotations');

select * from finish();
rollback;
