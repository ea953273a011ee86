-- The Mastercard API-call log (no ids, tokens or account numbers: path templates only).

-- =================================================================================================
-- private.ob_api_calls
-- =================================================================================================

create table private.ob_api_calls (
  id             bigint generated always as identity primary key,
  called_at      timestamptz not null default now(),
  method         text not null,
  path_template  text not null,           -- never ids, tokens or account numbers
  status         integer,
  duration_ms    integer,
  finicity_code  text,
  job_id         bigint
);
revoke all on private.ob_api_calls from public, anon, authenticated;
grant select on private.ob_api_calls to service_role;

create index ob_api_calls_called_at_idx on private.ob_api_calls (called_at);

-- Functions ----------------------------------------------------------------------------------------

create function public.ob_api_calls_log(p_calls jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer;
begin
  insert into private.ob_api_calls (called_at, method, path_template, status, duration_ms, finicity_code, job_id)
  select coalesce(r.called_at, now()), r.method, r.path_template, r.status, r.duration_ms, r.finicity_code, r.job_id
    from pg_catalog.jsonb_to_recordset(p_calls) as r(called_at timestamptz, method text, path_template text,
         status integer, duration_ms integer, finicity_code text, job_id bigint);
  get diagnostics v_n = row_count;
  return pg_catalog.jsonb_build_object('logged', v_n);
end
$$;
revoke all on function public.ob_api_calls_log(jsonb) from public, anon, authenticated;
grant execute on function public.ob_api_calls_log(jsonb) to service_role;
