-- Request rows (open_banking_link_requests, open_banking_sync_requests): a CPA may insert them for
-- its own clients only, names only the request columns, and the row is always its own and queued.
begin;
select plan(32);

create temp table fx (a uuid, b uuid, ca uuid, cb uuid, link_request_id uuid, sync_id uuid, defended_id uuid) on commit drop;
grant select, update on fx to public;
insert into fx (a, b) values (tests.create_user('req-a@cpa.test'), tests.create_user('req-b@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(b);

-- link requests --------------------------------------------------------------------------------
select tests.authenticate_as((select a from fx));
select lives_ok($$with r as (insert into public.open_banking_link_requests (platform_client_id, email_to, first_name)
                              select ca, 'owner@client.test', 'Olive' from fx returning id)
                  update fx set link_request_id = (select id from r)$$,
                'CPA A can request a link email for its own client (and read the row back)');
select results_eq($$select requested_by, status, link, kind from public.open_banking_link_requests where id = (select link_request_id from fx)$$,
                  $$select a, 'queued'::text, null::text, 'link'::text from fx$$,
                  'the link request is A''s (requested_by = auth.uid()), queued, no link yet, kind link');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, requested_by)
                   select ca, 'owner@client.test', b from fx$$, '42501', null,
                 'CPA A cannot name requested_by (e.g. B''s id): column privilege denied');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, status)
                   select ca, 'owner@client.test', 'sent' from fx$$, '42501', null,
                 'CPA A cannot name status: column privilege denied');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, link)
                   select ca, 'owner@client.test', 'https://evil.test' from fx$$, '42501', null,
                 'CPA A cannot name link: column privilege denied');
select throws_ok($$insert into public.open_banking_link_requests (id, platform_client_id, email_to)
                   select gen_random_uuid(), ca, 'owner@client.test' from fx$$, '42501', null,
                 'CPA A cannot name id: column privilege denied');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to)
                   select cb, 'owner@client.test' from fx$$, '42501',
                 'new row violates row-level security policy for table "open_banking_link_requests"',
                 'CPA A cannot request a link email for B''s client: RLS violation');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to)
                   select gen_random_uuid(), 'owner@client.test' from fx$$, '42501', null,
                 'CPA A cannot request a link email for a client that does not exist: RLS violation');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to)
                   select ca, 'not-an-email' from fx$$, '23514', null,
                 'an invalid email address is a check violation');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to)
                   select ca, 'a b@client.test' from fx$$, '23514', null,
                 'an email address with whitespace is a check violation');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, first_name)
                   select ca, 'owner@client.test', repeat('x', 101) from fx$$, '23514', null,
                 'a first name over 100 characters is a check violation');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, kind)
                   select ca, 'owner@client.test', 'fix' from fx$$, '23514', null,
                 'a fix request without institution_login_id is a check violation');
select tests.clear_auth();
-- bank logins of each client, made by the service (postgres here)
insert into public.open_banking_customers (id, platform_client_id, finicity_username, customer_type)
select gen_random_uuid(), c, 'req-user-' || c, 'testing' from (select ca as c from fx union all select cb from fx) x;
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id)
select 940000001, ca, (select id from public.open_banking_customers where platform_client_id = ca) from fx;
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id)
select 940000002, cb, (select id from public.open_banking_customers where platform_client_id = cb) from fx;
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_link_requests (platform_client_id, kind, institution_login_id)
                  select ca, 'fix', 940000001 from fx$$,
                'a fix request naming a bank login of the same client is accepted, without an address (not emailed)');
select throws_ok($$insert into public.open_banking_link_requests
                     (platform_client_id, kind, delivery, first_name, last_name, state, birthday)
                   select ca, 'link', 'mastercard_email', 'Maya', 'Lopez', 'OR', date '1984-04-12' from fx$$,
                 '23514', null, 'a Connect link request by Mastercard''s email needs an address');
select throws_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to, kind, institution_login_id)
                   select ca, 'owner@client.test', 'fix', 940000002 from fx$$, '42501', null,
                 'a fix request naming another CPA''s client''s bank login is an RLS violation');
select tests.clear_auth();

-- B cannot see A's request
select tests.authenticate_as((select b from fx));
select is((select count(*) from public.open_banking_link_requests where platform_client_id = (select ca from fx)), 0::bigint,
          'CPA B does not see A''s link requests');
select tests.clear_auth();

