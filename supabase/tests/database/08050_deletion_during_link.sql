-- A client deleted while its link job is making its Mastercard customer (either door): the job's first
-- step makes nothing once the link request is gone; its second step, finding the customer row gone,
-- queues the new Mastercard customer's deletion on the client's audit line. A client never deleted
-- (or re-linked after the operator's door) gets its customer as before.
begin;
select plan(17);

create temp table fx (cpa uuid, plat uuid, oper uuid, plain uuid, req_plat uuid, req_oper uuid, req_again uuid)
  on commit drop;
insert into fx (cpa) select tests.create_user('late-link@cpa.test');
update fx set plat = tests.create_client(cpa), oper = tests.create_client(cpa), plain = tests.create_client(cpa);
insert into public.open_banking_link_requests (platform_client_id, email_to, first_name)
select plat, 'plat@client.test', 'Pat' from fx union all select oper, 'oper@client.test', 'Olga' from fx;
update fx set req_plat = (select r.id from public.open_banking_link_requests r where r.platform_client_id = fx.plat),
              req_oper = (select r.id from public.open_banking_link_requests r where r.platform_client_id = fx.oper);

-- The platform's door between the two steps ----------------------------------------------------------
select isnt(public.ob_customer_upsert((select plat from fx), 'late-user-plat', 'testing', null, (select req_plat from fx)),
            null, 'step 1: the customer row is made while the link request exists');
delete from public.clients where id = (select plat from fx);
select results_eq($$select mastercard from private.ob_deletions where platform_client_id = (select plat from fx)$$,
                  $$values ('none')$$, 'the deletion found no Mastercard id yet');
select is(public.ob_customer_upsert((select plat from fx), 'late-user-plat', 'testing', 'late-fin-plat'), null,
          'step 2 after the deletion records nothing ...');
select is((select count(*) from public.open_banking_customers where platform_client_id = (select plat from fx)), 0::bigint,
          '... no customer row comes back');
select results_eq($$select mastercard, confirmed_at from private.ob_deletions where platform_client_id = (select plat from fx)$$,
                  $$values ('pending', null::timestamptz)$$, 'the audit line now waits for Mastercard');
select results_eq(
  $$select (payload ->> 'deletion_id')::bigint, payload ->> 'platform_client_id', max_attempts, status
      from private.ob_jobs where kind = 'delete_customer' and payload ->> 'finicity_customer_id' = 'late-fin-plat'$$,
  $$select d.id, d.platform_client_id::text, 100000, 'queued' from private.ob_deletions d
     where d.platform_client_id = (select plat from fx)$$,
  'the new Mastercard customer is queued for deletion on that line, retried like any deletion');
select is(public.ob_customer_upsert((select plat from fx), 'late-user-plat', 'testing', null, (select req_plat from fx)),
          null, 'a retried step 1 (its request went with the client) makes nothing');
select is((select count(*) from public.open_banking_customers where platform_client_id = (select plat from fx)), 0::bigint,
          '... still no customer row');
select is(public.ob_deletion_confirm((select id from private.ob_deletions where platform_client_id = (select plat from fx)),
                                     'deleted') ->> 'mastercard', 'deleted',
          'Mastercard''s answer is recorded on the line as for any deletion');

-- The operator's door between the two steps (the platform's client row stays) -------------------------
select isnt(public.ob_customer_upsert((select oper from fx), 'late-user-oper', 'testing', null, (select req_oper from fx)),
            null, 'step 1 for the second client');
select is(public.ob_client_forget((select oper from fx)) ->> 'finicity_customer_id', null, 'the operator forgets it');
select is(public.ob_customer_upsert((select oper from fx), 'late-user-oper', 'testing', 'late-fin-oper'), null,
          'step 2 records nothing for a client forgotten by the operator either');
select results_eq($$select mastercard from private.ob_deletions where platform_client_id = (select oper from fx)$$,
                  $$values ('pending')$$, '... and its new Mastercard customer waits for deletion');
select is((select count(*) from private.ob_jobs where kind = 'delete_customer'
            and payload ->> 'finicity_customer_id' = 'late-fin-oper'), 1::bigint, '... in one job');

-- Linking again afterwards is a new story: it gets its customer ----------------------------------------
insert into public.open_banking_link_requests (platform_client_id, email_to, first_name)
select oper, 'oper@client.test', 'Olga' from fx;
update fx set req_again = (select r.id from public.open_banking_link_requests r where r.platform_client_id = fx.oper);
select public.ob_customer_upsert((select oper from fx), 'late-user-oper', 'testing', null, (select req_again from fx));
select is(public.ob_customer_upsert((select oper from fx), 'late-user-oper', 'testing', 'again-fin-oper')
            ->> 'finicity_customer_id', 'again-fin-oper',
          'a new link request after the operator''s door makes and records a new customer');

-- Never deleted: one step (id given at once) as before --------------------------------------------------
select is(public.ob_customer_upsert((select plain from fx), 'late-user-plain', 'testing', 'plain-fin')
            ->> 'finicity_customer_id', 'plain-fin', 'a client never deleted gets its row in one step');
select is((select count(*) from private.ob_jobs where kind = 'delete_customer'
            and payload ->> 'finicity_customer_id' in ('plain-fin', 'again-fin-oper')), 0::bigint,
          'and nothing of theirs is queued for deletion');

select * from finish();
rollback;
