-- RLS matrix: two CPAs (A owns client CA, B owns client CB), one row per client in every public
-- table, then every API role tries every verb. No authenticated caller sees another CPA's rows,
-- anon gets nothing, service_role sees everything, and CPAs write nothing but request rows.
begin;
select plan(92);

create temp table fx (a uuid, b uuid, ca uuid, cb uuid) on commit drop;
grant select on fx to public;
insert into fx (a, b) values (tests.create_user('rls-a@cpa.test'), tests.create_user('rls-b@cpa.test'));
update fx set ca = tests.create_client(a), cb = tests.create_client(b);

-- One row per client in every table, written as the service would (postgres bypasses RLS).
insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username, customer_type, link_status)
select ca, 'rls-fin-a', 'rls-user-a', 'testing', 'linked' from fx union all
select cb, 'rls-fin-b', 'rls-user-b', 'testing', 'linked' from fx;
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, oauth, needs_reauth)
select 910000001, c.platform_client_id, c.id, true, false from public.open_banking_customers c where c.finicity_customer_id = 'rls-fin-a' union all
select 910000002, c.platform_client_id, c.id, true, true  from public.open_banking_customers c where c.finicity_customer_id = 'rls-fin-b';
insert into public.open_banking_accounts (id, platform_client_id, customer_id, institution_login_id, name, balance, source_fetched_at)
select 'rls-acct-a', c.platform_client_id, c.id, 910000001, 'Checking A', 100, now() from public.open_banking_customers c where c.finicity_customer_id = 'rls-fin-a' union all
select 'rls-acct-b', c.platform_client_id, c.id, 910000002, 'Checking B', 200, now() from public.open_banking_customers c where c.finicity_customer_id = 'rls-fin-b';
insert into public.open_banking_transactions (id, account_id, platform_client_id, amount, status, posted_at, source_fetched_at)
select 920000001, 'rls-acct-a', ca, -10, 'posted', now(), now() from fx union all
select 920000002, 'rls-acct-b', cb, -20, 'posted', now(), now() from fx;
insert into public.open_banking_balance_snapshots (account_id, snapshot_date, platform_client_id, balance, captured_at)
select 'rls-acct-a', current_date, ca, 100, now() from fx union all
select 'rls-acct-b', current_date, cb, 200, now() from fx;
insert into public.open_banking_link_requests (platform_client_id, email_to, requested_by)
select ca, 'owner-a@client.test', a from fx union all
select cb, 'owner-b@client.test', b from fx;
insert into public.open_banking_sync_requests (platform_client_id, requested_by)
select ca, a from fx union all
select cb, b from fx;

create temp table t_rel (name text, service_written boolean) on commit drop;
grant select on t_rel to public;
insert into t_rel values
  ('open_banking_customers', true), ('open_banking_institution_logins', true), ('open_banking_accounts', true),
  ('open_banking_transactions', true), ('open_banking_balance_snapshots', true),
  ('open_banking_link_requests', false), ('open_banking_sync_requests', false),
  ('open_banking_client_status', null);

-- A valid-looking row for each table, used by the write attempts below.
create temp table t_write (name text, ins text, upd text) on commit drop;
grant select on t_write to public;
insert into t_write
select 'open_banking_customers',
       format($$insert into public.open_banking_customers (platform_client_id, finicity_username, customer_type) values (%L, 'x', 'testing')$$, ca),
       $$update public.open_banking_customers set link_status = 'error'$$ from fx union all
select 'open_banking_institution_logins',
       format($$insert into public.open_banking_institution_logins (id, platform_client_id, customer_id) select 910000009, %L, id from public.open_banking_customers$$, ca),
       $$update public.open_banking_institution_logins set needs_reauth = true$$ from fx union all
select 'open_banking_accounts',
       format($$insert into public.open_banking_accounts (id, platform_client_id, customer_id, source_fetched_at) select 'x', %L, id, now() from public.open_banking_customers$$, ca),
       $$update public.open_banking_accounts set balance = 0$$ from fx union all
select 'open_banking_transactions',
       format($$insert into public.open_banking_transactions (id, account_id, platform_client_id, amount, status, source_fetched_at) values (920000009, 'rls-acct-a', %L, 1, 'posted', now())$$, ca),
       $$update public.open_banking_transactions set memo = 'x'$$ from fx union all
select 'open_banking_balance_snapshots',
       format($$insert into public.open_banking_balance_snapshots (account_id, snapshot_date, platform_client_id, captured_at) values ('rls-acct-a', current_date - 1, %L, now())$$, ca),
       $$update public.open_banking_balance_snapshots set balance = 0$$ from fx union all
select 'open_banking_link_requests',
       format($$insert into public.open_banking_link_requests (platform_client_id, email_to) values (%L, 'x@client.test')$$, ca),
       $$update public.open_banking_link_requests set status = 'sent'$$ from fx union all
