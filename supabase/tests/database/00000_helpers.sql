-- Shared pgTAP helpers (schema `tests`). pg_prove runs files alphabetically, each in its own
-- session, so this file sorts first and COMMITS; it is idempotent (create or replace).
-- Every other file runs in a transaction that it rolls back.
set client_min_messages = warning;
begin;

create schema if not exists tests;
-- The helpers that switch back (clear_auth) are called while the role is an API role.
grant usage on schema tests to anon, authenticated, service_role;

-- A user in auth.users (a CPA). Returns its id.
create or replace function tests.create_user(p_email text)
returns uuid
language plpgsql
as $$
declare
  v_id uuid := gen_random_uuid();
begin
  insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
  values (v_id, 'authenticated', 'authenticated', p_email, '{}', '{}');
  return v_id;
end
$$;

-- A platform client owned by a CPA. Returns its id.
-- A platform client owned by a CPA: only the host contract's columns (id, user_id).
create or replace function tests.create_client(p_owner uuid)
returns uuid
language sql
as $$
  insert into public.clients (user_id) values (p_owner) returning id
$$;

-- Act as PostgREST does for a signed-in user: claims, then role (until the end of the transaction).
create or replace function tests.authenticate_as(p_user uuid)
returns void
language plpgsql
as $$
begin
  perform set_config('request.jwt.claims',
    json_build_object('sub', p_user, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
  perform set_config('role', 'authenticated', true);
end
$$;

create or replace function tests.as_anon()
returns void
language plpgsql
as $$
begin
  perform set_config('request.jwt.claims', '{"role":"anon"}', true);
  perform set_config('role', 'anon', true);
end
$$;

create or replace function tests.as_service_role()
returns void
language plpgsql
as $$
begin
  perform set_config('request.jwt.claims', '{"role":"service_role"}', true);
  perform set_config('role', 'service_role', true);
end
$$;

-- Back to the session user (postgres) with no claims.
create or replace function tests.clear_auth()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

-- The distinct platform_client_id values the CURRENT role can see in a public table or view
-- (runs with the caller's rights, so RLS applies). Sorted; null when nothing is visible.
create or replace function tests.visible_clients(p_relation text)
returns uuid[]
language plpgsql
as $$
declare
  v uuid[];
begin
  execute format('select array_agg(distinct platform_client_id order by platform_client_id) from public.%I', p_relation)
    into v;
  return v;
end
$$;

grant execute on all functions in schema tests to anon, authenticated, service_role;

select plan(7);
select has_function('tests', 'create_user', array['text'], 'helper tests.create_user(email) exists');
select has_function('tests', 'create_client', array['uuid'], 'helper tests.create_client(owner) exists');
select has_function('tests', 'authenticate_as', array['uuid'], 'helper tests.authenticate_as(uuid) exists');
select has_function('tests', 'as_anon', 'helper tests.as_anon() exists');
select has_function('tests', 'as_service_role', 'helper tests.as_service_role() exists');
select has_function('tests', 'clear_auth', 'helper tests.clear_auth() exists');
select has_function('tests', 'visible_clients', array['text'], 'helper tests.visible_clients(relation) exists');
select * from finish();
commit;
