-- The tenancy rule's form: one set of client ids per statement (public.ob_accessible_clients, read
-- as `= any (array(select ...))`), never a function call per row, and usable by the indexes.
begin;
select plan(10);

create temp table fx (a uuid, b uuid, ca1 uuid, ca2 uuid, cb uuid) on commit drop;
grant select on fx to public;
insert into fx (a, b) values (tests.create_user('form-a@cpa.test'), tests.create_user('form-b@cpa.test'));
update fx set ca1 = tests.create_client(a), ca2 = tests.create_client(a), cb = tests.create_client(b);

-- The plan of a query as the current role, as text (EXPLAIN runs with the caller's RLS).
create function tests.plan_of(p_query text)
returns text
language plpgsql
as $$
declare
  v_line text;
  v_plan text := '';
begin
  for v_line in execute 'explain (costs off) ' || p_query loop
    v_plan := v_plan || v_line || E'\n';
  end loop;
  return v_plan;
end
$$;
grant execute on function tests.plan_of(text) to authenticated;

-- Every CPA-facing policy reads the set once, and none calls a function per row (2)
select is(array(select format('%s: %s', tablename, policyname) from pg_policies
                 where schemaname = 'public' and tablename like 'open\_banking\_%'
                   -- (client-scoped tables only: open_banking_institutions is public reference data)
                   and exists (select 1 from information_schema.columns c where c.table_schema = 'public'
                                 and c.table_name = tablename and c.column_name = 'platform_client_id')
                   and coalesce(qual, with_check) not like '%= ANY (ARRAY( SELECT ob_accessible_clients() AS ob_accessible_clients))%'
                 order by 1),
          array[]::text[], 'every policy on the client-scoped open_banking tables reads platform_client_id = any (array(select ob_accessible_clients()))');
select is(array(select format('%s: %s', tablename, policyname) from pg_policies
                 where schemaname = 'public' and coalesce(qual, '') || coalesce(with_check, '') like '%ob_can_access_client%'),
          array[]::text[], 'no policy calls ob_can_access_client (a call per row)');

-- The rule itself (4)
select tests.authenticate_as((select a from fx));
select set_eq($$select public.ob_accessible_clients()$$, $$select unnest(array[ca1, ca2]) from fx$$,
              'ob_accessible_clients: CPA A gets exactly its two clients');
select ok(public.ob_can_access_client((select ca2 from fx)) and not public.ob_can_access_client((select cb from fx)),
          'ob_can_access_client answers from the same set');
select tests.clear_auth();
select tests.authenticate_as((select b from fx));
select set_eq($$select public.ob_accessible_clients()$$, $$select cb from fx$$, 'ob_accessible_clients: CPA B gets its one client');
select tests.clear_auth();
select is((select count(*) from public.ob_accessible_clients()), 0::bigint, 'no claims, no clients');

-- Plans as CPA A, with sequential scans priced out: the policy must let the indexes do the work (4)
select tests.authenticate_as((select a from fx));
set local enable_seqscan = off;
select ok(tests.plan_of('select * from public.open_banking_transactions order by effective_at desc, id desc limit 50')
            !~ 'Seq Scan|SubPlan',
          'latest across my clients: an index scan, the tenancy set computed once (no SubPlan)');
select ok(tests.plan_of('select * from public.open_banking_transactions order by effective_at desc, id desc limit 50')
            ~ 'InitPlan',
          'latest across my clients: the tenancy set is an InitPlan (once per statement)');
select ok(tests.plan_of(format('select count(*) from public.open_banking_transactions where platform_client_id = %L',
                               (select ca1 from fx))) ~ 'Index Only Scan using open_banking_transactions_client_date_idx',
          'count for one client: an index-only scan');
select ok(tests.plan_of('select * from public.open_banking_accounts') !~ 'Seq Scan|SubPlan',
          'accounts of my clients: the policy alone drives an index scan');
select tests.clear_auth();

select * from finish();
rollback;
