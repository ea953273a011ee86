-- open_banking_client_status: one row per client the caller may see, with the badge the app shows.
begin;
select plan(15);

create temp table fx (a uuid, b uuid, c_none uuid, c_email uuid, c_failed_email uuid, c_pending uuid,
                      c_linked uuid, c_error uuid, c_reauth uuid, c_other uuid) on commit drop;
grant select on fx to public;
insert into fx (a, b) values (tests.create_user('view-a@cpa.test'), tests.create_user('view-b@cpa.test'));
update fx set c_none = tests.create_client(a), c_email = tests.create_client(a),
              c_failed_email = tests.create_client(a), c_pending = tests.create_client(a),
              c_linked = tests.create_client(a), c_error = tests.create_client(a),
              c_reauth = tests.create_client(a), c_other = tests.create_client(b);

insert into public.open_banking_link_requests (platform_client_id, email_to, requested_by, status)
select c_email, 'e@client.test', a, 'queued' from fx union all
select c_failed_email, 'f@client.test', a, 'failed' from fx;
insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username, customer_type, link_status, last_error_message)
select c_pending, null, 'view-pending', 'testing', 'pending', null from fx union all
select c_linked, 'view-fin-linked', 'view-linked', 'testing', 'linked', null from fx union all
select c_error, 'view-fin-error', 'view-error', 'testing', 'error', 'institution said no' from fx union all
select c_reauth, 'view-fin-reauth', 'view-reauth', 'testing', 'linked', null from fx union all
select c_other, 'view-fin-other', 'view-other', 'testing', 'linked', null from fx;
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, oauth, needs_reauth, authorization_end_at)
select 930000001, c.platform_client_id, c.id, true, false, now() + interval '30 days'
  from public.open_banking_customers c where c.finicity_username = 'view-linked' union all
select 930000002, c.platform_client_id, c.id, true, false, now() + interval '60 days'
  from public.open_banking_customers c where c.finicity_username = 'view-linked' union all
select 930000003, c.platform_client_id, c.id, false, false, now() - interval '1 day'
  from public.open_banking_customers c where c.finicity_username = 'view-linked' union all
select 930000004, c.platform_client_id, c.id, true, true, now() + interval '3 days'
  from public.open_banking_customers c where c.finicity_username = 'view-reauth';

select tests.authenticate_as((select a from fx));
create temp view v as select * from public.open_banking_client_status;
select is((select count(*) from public.open_banking_client_status), 7::bigint, 'CPA A sees exactly its 7 clients');
select is((select badge from v where platform_client_id = (select c_none from fx)), 'not_linked', 'no customer, no request: not_linked');
select is((select badge from v where platform_client_id = (select c_email from fx)), 'pending', 'a queued link email: pending');
select is((select badge from v where platform_client_id = (select c_failed_email from fx)), 'not_linked', 'only a failed link email: not_linked');
select is((select badge from v where platform_client_id = (select c_pending from fx)), 'pending', 'customer created, not linked yet: pending');
select is((select badge from v where platform_client_id = (select c_linked from fx)), 'linked', 'customer linked: linked');
select is((select badge from v where platform_client_id = (select c_error from fx)), 'error', 'customer in error: error');
select is((select badge from v where platform_client_id = (select c_reauth from fx)), 'needs_reauth', 'a login needing re-auth wins over linked: needs_reauth');
select results_eq($$select has_customer, institution_logins, next_consent_expiry_at = now() + interval '30 days' from v
                     where platform_client_id = (select c_linked from fx)$$,
                  $$values (true, 3::bigint, true)$$,
                  'linked client: has_customer, 3 logins, next consent expiry is the earliest future one');
select is((select last_error_message from v where platform_client_id = (select c_error from fx)), 'institution said no',
          'the customer''s last error message is shown');
select is((select count(*) from v where platform_client_id = (select c_other from fx)), 0::bigint,
          'CPA A does not see B''s client in the view');
select tests.clear_auth();

select tests.as_service_role();
select is((select count(*) from public.open_banking_client_status
            where platform_client_id in (select unnest(array[c_none, c_email, c_failed_email, c_pending, c_linked, c_error, c_reauth, c_other]) from fx)),
          8::bigint, 'service_role sees every client of both CPAs in the view');

-- ob_status_report (operators) reads its badge from the view: one definition of the badge.
select set_eq($$select (r ->> 'platform_client_id')::uuid, r ->> 'badge' from jsonb_array_elements(public.ob_status_report()) r
                 where (r ->> 'platform_client_id')::uuid in (select unnest(array[c_none, c_email, c_failed_email, c_pending, c_linked,
                                                                                    c_error, c_reauth, c_other]) from fx)$$,
              $$select platform_client_id, badge from public.open_banking_client_status
                 where platform_client_id in (select unnest(array[c_email, c_failed_email, c_pending, c_linked, c_error, c_reauth,
                                                                   c_other]) from fx)$$,
              'ob_status_report lists every client with a customer or a link request (not c_none), with the view''s badge');
select results_eq($$select r ->> 'badge', (r ->> 'logins')::int, (r ->> 'consent_expires_at')::timestamptz = now() + interval '30 days'
                      from jsonb_array_elements(public.ob_status_report((select c_linked from fx))) r$$,
                  $$values ('linked'::text, 3, true)$$,
                  'ob_status_report for one client: its badge, logins and next consent expiry');
select is((select r ->> 'badge' from jsonb_array_elements(public.ob_status_report((select c_none from fx))) r), 'not_linked',
          'ob_status_report for a client asked by id lists it even with nothing yet');
select tests.clear_auth();

select * from finish();
rollback;
