-- Documents: request rows (CPA inserts under RLS, job queued), document rows (read under RLS, a held
-- statement never replaced), the private bucket and the storage.objects policy (a CPA reads objects
-- under its own clients' folders only, and writes nothing), the service's functions.
begin;
select plan(36);

create temp table fx (a uuid, b uuid, ca uuid, cb uuid, req uuid, doc uuid) on commit drop;
grant select, update on fx to public;
insert into fx (a, b) values (tests.create_user('doc-a@cpa.test'), tests.create_user('doc-b@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(b);
insert into public.open_banking_customers (id, platform_client_id, finicity_customer_id, finicity_username, customer_type)
select gen_random_uuid(), c, 'doc-fin-' || n, 'doc-user-' || n, 'testing'
  from (select ca as c, 'a' as n from fx union all select cb, 'b' from fx) x;
insert into public.open_banking_accounts (id, platform_client_id, customer_id, name, type, source_fetched_at)
select 'doc-acct-' || n, c.platform_client_id, c.id, 'Checking ' || n, 'checking', now()
  from public.open_banking_customers c join (values ('a'), ('b')) v(n) on c.finicity_customer_id = 'doc-fin-' || n;

-- the bucket ---------------------------------------------------------------------------------------
select results_eq($$select public, file_size_limit from storage.buckets where id = 'open-banking-documents'$$,
                  $$values (false, 52428800::bigint)$$, 'the documents bucket exists and is private (50 MiB per file)');

-- request rows -------------------------------------------------------------------------------------
select tests.authenticate_as((select a from fx));
select lives_ok($$with r as (insert into public.open_banking_document_requests (platform_client_id, kind, last_n)
                              select ca, 'statements', 3 from fx returning id)
                  update fx set req = (select id from r)$$,
                'CPA A can ask for the last 3 statements of its client''s accounts');
select results_eq($$select requested_by, status from public.open_banking_document_requests where id = (select req from fx)$$,
                  $$select a, 'queued'::text from fx$$, 'the request is A''s and queued');
select lives_ok($$insert into public.open_banking_document_requests
                    (platform_client_id, kind, account_ids, from_date, to_date, formats, include_pending)
                  select ca, 'export', array['doc-acct-a'], date '2025-01-01', date '2025-12-31', array['csv', 'qbo'], true
                    from fx$$,
                'CPA A can ask for a CSV + QBO export of 12 months of one account');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind, last_n, status)
                   select ca, 'statements', 1, 'succeeded' from fx$$, '42501', null,
                 'CPA A cannot name status: column privilege denied');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind, last_n)
                   select cb, 'statements', 1 from fx$$, '42501',
                 'new row violates row-level security policy for table "open_banking_document_requests"',
                 'CPA A cannot ask for documents of B''s client');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind, account_ids, last_n)
                   select ca, 'statements', array['doc-acct-b'], 1 from fx$$, '42501', null,
                 'CPA A cannot name B''s account for its own client');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind) select ca, 'statements' from fx$$,
                 '23514', null, 'a statements request needs last_n or statement_months');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind, last_n, statement_months)
                   select ca, 'statements', 2, array[date '2025-01-01'] from fx$$,
                 '23514', null, 'a statements request names last_n or months, not both');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind, last_n) select ca, 'statements', 25 from fx$$,
                 '23514', null, 'at most the last 24 statements (what Mastercard offers)');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind, from_date, to_date, formats)
                   select ca, 'export', date '2025-12-31', date '2025-01-01', array['csv'] from fx$$,
                 '23514', null, 'an export range must not end before it starts');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind, from_date, to_date, formats)
                   select ca, 'export', date '2025-01-01', date '2025-12-31', array['xlsx'] from fx$$,
                 '23514', null, 'an unknown export format is a check violation');
select throws_ok($$insert into public.open_banking_document_requests (platform_client_id, kind, from_date, to_date, formats)
                   select ca, 'export', date '2020-01-01', date '2025-12-31', array['csv'] from fx$$,
                 '23514', null, 'an export covers at most two years');
select tests.clear_auth();
select results_eq($$select kind, payload ->> 'document_request_id', status from private.ob_jobs
                     where dedupe_key = 'document_request:' || (select req from fx)$$,
                  $$select 'produce_documents'::text, req::text, 'queued'::text from fx$$,
                  'the insert queued a produce_documents job in the same transaction');
select tests.authenticate_as((select b from fx));
select is((select count(*) from public.open_banking_document_requests), 0::bigint, 'CPA B sees none of A''s requests');
select tests.clear_auth();

-- document rows --------------------------------------------------------------------------------------
select tests.as_service_role();
select lives_ok($$update fx set doc = (public.ob_document_record(jsonb_build_object(
                    'platform_client_id', ca, 'request_id', req, 'account_id', 'doc-acct-a', 'kind', 'statement',
                    'format', 'pdf', 'statement_month', '2025-11-01', 'period_start', '2025-11-01',
                    'period_end', '2025-11-30', 'status', 'ready', 'size_bytes', 1234,
                    'sha256', repeat('ab', 32), 'storage_path', ca || '/statements/doc-acct-a/2025-11.pdf')) ->> 'id')::uuid$$,
                'the service records a statement');
select is(public.ob_document_record(jsonb_build_object(
            'platform_client_id', (select ca from fx), 'account_id', 'doc-acct-a', 'kind', 'statement', 'format', 'pdf',
            'statement_month', '2025-11-01', 'status', 'failed', 'error_message', 'boom')) ->> 'status',
          'ready', 'a failure for a statement already held leaves the held one as it was');
select is((select count(*) from public.open_banking_documents where account_id = 'doc-acct-a' and kind = 'statement'),
          1::bigint, 'one row per account and statement month');
