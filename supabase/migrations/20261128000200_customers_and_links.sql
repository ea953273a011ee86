-- Customers (platform client <-> Finicity customer), bank-link requests, and institution logins.

create table public.open_banking_customers (
  id                    uuid primary key default gen_random_uuid(),
  platform_client_id    uuid not null unique references public.clients (id) on delete cascade,
  finicity_customer_id  text unique,
  finicity_username     text not null unique,
  customer_type         text not null check (customer_type in ('testing', 'active')),
  link_status           text not null default 'pending'
                        check (link_status in ('pending', 'linked', 'error')),
  last_error_code       text,
  last_error_message    text,
  last_synced_at        timestamptz,
  last_sync_error       text,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now()
);
comment on table public.open_banking_customers is
  'One Finicity customer per platform client. Written by the service only.';
revoke all on public.open_banking_customers from anon, authenticated;
grant select on public.open_banking_customers to authenticated;
grant all on public.open_banking_customers to service_role;
alter table public.open_banking_customers enable row level security;
create policy "CPAs read their clients' customers" on public.open_banking_customers
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));
create trigger set_updated_at before update on public.open_banking_customers
  for each row execute function private.set_updated_at();

-- Link requests: the CPA inserts a row; the service delivers the link. A Connect link (`link`) is
-- emailed by Mastercard to email_to; a Fix link (`fix`, re-consent) has no email endpoint, so the
-- service generates it and stores it as `ready` for the platform to deliver (no address needed).
create table public.open_banking_link_requests (
  id                    uuid primary key default gen_random_uuid(),
  platform_client_id    uuid not null references public.clients (id) on delete cascade,
  email_to              text check (length(email_to) between 3 and 320 and email_to ~ '^[^@\s]+@[^@\s]+$'),
  first_name            text check (length(first_name) <= 100),
  kind                  text not null default 'link' check (kind in ('link', 'fix')),
  institution_login_id  bigint,
  requested_by          uuid references auth.users (id) on delete set null,
  status                text not null default 'queued'
                        check (status in ('queued', 'sending', 'sent', 'failed')),
  link                  text,
  ttl_expires_at        timestamptz,
  error_message         text,
  sent_at               timestamptz,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now(),
  constraint fix_needs_login check (kind = 'link' or institution_login_id is not null),
  constraint link_needs_email check (kind = 'fix' or email_to is not null)
);
create index open_banking_link_requests_client_idx
  on public.open_banking_link_requests (platform_client_id, created_at desc);
revoke all on public.open_banking_link_requests from anon, authenticated;
grant select on public.open_banking_link_requests to authenticated;
-- The CPA supplies only these columns; everything else is the service's.
grant insert (platform_client_id, email_to, first_name, kind, institution_login_id)
  on public.open_banking_link_requests to authenticated;
grant all on public.open_banking_link_requests to service_role;
alter table public.open_banking_link_requests enable row level security;
create policy "CPAs read their clients' link requests" on public.open_banking_link_requests
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));
create trigger set_updated_at before update on public.open_banking_link_requests
  for each row execute function private.set_updated_at();

-- Request rows made by a CPA always carry the CPA as requester and start from a clean state,
-- whatever the insert said (column grants already stop most of it; this covers defaults too).
create function private.force_request_defaults()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if coalesce(auth.role(), '') <> 'service_role' and current_user in ('authenticated', 'anon') then
    new.requested_by := auth.uid();
    new.status := 'queued';
    if tg_table_name = 'open_banking_link_requests' then
      new.link := null;
      new.ttl_expires_at := null;
      new.error_message := null;
      new.sent_at := null;
    end if;
  end if;
  return new;
end
$$;
create trigger force_request_defaults before insert on public.open_banking_link_requests
  for each row execute function private.force_request_defaults();

create table public.open_banking_institution_logins (
  id                       bigint primary key,            -- Finicity institutionLoginId
  platform_client_id       uuid not null references public.clients (id) on delete cascade,
  customer_id              uuid not null references public.open_banking_customers (id) on delete cascade,
  institution_id           text,
  institution_name         text,
  oauth                    boolean not null default false,
  status                   text not null default 'active' check (status in ('active', 'error')),
  aggregation_status_code  integer,
  authorization_start_at   timestamptz,
  authorization_end_at     timestamptz,
  needs_reauth             boolean not null default false,
  consent_checked_at       timestamptz,
  last_error_message       text,
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now()
);
create index open_banking_institution_logins_client_idx on public.open_banking_institution_logins (platform_client_id);
create index open_banking_institution_logins_customer_idx on public.open_banking_institution_logins (customer_id);
revoke all on public.open_banking_institution_logins from anon, authenticated;
grant select on public.open_banking_institution_logins to authenticated;
grant all on public.open_banking_institution_logins to service_role;
alter table public.open_banking_institution_logins enable row level security;
create policy "CPAs read their clients' bank logins" on public.open_banking_institution_logins
  for select to authenticated using ((select public.ob_can_access_client(platform_client_id)));
create trigger set_updated_at before update on public.open_banking_institution_logins
  for each row execute function private.set_updated_at();

-- Declared after the logins table, which it reads.
create policy "CPAs request links for their own clients" on public.open_banking_link_requests
  for insert to authenticated
  with check (
    (select public.ob_can_access_client(platform_client_id))
    and requested_by = (select auth.uid())
    -- a Fix link may name only a bank login of this same client
    and (institution_login_id is null or exists (
      select 1 from public.open_banking_institution_logins l
       where l.id = institution_login_id and l.platform_client_id = open_banking_link_requests.platform_client_id)));
