-- Institutions cache (readable by every signed-in user, names carried onto logins and accounts, a
-- refresh queued for new ids and weekly) and the supabase_realtime publication behind live badges.
begin;
select plan(21);

create temp table fx (a uuid, b uuid, ca uuid, cb uuid) on commit drop;
grant select on fx to public;
insert into fx (a, b) values (tests.create_user('inst-a@cpa.test'), tests.create_user('inst-b@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(b);
select public.ob_customer_upsert(ca, 'inst-user-a', 'testing', 'inst-fin-a') from fx;
select public.ob_customer_upsert(cb, 'inst-user-b', 'testing', 'inst-fin-b') from fx;
delete from private.ob_jobs where kind = 'refresh_institutions';

-- discovery and names ----------------------------------------------------------------------------
select public.ob_accounts_upsert('inst-fin-a', '[{"id":"inst-a1","institution_login_id":950000001,"institution_id":"950101"},
                                                 {"id":"inst-a2","institution_login_id":950000001,"institution_id":"950101"}]', '2026-03-01 00:00Z');
select is((select count(*) from public.open_banking_institutions where id = '950101'), 0::bigint,
          'the sync''s upsert does no institution work (nothing on the hot path)');
select is(private.ob_schedule_institutions_discover(), 1, 'the discovery job finds the institution the accounts name');
select results_eq($$select id, name, fetched_at from public.open_banking_institutions where id = '950101'$$,
                  $$values ('950101'::text, null::text, null::timestamptz)$$, '...adds a stub row for it');
select is((select count(*) from private.ob_jobs where kind = 'refresh_institutions' and payload -> 'institution_ids' ? '950101'),
          1::bigint, '...and queues one refresh job for it');
select public.ob_accounts_upsert('inst-fin-b', '[{"id":"inst-b1","institution_login_id":950000002,"institution_id":"950101"}]', '2026-03-01 00:00Z');
select is(private.ob_schedule_institutions_discover(), 0, 'a known institution is not discovered again');
select is((select count(*) from private.ob_jobs where kind = 'refresh_institutions'), 1::bigint,
          '...and queues nothing more');

select tests.as_service_role();
select is(public.ob_institutions_to_refresh(), '["950101"]'::jsonb, 'the service learns which institutions to refresh');
select is(public.ob_institutions_upsert('[{"id":"950101","name":"FinBank Oauth","url_home_app":"https://finbank.example.com",
                                           "logo_url":"https://cdn.example.com/950101/logo.svg","primary_color":"#0167AE"}]',
                                        '2026-03-01 01:00Z'),
          '{"written": 1, "logins_renamed": 2, "accounts_renamed": 3}'::jsonb,
          'storing the institution renames its logins and accounts');
select results_eq($$select institution_name from public.open_banking_accounts where id in ('inst-a1', 'inst-b1') order by id$$,
                  $$values ('FinBank Oauth'::text), ('FinBank Oauth')$$, 'accounts carry the institution name');
select public.ob_institutions_upsert('[{"id":"950101","fetch_error":"Mastercard: 503"}]', '2026-03-08 01:00Z');
select results_eq($$select name, fetched_at, fetch_error from public.open_banking_institutions where id = '950101'$$,
                  $$values ('FinBank Oauth'::text, '2026-03-01 01:00Z'::timestamptz, 'Mastercard: 503'::text)$$,
                  'a failed refresh keeps what was known and records the error');
select public.ob_accounts_upsert('inst-fin-a', '[{"id":"inst-a3","institution_login_id":950000001,"institution_id":"950101"}]', '2026-03-09 00:00Z');
select is((select institution_name from public.open_banking_accounts where id = 'inst-a3'), 'FinBank Oauth',
          'a new account of a cached institution gets the name at once');

-- who reads --------------------------------------------------------------------------------------
select tests.authenticate_as((select a from fx));
select results_eq($$select name, logo_url from public.open_banking_institutions$$,
                  $$values ('FinBank Oauth'::text, 'https://cdn.example.com/950101/logo.svg'::text)$$,
                  'a signed-in CPA reads institutions');
select results_eq($$select institution_names from public.open_banking_client_status where platform_client_id = (select ca from fx)$$,
                  $$values (array['FinBank Oauth'])$$, 'the status view names the client''s banks');
select throws_ok($$update public.open_banking_institutions set name = 'Evil Bank'$$, '42501', null, 'a CPA cannot change institutions');
select tests.as_anon();
select throws_ok($$select * from public.open_banking_institutions$$, '42501', null, 'anon reads no institutions');

-- weekly refresh -----------------------------------------------------------------------------------
select tests.clear_auth();
select is(private.ob_schedule_institutions_refresh(), 1, 'the weekly job queues one refresh of every cached institution');
select results_eq($$select jobname::text collate "default", schedule::text collate "default" from cron.job
                     where jobname like 'ob-institutions-%' order by jobname$$,
                  $$values ('ob-institutions-discover', '*/10 * * * *'), ('ob-institutions-refresh', '40 4 * * 0')$$,
                  'pg_cron discovers new institutions every 10 minutes and refreshes all weekly (Sunday 04:40 UTC)');
select is(public.ob_accounts_upsert('inst-fin-a', '[{"id":"inst-a9","institution_login_id":950000009,"institution_id":"950101"}]', '2026-03-10 00:00Z') ->> 'written',
          '1', 'an account of a new login...');
select results_eq($$select (select institution_name from public.open_banking_accounts where id = 'inst-a9'),
                           (select institution_name from public.open_banking_institution_logins where id = 950000009)$$,
                  $$values ('FinBank Oauth'::text, 'FinBank Oauth'::text)$$,
                  '...and its login get a cached institution''s name as they are written');

-- live badges: the publication -------------------------------------------------------------------
select set_eq($$select tablename::text from pg_publication_tables where pubname = 'supabase_realtime' and schemaname = 'public'$$,
              array['open_banking_customers', 'open_banking_institution_logins', 'open_banking_link_requests',
                    'open_banking_sync_requests', 'open_banking_account_requests', 'open_banking_document_requests'],
              'supabase_realtime publishes the tables the badge and the request rows come from, and no others');
select is((select count(*) from pg_publication_tables p join pg_class c on c.relname = p.tablename
            join pg_namespace n on n.oid = c.relnamespace and n.nspname = p.schemaname
           where p.pubname = 'supabase_realtime' and not c.relrowsecurity), 0::bigint,
          'every published table has RLS on, so Realtime shows each CPA only their own rows');

select * from finish();
rollback;
