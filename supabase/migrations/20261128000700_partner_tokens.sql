-- The Mastercard partner token, shared by every service process (one refresh per database).

-- =================================================================================================
-- private.ob_partner_tokens
-- One row; the token is AES-GCM encrypted with a key only the service holds.
-- =================================================================================================

create table private.ob_partner_tokens (
  id                   smallint primary key default 1 check (id = 1),   -- one token per partner
  token_ciphertext     text,            -- AES-GCM with a key only the service holds
  expires_at           timestamptz,
  refreshed_at         timestamptz,
  refresh_holder       text,            -- who holds the right to refresh now (one per database)
  refresh_lease_until  timestamptz,
  refresh_count        bigint not null default 0,
  -- Failed partner authentications in a row, across every process. Mastercard locks the partner account
  -- after five; the service stops at the configured limit (2) until auth_held_until passes or an
  -- operator runs `python -m service auth reset`, and never makes a fourth attempt in a row by itself.
  auth_failures        integer not null default 0,
  auth_held_until      timestamptz,     -- 'infinity': until an operator resets
  auth_last_failure_at timestamptz,
  auth_last_error      text             -- Finicity's code and message, never the secret
);
insert into private.ob_partner_tokens (id) values (1);
revoke all on private.ob_partner_tokens from public, anon, authenticated;
grant select on private.ob_partner_tokens to service_role;

-- Functions ----------------------------------------------------------------------------------------

create function public.ob_partner_token_get()
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select case when t.token_ciphertext is null then null
              else pg_catalog.jsonb_build_object('token_ciphertext', t.token_ciphertext, 'expires_at', t.expires_at)
         end
    from private.ob_partner_tokens t where t.id = 1
$$;
revoke all on function public.ob_partner_token_get() from public, anon, authenticated;
grant execute on function public.ob_partner_token_get() to service_role;

