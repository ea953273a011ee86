-- Readiness probe for the service (/readyz) that works through PostgREST as well as psycopg.
create function public.ob_health()
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object('ok', true, 'now', now())
$$;
revoke all on function public.ob_health() from public, anon, authenticated;
grant execute on function public.ob_health() to service_role;