-- Defence in depth: even if the column grant were widened, the trigger forces requester and state.
grant insert (requested_by, status, link, sent_at, error_message) on public.open_banking_link_requests to authenticated;
select tests.authenticate_as((select a from fx));
select lives_ok($$with r as (insert into public.open_banking_link_requests
                                (platform_client_id, email_to, requested_by, status, link, sent_at, error_message)
                              select ca, 'defended@client.test', b, 'sent', 'https://evil.test', now(), 'x' from fx returning id)
                  update fx set defended_id = (select id from r)$$,
                'with a widened grant, A''s insert naming B as requester still succeeds...');
select tests.clear_auth();
select results_eq($$select requested_by, status, link, sent_at, error_message from public.open_banking_link_requests
                     where id = (select defended_id from fx)$$,
                  $$select a, 'queued'::text, null::text, null::timestamptz, null::text from fx$$,
                  '...but force_request_defaults makes it A''s, queued, with no link, sent_at or error');
revoke insert (requested_by, status, link, sent_at, error_message) on public.open_banking_link_requests from authenticated;

-- sync requests --------------------------------------------------------------------------------
select tests.authenticate_as((select a from fx));
select lives_ok($$with r as (insert into public.open_banking_sync_requests (platform_client_id) select ca from fx returning id)
                  update fx set sync_id = (select id from r)$$,
                'CPA A can request a refresh for its own client (and read the row back)');
select results_eq($$select requested_by, status, started_at from public.open_banking_sync_requests where id = (select sync_id from fx)$$,
                  $$select a, 'queued'::text, null::timestamptz from fx$$,
                  'the refresh request is A''s and queued');
select throws_ok($$insert into public.open_banking_sync_requests (platform_client_id, requested_by) select ca, b from fx$$,
                 '42501', null, 'CPA A cannot name requested_by on a refresh request: column privilege denied');
select throws_ok($$insert into public.open_banking_sync_requests (platform_client_id, status) select ca, 'succeeded' from fx$$,
                 '42501', null, 'CPA A cannot name status on a refresh request: column privilege denied');
select throws_ok($$insert into public.open_banking_sync_requests (platform_client_id, accounts_synced) select ca, 5 from fx$$,
                 '42501', null, 'CPA A cannot name accounts_synced on a refresh request: column privilege denied');
select throws_ok($$insert into public.open_banking_sync_requests (platform_client_id) select cb from fx$$, '42501',
                 'new row violates row-level security policy for table "open_banking_sync_requests"',
                 'CPA A cannot request a refresh for B''s client: RLS violation');
select tests.clear_auth();

select tests.authenticate_as((select b from fx));
select is((select count(*) from public.open_banking_sync_requests where platform_client_id = (select ca from fx)), 0::bigint,
          'CPA B does not see A''s refresh requests');
select tests.clear_auth();

-- A CPA without a JWT subject (claims present, no sub) cannot insert either.
select set_config('request.jwt.claims', '{"role":"authenticated"}', true);
set local role authenticated;
select throws_ok($$insert into public.open_banking_sync_requests (platform_client_id) select ca from fx$$, '42501', null,
                 'authenticated without a sub claim cannot insert a refresh request');
reset role;

-- The service (service_role) keeps what it writes: no forced requester or state. (A's refresh is
-- finished first: a request arriving while one is in flight would join it, see 03100.)
update public.open_banking_sync_requests set status = 'succeeded' where id = (select sync_id from fx);
select tests.as_service_role();
select lives_ok($$insert into public.open_banking_sync_requests (platform_client_id, requested_by, status)
                  select ca, null, 'running' from fx$$,
                'service_role may insert a refresh request with any requester and status');
select tests.clear_auth();
select is((select count(*) from public.open_banking_sync_requests
            where platform_client_id = (select ca from fx) and requested_by is null and status = 'running'), 1::bigint,
          'force_request_defaults leaves service_role rows untouched');

select is((select count(*) from public.open_banking_link_requests where platform_client_id = (select ca from fx)), 3::bigint,
          'exactly the three accepted link requests exist for A''s client');

-- ob_request_fix_link (the consent flow's Fix request): at most one open Fix request per login.
select is(public.ob_request_fix_link(940000001) ->> 'created', 'false',
          'ob_request_fix_link adds nothing while a Fix request for the login is queued');
update public.open_banking_link_requests set status = 'failed' where institution_login_id = 940000001;
select results_eq($$select r ->> 'created', r ->> 'kind', r ->> 'email_to', r ->> 'platform_client_id'
                      from (select public.ob_request_fix_link(940000001) r) x$$,
                  $$select 'true', 'fix', null::text, ca::text from fx$$,
                  'with none open, it makes one for the login''s client, with no address');
select is(public.ob_request_fix_link(940000001) ->> 'created', 'false', 'and a repeat adds nothing');

select * from finish();
rollback;