-- One refresh per database: hands back a token that is still good (someone refreshed already), or
-- grants a short lease to refresh, or tells the caller to wait. p_stale_ciphertext names a token
-- the API just rejected, so it is never handed back as good.
create function public.ob_partner_token_begin_refresh(
  p_holder text, p_lease_seconds integer default 30, p_min_valid_seconds integer default 900,
  p_stale_ciphertext text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  t private.ob_partner_tokens%rowtype;
begin
  -- The single row may have been deleted (an operator clearing the cache): bring it back first,
  -- so the lock below always has a row to hold and one refresher wins.
  insert into private.ob_partner_tokens (id) values (1) on conflict (id) do nothing;
  select * into t from private.ob_partner_tokens where id = 1 for update;
  if t.token_ciphertext is not null
     and t.token_ciphertext is distinct from p_stale_ciphertext
     and t.expires_at > now() + make_interval(secs => p_min_valid_seconds) then
    return pg_catalog.jsonb_build_object('granted', false, 'token_ciphertext', t.token_ciphertext,
                                         'expires_at', t.expires_at);
  end if;
  if t.refresh_holder is null or t.refresh_lease_until < now() or t.refresh_holder = p_holder then
    update private.ob_partner_tokens
       set refresh_holder = p_holder, refresh_lease_until = now() + make_interval(secs => p_lease_seconds)
     where id = 1;
    return pg_catalog.jsonb_build_object('granted', true, 'token_ciphertext', null, 'expires_at', null);
  end if;
  return pg_catalog.jsonb_build_object('granted', false, 'token_ciphertext', null, 'expires_at', null);
end
$$;
revoke all on function public.ob_partner_token_begin_refresh(text, integer, integer, text) from public, anon, authenticated;
grant execute on function public.ob_partner_token_begin_refresh(text, integer, integer, text) to service_role;

create function public.ob_partner_token_put(p_holder text, p_token_ciphertext text, p_expires_at timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.ob_partner_tokens (id) values (1) on conflict (id) do nothing;
  update private.ob_partner_tokens
     set token_ciphertext = p_token_ciphertext, expires_at = p_expires_at, refreshed_at = now(),
         refresh_count = refresh_count + 1, auth_failures = 0, auth_held_until = null,
         refresh_holder = case when refresh_holder = p_holder then null else refresh_holder end,
         refresh_lease_until = case when refresh_holder = p_holder then null else refresh_lease_until end
   where id = 1;
  return pg_catalog.jsonb_build_object('stored', true);
end
$$;
revoke all on function public.ob_partner_token_put(text, text, timestamptz) from public, anon, authenticated;
grant execute on function public.ob_partner_token_put(text, text, timestamptz) to service_role;

-- Partner authentication guard ---------------------------------------------------------------------

-- The refresh lease holder asks before it authenticates: allowed while fewer than p_limit failures are
-- in a row, or once a timed hold has passed (one attempt, then held again), and never at p_hard_limit.
create function public.ob_partner_auth_attempt(p_holder text, p_limit integer, p_hard_limit integer default 4)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  t private.ob_partner_tokens%rowtype;
begin
  select * into t from private.ob_partner_tokens where id = 1 for update;
  return pg_catalog.jsonb_build_object(
    'allowed', t.refresh_holder is not distinct from p_holder and t.auth_failures < p_hard_limit
               and (t.auth_failures < p_limit or (t.auth_held_until is not null and t.auth_held_until <= now())),
    'failures', t.auth_failures, 'held_until', t.auth_held_until);
end
$$;
revoke all on function public.ob_partner_auth_attempt(text, integer, integer) from public, anon, authenticated;
grant execute on function public.ob_partner_auth_attempt(text, integer, integer) to service_role;

-- A refused authentication: counted, held when the limit is reached (p_hold_seconds 0: until reset),
-- and the lease released so the next process sees the count at once.
create function public.ob_partner_auth_failed(
  p_holder text, p_error text, p_limit integer, p_hold_seconds integer, p_hard_limit integer default 4)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  t private.ob_partner_tokens%rowtype;
begin
  update private.ob_partner_tokens
     set auth_failures = auth_failures + 1, auth_last_failure_at = now(), auth_last_error = left(p_error, 300),
         auth_held_until = case
           when auth_failures + 1 >= p_hard_limit or (auth_failures + 1 >= p_limit and p_hold_seconds <= 0)
             then 'infinity'::timestamptz
           when auth_failures + 1 >= p_limit then now() + make_interval(secs => p_hold_seconds)
         end,
         refresh_holder = case when refresh_holder = p_holder then null else refresh_holder end,
         refresh_lease_until = case when refresh_holder = p_holder then null else refresh_lease_until end
   where id = 1
  returning * into t;
  return pg_catalog.jsonb_build_object('failures', t.auth_failures, 'held_until', t.auth_held_until);
end
$$;
revoke all on function public.ob_partner_auth_failed(text, text, integer, integer, integer) from public, anon, authenticated;
grant execute on function public.ob_partner_auth_failed(text, text, integer, integer, integer) to service_role;

-- For /readyz, /metrics and `auth status`.
create function public.ob_partner_auth_state()
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
           'failures', t.auth_failures, 'held_until', t.auth_held_until,
           'held', t.auth_held_until is not null and t.auth_held_until > now(),
           'last_failure_at', t.auth_last_failure_at, 'last_error', t.auth_last_error)
    from private.ob_partner_tokens t where t.id = 1
$$;
revoke all on function public.ob_partner_auth_state() from public, anon, authenticated;
grant execute on function public.ob_partner_auth_state() to service_role;

-- `python -m service auth reset`: the operator fixed the credentials; authenticating may start again.
create function public.ob_partner_auth_reset()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_before jsonb := public.ob_partner_auth_state();
begin
  update private.ob_partner_tokens set auth_failures = 0, auth_held_until = null where id = 1;
  return pg_catalog.jsonb_build_object('before', v_before);
end
$$;
revoke all on function public.ob_partner_auth_reset() from public, anon, authenticated;
grant execute on function public.ob_partner_auth_reset() to service_role;