select is(jsonb_array_length(public.ob_document_request_get((select req from fx)) -> 'held'), 1,
          'the request''s view lists the statement already held');
select throws_ok($$select public.ob_document_record(jsonb_build_object(
                     'platform_client_id', (select ca from fx), 'kind', 'export', 'format', 'csv', 'status', 'ready',
                     'size_bytes', 1, 'sha256', repeat('cd', 32), 'storage_path', (select cb from fx) || '/x.csv'))$$,
                 '23514', null, 'an object path outside the client''s own folder is refused');
select tests.clear_auth();
select tests.authenticate_as((select a from fx));
select is((select count(*) from public.open_banking_documents), 1::bigint, 'CPA A sees its client''s document');
select throws_ok($$select public.ob_document_record('{}'::jsonb)$$, '42501', null,
                 'CPA A cannot call the service''s ob_document_record');
select tests.clear_auth();
select tests.authenticate_as((select b from fx));
select is((select count(*) from public.open_banking_documents), 0::bigint, 'CPA B sees none of A''s documents');
select tests.clear_auth();

-- storage.objects ------------------------------------------------------------------------------------
insert into storage.objects (bucket_id, name, metadata)
select 'open-banking-documents', ca || '/statements/doc-acct-a/2025-11.pdf', '{"size": 1234}'::jsonb from fx union all
select 'open-banking-documents', ca || '/exports/r1/all.csv', '{"size": 10}' from fx union all
select 'open-banking-documents', cb || '/statements/doc-acct-b/2025-11.pdf', '{"size": 99}' from fx;
insert into storage.buckets (id, name, public) values ('doc-test-other', 'doc-test-other', false);
insert into storage.objects (bucket_id, name) select 'doc-test-other', ca || '/other.txt' from fx;

select tests.authenticate_as((select a from fx));
select results_eq($$select name from storage.objects order by name$$,
                  $$select ca || '/exports/r1/all.csv' from fx union all select ca || '/statements/doc-acct-a/2025-11.pdf' from fx$$,
                  'CPA A reads exactly the objects under its own client''s folder in the documents bucket');
select throws_ok($$insert into storage.objects (bucket_id, name) select 'open-banking-documents', ca || '/mine.pdf' from fx$$,
                 '42501', null, 'CPA A cannot upload into the bucket, not even to its own client''s folder');
select lives_ok($$delete from storage.objects$$, 'CPA A''s delete of every object runs...');
select lives_ok($$update storage.objects set metadata = '{}'$$, '...and so does an update of every object...');
select tests.clear_auth();
select is((select count(*) from storage.objects o join fx on o.name like fx.ca || '/%' or o.name like fx.cb || '/%'
            where o.metadata ->> 'size' is not null),
          3::bigint, '...but they changed and deleted nothing: no policy grants a CPA update or delete');
select tests.authenticate_as((select b from fx));
select results_eq($$select name from storage.objects$$,
                  $$select cb || '/statements/doc-acct-b/2025-11.pdf' from fx$$,
                  'CPA B reads only its own client''s object');
select is((select count(*) from storage.objects where name like (select ca from fx) || '/%'), 0::bigint,
          'CPA B cannot see any object of A''s client, by name either');
select tests.clear_auth();
select tests.as_anon();
select is((select count(*) from storage.objects), 0::bigint, 'anon reads no object');
select tests.clear_auth();
-- a CPA's own user id as a folder, or junk names, grant nothing
insert into storage.objects (bucket_id, name) select 'open-banking-documents', a || '/x.pdf' from fx;
insert into storage.objects (bucket_id, name) values ('open-banking-documents', 'not-a-uuid/x.pdf'), ('open-banking-documents', 'top.pdf');
select tests.authenticate_as((select a from fx));
select is((select count(*) from storage.objects), 2::bigint,
          'objects under the CPA''s user id or a non-client folder are not readable');
select tests.clear_auth();

-- export rows --------------------------------------------------------------------------------------
insert into public.open_banking_transactions (id, account_id, platform_client_id, amount, status, posted_at, transaction_at, source_fetched_at)
select 930000001, 'doc-acct-a', ca, -10.25, 'posted', '2025-01-01 00:00:00+00'::timestamptz, null::timestamptz, now() from fx union all
select 930000002, 'doc-acct-a', ca, 20, 'posted', '2025-12-31 23:59:59+00', null, now() from fx union all
select 930000003, 'doc-acct-a', ca, -5, 'pending', null, '2025-06-01 12:00:00+00', now() from fx union all
select 930000004, 'doc-acct-a', ca, -99, 'posted', '2026-01-01 00:00:00+00', null, now() from fx union all
select 930000005, 'doc-acct-a', ca, -98, 'posted', '2024-12-31 23:59:59+00', null, now() from fx;
select tests.as_service_role();
select results_eq($$select (e ->> 'id')::bigint, e ->> 'amount' from jsonb_array_elements(
                      public.ob_export_transactions('doc-acct-a', '2025-01-01', '2025-12-31')) e$$,
                  $$values (930000001::bigint, '-10.2500'), (930000002, '20.0000')$$,
                  'an export reads the range''s posted transactions (UTC dates, inclusive), oldest first, amounts exact');
select is(jsonb_array_length(public.ob_export_transactions('doc-acct-a', '2025-01-01', '2025-12-31', true)), 3,
          'pending ones only when asked');
select is(jsonb_array_length(public.ob_documents_list((select ca from fx))), 1, 'ob_documents_list lists the client''s documents');
select tests.clear_auth();

-- a client's deletion takes its request and document rows along
delete from public.clients where id = (select ca from fx);
select is((select count(*) from public.open_banking_documents d join fx on d.platform_client_id = fx.ca), 0::bigint,
          'deleting the client deletes its document rows');

select * from finish();
rollback;
