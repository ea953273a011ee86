-- The platform's Mastercard call budget: at most `mastercard_calls_per_minute` (private.ob_settings)
-- calls per calendar minute, across every service process and replica. Before each call the
-- service asks for a permit; when the minute's budget is spent it waits for the next minute (the job
-- waits its turn, it does not fail).

-- =================================================================================================
-- private.ob_api_call_windows
-- One row per minute in which calls were made: how many permits it gave.
-- =================================================================================================

create table private.ob_api_call_windows (
  window_start  timestamptz primary key,
  calls         integer not null
);
revoke all on private.ob_api_call_windows from public, anon, authenticated;
grant select on private.ob_api_call_windows to service_role;

-- Functions ----------------------------------------------------------------------------------------

-- RPC: one permit for one Mastercard call. {granted: true}, or {granted: false, retry_after_seconds}
-- until the next minute. A cap of 0 or less means no cap. p_at (tests) stands for the clock.
create function public.ob_api_call_permit(p_at timestamptz default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_cap integer := coalesce(private.ob_setting('mastercard_calls_per_minute')::integer, 0);
  v_now timestamptz := coalesce(p_at, pg_catalog.clock_timestamp());
  v_window timestamptz := date_trunc('minute', v_now);
  v_calls integer;
begin
  if v_cap <= 0 then
    return pg_catalog.jsonb_build_object('granted', true);
  end if;
  insert into private.ob_api_call_windows as w (window_start, calls) values (v_window, 1)
  on conflict (window_start) do update set calls = w.calls + 1 where w.calls < v_cap
  returning w.calls into v_calls;
  if v_calls is null then
    return pg_catalog.jsonb_build_object(
      'granted', false,
      'retry_after_seconds', greatest(extract(epoch from v_window + interval '1 minute' - v_now), 0.05));
  end if;
  if v_calls = 1 then
    -- First permit of a minute: forget minutes older than an hour (kept that long for operators).
    delete from private.ob_api_call_windows w where w.window_start < v_window - interval '1 hour';
  end if;
  return pg_catalog.jsonb_build_object('granted', true);
end
$$;
revoke all on function public.ob_api_call_permit(timestamptz) from public, anon, authenticated;
grant execute on function public.ob_api_call_permit(timestamptz) to service_role;

insert into private.ob_settings (key, value) values ('mastercard_calls_per_minute', '3000')
on conflict (key) do nothing;
