-- Local Supabase compatibility layer (NOT a migration: hosted Supabase already has all of this).
--
-- Gives a plain PostgreSQL 15 what our migrations and tests expect from a Supabase database:
-- the API roles, the `extensions` schema, the `auth` schema with auth.users and the claim helpers
-- that read `request.jwt.claims` exactly as PostgREST sets it per request, and a stand-in for the
-- platform's own `public.clients` table (created only when the platform has none).
-- Idempotent; applied by scripts/stack.sh before `supabase migration up`.
--
-- Deliberate deviation: `postgres` stays superuser here (Supabase demotes it). Superusers bypass
-- RLS, so every RLS test switches role first, as PostgREST does.

set client_min_messages = warning;
begin;

do $roles$
declare
  r record;
begin
  for r in select * from (values
      ('supabase_admin',        'login superuser createdb createrole replication bypassrls'),
      ('anon',                  'nologin noinherit'),
      ('authenticated',         'nologin noinherit'),
      ('service_role',          'nologin noinherit bypassrls'),
      ('authenticator',         'login noinherit'),
      ('supabase_auth_admin',   'login noinherit createrole'),
      ('dashboard_user',        'nologin createdb createrole replication')
    ) as t(name, attrs)
  loop
    if not exists (select from pg_roles where rolname = r.name) then
      execute format('create role %I %s', r.name, r.attrs);
    end if;
  end loop;
end
$roles$;

-- PostgREST logs in as authenticator and switches role per request; the local password is public.
alter role authenticator password 'authenticator';
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role, supabase_auth_admin to postgres;

alter role anon          set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role postgres      set search_path = "$user", public, extensions;

-- Supabase exposes new objects in public to the API roles by default; migrations narrow it.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables    to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto    with schema extensions;

create schema if not exists auth authorization supabase_admin;
grant usage on schema auth to anon, authenticated, service_role;
grant all on schema auth to supabase_auth_admin, postgres;

-- The columns of GoTrue's auth.users that platform code and our tests touch.
create table if not exists auth.users (
  instance_id         uuid,
  id                  uuid primary key,
  aud                 varchar(255),
  role                varchar(255),
  email               varchar(255),
  encrypted_password  varchar(255),
  email_confirmed_at  timestamptz,
  raw_app_meta_data   jsonb,
  raw_user_meta_data  jsonb,
  created_at          timestamptz default now(),
  updated_at          timestamptz default now(),
  is_sso_user         boolean not null default false,
  is_anonymous        boolean not null default false,
  deleted_at          timestamptz
);
alter table auth.users owner to supabase_auth_admin;
alter table auth.users enable row level security;
grant select on auth.users to postgres with grant option;

create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
create or replace function auth.uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid
$$;
create or replace function auth.role() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')::text
$$;
create or replace function auth.email() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
                  nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')::text
$$;
alter function auth.jwt()   owner to supabase_auth_admin;
alter function auth.uid()   owner to supabase_auth_admin;
alter function auth.role()  owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
  to anon, authenticated, service_role, postgres;

do $pub$
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$pub$;

-- Stand-in for the platform's clients table (the CPA owns a client through user_id). Deliberately
-- minimal: exactly the host contract (README, "What the migrations expect"), so every local run of
-- the migrations and of the test suites proves they need no other column of a platform's table.
do $clients$
begin
  if to_regclass('public.clients') is null then
    create table public.clients (
      id         uuid primary key default gen_random_uuid(),
      user_id    uuid not null references auth.users (id) on delete cascade
    );
    create index clients_user_id_idx on public.clients (user_id);
    revoke all on public.clients from anon, authenticated;
    grant select on public.clients to authenticated;
    grant all on public.clients to service_role;
    alter table public.clients enable row level security;
    create policy "CPAs read their own clients" on public.clients
      for select to authenticated using (user_id = (select auth.uid()));
  end if;
end
$clients$;

-- Supabase Storage's schema as hosted projects have it (the columns, index and helpers that our
-- storage.objects policies and the local Storage stand-in use). Hosted Supabase's Storage server owns
-- these tables; locally they only hold rows, and the bytes live in a folder.
do $storage_role$
begin
  if not exists (select from pg_roles where rolname = 'supabase_storage_admin') then
    create role supabase_storage_admin nologin noinherit createrole;
  end if;
end
$storage_role$;
create schema if not exists storage authorization supabase_storage_admin;
grant usage on schema storage to postgres, anon, authenticated, service_role;
create table if not exists storage.buckets (
  id                 text primary key,
  name               text not null,
  owner              uuid,
  owner_id           text,
  created_at         timestamptz default now(),
  updated_at         timestamptz default now(),
  public             boolean default false,
  avif_autodetection boolean default false,
  file_size_limit    bigint,
  allowed_mime_types text[]
);
create unique index if not exists bname on storage.buckets (name);
create table if not exists storage.objects (
  id               uuid primary key default gen_random_uuid(),
  bucket_id        text references storage.buckets (id),
  name             text,
  owner            uuid,
  owner_id         text,
  created_at       timestamptz default now(),
  updated_at       timestamptz default now(),
  last_accessed_at timestamptz default now(),
  metadata         jsonb,
  path_tokens      text[] generated always as (string_to_array(name, '/')) stored,
  version          text,
  user_metadata    jsonb
);
create unique index if not exists bucketid_objname on storage.objects (bucket_id, name);
create index if not exists name_prefix_search on storage.objects (name text_pattern_ops);
alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
-- As on Supabase: the API roles hold table privileges; RLS policies decide what each row allows.
grant all on storage.buckets, storage.objects to postgres, anon, authenticated, service_role;

create or replace function storage.foldername(name text) returns text[] language plpgsql immutable as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1:array_length(_parts, 1) - 1];
end
$$;
create or replace function storage.filename(name text) returns text language plpgsql immutable as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[array_length(_parts, 1)];
end
$$;
create or replace function storage.extension(name text) returns text language plpgsql immutable as $$
declare
  _parts text[];
  _filename text;
begin
  select string_to_array(name, '/') into _parts;
  select _parts[array_length(_parts, 1)] into _filename;
  return reverse(split_part(reverse(_filename), '.', 1));
end
$$;
alter function storage.foldername(text) owner to supabase_storage_admin;
alter function storage.filename(text)   owner to supabase_storage_admin;
alter function storage.extension(text)  owner to supabase_storage_admin;
grant execute on function storage.foldername(text), storage.filename(text), storage.extension(text)
  to postgres, anon, authenticated, service_role;

commit;
