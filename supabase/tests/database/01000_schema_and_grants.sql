-- Schema and grants: every public table/view exists, RLS is on, anon gets nothing, authenticated
-- only SELECT (plus column INSERT on the two request tables), `private` is closed to the API
-- roles, ob_* RPCs are service_role-only, and every SECURITY DEFINER function pins search_path.
begin;
select plan(75);

create temp table t_public (name text, is_view boolean) on commit drop;
insert into t_public values
  ('open_banking_customers', false), ('open_banking_link_requests', false),
  ('open_banking_institution_logins', false), ('open_banking_accounts', false),
  ('open_banking_transactions', false), ('open_banking_balance_snapshots', false),
  ('open_banking_sync_requests', false), ('open_banking_client_status', true);
create temp table t_private (name text) on commit drop;
insert into t_private values ('ob_settings'), ('ob_partner_tokens'), ('ob_webhook_events'), ('ob_jobs');

-- Existence (8)
select has_table('public', name, format('table public.%s exists', name)) from t_public where not is_view order by name;
select has_view('public', 'open_banking_client_status', 'view public.open_banking_client_status exists');

-- RLS on every public table (7) and the view runs with the caller's rights (1)
select ok((select c.relrowsecurity from pg_class c where c.oid = format('public.%I', name)::regclass),
          format('RLS is enabled on public.%s', name))
  from t_public where not is_view order by name;
select ok((select coalesce(c.reloptions, '{}') @> array['security_invoker=true'] from pg_class c
            where c.oid = 'public.open_banking_client_status'::regclass),
          'view open_banking_client_status is security_invoker (RLS of the caller applies)');

-- anon: no table privilege (8) and no column privilege (8) on any public table or view
select table_privs_are('public', name, 'anon', array[]::text[], format('anon has no privilege on public.%s', name))
  from t_public order by name;
select ok(not has_any_column_privilege('anon', format('public.%I', name), 'SELECT, INSERT, UPDATE, REFERENCES'),
          format('anon has no column privilege on public.%s', name))
  from t_public order by name;

-- authenticated: SELECT only at table level (8)
select table_privs_are('public', name, 'authenticated', array['SELECT'],
                       format('authenticated has only SELECT on public.%s', name))
  from t_public order by name;

-- authenticated: column INSERT exactly on the request columns; nothing else anywhere (4)
select is(array(select a.attname::text from pg_attribute a
                 where a.attrelid = 'public.open_banking_link_requests'::regclass and a.attnum > 0 and not a.attisdropped
                   and has_column_privilege('authenticated', a.attrelid, a.attnum, 'INSERT') order by a.attname),
          array['birthday', 'delivery', 'email_to', 'first_name', 'institution_login_id', 'kind', 'last_name',
                'platform_client_id', 'state'],
          'authenticated may insert only the request columns (address, consumer fields, delivery, kind, login) into link_requests');
select is(array(select a.attname::text from pg_attribute a
                 where a.attrelid = 'public.open_banking_sync_requests'::regclass and a.attnum > 0 and not a.attisdropped
                   and has_column_privilege('authenticated', a.attrelid, a.attnum, 'INSERT') order by a.attname),
          array['platform_client_id'],
          'authenticated may insert only platform_client_id into sync_requests');
select is(array(select t.name || '.' || a.attname from t_public t
                  join pg_attribute a on a.attrelid = format('public.%I', t.name)::regclass and a.attnum > 0 and not a.attisdropped
                 where t.name not in ('open_banking_link_requests', 'open_banking_sync_requests')
                   and has_column_privilege('authenticated', a.attrelid, a.attnum, 'INSERT')),
          array[]::text[], 'authenticated may insert no column of the service-written tables or the view');
select is(array(select t.name || '.' || a.attname from t_public t
                  join pg_attribute a on a.attrelid = format('public.%I', t.name)::regclass and a.attnum > 0 and not a.attisdropped
                 where has_column_privilege('authenticated', a.attrelid, a.attnum, 'UPDATE')
                    or has_column_privilege('authenticated', a.attrelid, a.attnum, 'REFERENCES')),
          array[]::text[], 'authenticated may update (or reference) no column of any public table or view');

-- private schema: no USAGE for the API roles (2), USAGE for service_role (1)
select schema_privs_are('private', 'anon', array[]::text[], 'anon has no privilege on schema private');
select schema_privs_are('private', 'authenticated', array[]::text[], 'authenticated has no privilege on schema private');
select ok(has_schema_privilege('service_role', 'private', 'USAGE'), 'service_role has USAGE on schema private');