select 'open_banking_sync_requests',
       format($$insert into public.open_banking_sync_requests (platform_client_id) values (%L)$$, ca),
       $$update public.open_banking_sync_requests set status = 'succeeded'$$ from fx;

-- ---------------------------------------------------------------------------------------------
-- CPA A: reads only CA's rows (8), the badge of its own client (1), and writes nothing but request rows
select tests.authenticate_as((select a from fx));
select is(tests.visible_clients(r.name), array[fx.ca], format('CPA A sees only its own client''s rows in %s', r.name))
  from t_rel r, fx order by r.name;
select results_eq($$select platform_client_id, badge from public.open_banking_client_status$$,
                  $$select ca, 'linked'::text from fx$$,
                  'CPA A sees only its own client in open_banking_client_status, badge linked');
select throws_ok(w.ins, '42501', null, format('CPA A cannot INSERT into service-written %s (permission denied)', w.name))
  from t_write w join t_rel r using (name) where r.service_written order by w.name;
select throws_ok(w.upd, '42501', null, format('CPA A cannot UPDATE %s, even its own rows (permission denied)', w.name))
  from t_write w order by w.name;
select throws_ok(format('delete from public.%I', w.name), '42501', null,
                 format('CPA A cannot DELETE from %s, even its own rows (permission denied)', w.name))
  from t_write w order by w.name;
select throws_ok(format('truncate public.%I', w.name), '42501', null, format('CPA A cannot TRUNCATE %s', w.name))
  from t_write w order by w.name;
select throws_ok($$insert into public.open_banking_client_status (platform_client_id) select ca from fx$$, '55000', null,
                 'CPA A cannot INSERT into the view open_banking_client_status (the view is not writable: 55000)');
select throws_ok($$update public.open_banking_client_status set badge = 'linked'$$, '55000', null,
                 'CPA A cannot UPDATE the view open_banking_client_status (the view is not writable: 55000)');
select throws_ok($$delete from public.open_banking_client_status$$, '55000', null,
                 'CPA A cannot DELETE from the view open_banking_client_status (the view is not writable: 55000)');
select ok(public.ob_can_access_client((select ca from fx)), 'ob_can_access_client: CPA A may access its own client');
select ok(not public.ob_can_access_client((select cb from fx)), 'ob_can_access_client: CPA A may not access B''s client');
select throws_ok($$select count(*) from private.ob_jobs$$, '42501', null, 'CPA A cannot read private.ob_jobs');
select throws_ok($$select count(*) from private.ob_partner_tokens$$, '42501', null, 'CPA A cannot read private.ob_partner_tokens');
select throws_ok($$select public.ob_job_claim('evil', 10, 60)$$, '42501', null, 'CPA A cannot call the RPC ob_job_claim');
select tests.clear_auth();

-- CPA B: reads only CB's rows (8) and sees its own badge (1)
select tests.authenticate_as((select b from fx));
select is(tests.visible_clients(r.name), array[fx.cb], format('CPA B sees only its own client''s rows in %s', r.name))
  from t_rel r, fx order by r.name;
select results_eq($$select platform_client_id, badge from public.open_banking_client_status$$,
                  $$select cb, 'needs_reauth'::text from fx$$,
                  'CPA B sees only its own client in open_banking_client_status, badge needs_reauth');
select tests.clear_auth();

-- anon: nothing at all (8 reads, 21 writes, 3 more)
select tests.as_anon();
select throws_ok(format('select * from public.%I', r.name), '42501', null, format('anon cannot SELECT from %s', r.name))
  from t_rel r order by r.name;
select throws_ok(w.ins, '42501', null, format('anon cannot INSERT into %s', w.name)) from t_write w order by w.name;
select throws_ok(w.upd, '42501', null, format('anon cannot UPDATE %s', w.name)) from t_write w order by w.name;
select throws_ok(format('delete from public.%I', w.name), '42501', null, format('anon cannot DELETE from %s', w.name))
  from t_write w order by w.name;
select throws_ok($$select public.ob_can_access_client(gen_random_uuid())$$, '42501', null, 'anon cannot call ob_can_access_client');
select throws_ok($$select count(*) from private.ob_jobs$$, '42501', null, 'anon cannot read private.ob_jobs');
select throws_ok($$select public.ob_job_claim('evil', 10, 60)$$, '42501', null, 'anon cannot call the RPC ob_job_claim');
select tests.clear_auth();

-- service_role: every row of both CPAs (8)
select tests.as_service_role();
select is(array(select unnest(tests.visible_clients(r.name)) intersect select unnest(array[fx.ca, fx.cb]) order by 1),
          array(select unnest(array[fx.ca, fx.cb]) order by 1),
          format('service_role sees the rows of both CPAs'' clients in %s', r.name))
  from t_rel r, fx order by r.name;
select tests.clear_auth();

select * from finish();
rollback;
