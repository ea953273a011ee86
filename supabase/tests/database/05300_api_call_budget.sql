-- The Mastercard call budget: permits up to mastercard_calls_per_minute per calendar minute across
-- every process; then a wait until the next minute, never a failure.
begin;
select plan(7);

-- A fixed clock: 10:41:20 UTC, so the four permits fall in one minute whatever the real time.
create temp table clock (at timestamptz) on commit drop;
grant select on clock to public;
insert into clock values ('2026-12-02 10:41:20+00');

delete from private.ob_api_call_windows;
update private.ob_settings set value = '3' where key = 'mastercard_calls_per_minute';
select tests.as_service_role();
select is(array[(public.ob_api_call_permit((select at from clock)) ->> 'granted')::boolean, (public.ob_api_call_permit((select at from clock)) ->> 'granted')::boolean,
                (public.ob_api_call_permit((select at from clock)) ->> 'granted')::boolean],
          array[true, true, true], 'three permits in a minute with a cap of 3');
create temp table refused on commit drop as select public.ob_api_call_permit((select at from clock)) as answer;
select is((select (answer ->> 'granted')::boolean from refused), false, 'the fourth is not granted...');
select is((select (answer ->> 'retry_after_seconds')::numeric from refused), 40::numeric,
          '...and says how long until the next minute (40 s from 10:41:20)');
select tests.clear_auth();
select is((select calls from private.ob_api_call_windows), 3, 'the minute counts the three permits it gave');

-- A minute long gone is forgotten when a new minute starts.
update private.ob_api_call_windows set window_start = window_start - interval '2 hours';
select tests.as_service_role();
select is((public.ob_api_call_permit((select at from clock)) ->> 'granted')::boolean, true, 'a new minute has a new budget');
select tests.clear_auth();
select is((select count(*) from private.ob_api_call_windows), 1::bigint, 'minutes older than an hour are deleted');

update private.ob_settings set value = '0' where key = 'mastercard_calls_per_minute';
select tests.as_service_role();
select is((select count(*) from generate_series(1, 50) where (public.ob_api_call_permit((select at from clock)) ->> 'granted')::boolean),
          50::bigint, 'a cap of 0 means no cap');
select tests.clear_auth();

select * from finish();
rollback;