-- private tables: nothing for anon/authenticated (8); service_role reads only, writes via functions (4)
select table_privs_are('private', name, 'anon', array[]::text[], format('anon has no privilege on private.%s', name))
  from t_private order by name;
select table_privs_are('private', name, 'authenticated', array[]::text[], format('authenticated has no privilege on private.%s', name))
  from t_private order by name;
select table_privs_are('private', name, 'service_role', array['SELECT'],
                       format('service_role may only SELECT private.%s (writes go through functions)', name))
  from t_private order by name;

-- public.ob_* RPC functions (except the tenancy rule's two functions): service_role only (5)
create temp table t_rpc on commit drop as
  select p.oid, p.oid::regprocedure::text as sig from pg_proc p
   where p.pronamespace = 'public'::regnamespace and p.proname like 'ob\_%'
     and p.proname not in ('ob_can_access_client', 'ob_accessible_clients');
select ok((select count(*) from t_rpc) >= 30, 'there are at least 30 public.ob_* RPC functions to check');
select is(array(select sig from t_rpc where has_function_privilege('anon', oid, 'EXECUTE') order by sig),
          array[]::text[], 'no public.ob_* RPC function is executable by anon');
select is(array(select sig from t_rpc where has_function_privilege('authenticated', oid, 'EXECUTE') order by sig),
          array[]::text[], 'no public.ob_* RPC function is executable by authenticated');
select is(array(select sig from t_rpc where has_function_privilege('public', oid, 'EXECUTE') order by sig),
          array[]::text[], 'no public.ob_* RPC function is executable by PUBLIC');
select is(array(select sig from t_rpc where not has_function_privilege('service_role', oid, 'EXECUTE') order by sig),
          array[]::text[], 'every public.ob_* RPC function is executable by service_role');

-- The tenancy rule is callable from RLS policies (authenticated) but not by anon (6)
select ok(not has_function_privilege('anon', 'public.ob_accessible_clients()', 'EXECUTE'),
          'anon cannot execute ob_accessible_clients');
select ok(has_function_privilege('authenticated', 'public.ob_accessible_clients()', 'EXECUTE'),
          'authenticated can execute ob_accessible_clients (every RLS policy reads it)');
select ok(has_function_privilege('service_role', 'public.ob_accessible_clients()', 'EXECUTE'),
          'service_role can execute ob_accessible_clients');
select ok(not has_function_privilege('anon', 'public.ob_can_access_client(uuid)', 'EXECUTE'),
          'anon cannot execute ob_can_access_client');
select ok(has_function_privilege('authenticated', 'public.ob_can_access_client(uuid)', 'EXECUTE'),
          'authenticated can execute ob_can_access_client (used by the RLS policies)');
select ok(has_function_privilege('service_role', 'public.ob_can_access_client(uuid)', 'EXECUTE'),
          'service_role can execute ob_can_access_client');

-- SECURITY DEFINER hygiene in public and private (4)
create temp table t_definer on commit drop as
  select p.oid, p.oid::regprocedure::text as sig, p.pronamespace::regnamespace::text as nsp, p.proconfig
    from pg_proc p
   where p.prosecdef and p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
     and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e');
select ok((select count(*) from t_definer) >= 40, 'there are SECURITY DEFINER functions to check (>= 40)');
select is(array(select sig from t_definer where not coalesce(proconfig, '{}') @> array['search_path=""'] order by sig),
          array[]::text[], 'every SECURITY DEFINER function in public and private has search_path=""');
select is(array(select p.oid::regprocedure::text from pg_proc p
                 where p.pronamespace = 'private'::regnamespace
                   and (has_function_privilege('anon', p.oid, 'EXECUTE') or has_function_privilege('authenticated', p.oid, 'EXECUTE')
                        or has_function_privilege('public', p.oid, 'EXECUTE'))
                 order by 1),
          array[]::text[], 'no private function (definer or not) is executable by anon, authenticated or PUBLIC');
select is(array(select p.oid::regprocedure::text from pg_proc p
                 where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
                   and not coalesce(p.proconfig, '{}') @> array['search_path=""']
                   and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
                 order by 1),
          array[]::text[], 'every function in public and private (definer or not) pins search_path=""');

-- The host contract: the local stand-in public.clients (scripts/supabase-compat.sql) has only the two
-- columns the README promises, so every run of the migrations and of these suites proves that no
-- function, view or policy needs another column of a platform's clients table (1)
select columns_are('public', 'clients', array['id', 'user_id'],
                   'public.clients here is exactly the host contract (id, user_id), and the migrations applied on it');

select * from finish();
rollback;
