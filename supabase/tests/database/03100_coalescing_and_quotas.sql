-- One CPA cannot hurt the others: refresh and link requests are coalesced while one is in flight,
-- and held to the quotas in private.ob_settings at insert, refused with a message the app shows as
-- is (SQLSTATE PT429, which PostgREST answers as HTTP 429) and nothing queued.
begin;
select plan(26);

create temp table fx (a uuid, b uuid, ca uuid, ca2 uuid, cb uuid, leader uuid, link_leader uuid) on commit drop;
grant select, update on fx to public;
insert into fx (a, b) values (tests.create_user('quota-a@cpa.test'), tests.create_user('quota-b@cpa.test'));
update fx set ca = tests.create_client(a), ca2 = tests.create_client(a), cb = tests.create_client(b);
delete from private.ob_jobs;  -- rolled back; isolates the counts below

-- Refresh: 5,000 requests in one statement are one sync -------------------------------------------
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_sync_requests (platform_client_id)
                  select ca from fx, generate_series(1, 5000)$$,
                'CPA A inserts 5,000 refresh requests for one client in one statement');
select tests.clear_auth();
update fx set leader = (select id from public.open_banking_sync_requests where platform_client_id = fx.ca and status = 'queued');
select is((select count(*) from private.ob_jobs where kind = 'sync_customer'), 1::bigint,
          '...and exactly one sync job is queued');
select results_eq($$select status, count(*) from public.open_banking_sync_requests where platform_client_id = (select ca from fx)
                     group by status order by status$$,
                  $$values ('coalesced'::text, 4999::bigint), ('queued', 1)$$,
                  'one request is queued, the other 4,999 are coalesced');
select is((select count(*) from public.open_banking_sync_requests
            where platform_client_id = (select ca from fx) and status = 'coalesced' and coalesced_into = (select leader from fx)),
          4999::bigint, 'every coalesced request points at the queued one');

select tests.authenticate_as((select a from fx));
insert into public.open_banking_sync_requests (platform_client_id) select ca from fx;
select tests.clear_auth();
select is((select count(*) from private.ob_jobs where kind = 'sync_customer'), 1::bigint,
          'a later request while the sync waits joins it too: still one job');

-- The outcome reaches every request that joined.
select public.ob_sync_request_update((select leader from fx), 'running');
select public.ob_sync_request_update((select leader from fx), 'succeeded', 3, 42);
select results_eq($$select count(*), min(accounts_synced), min(transactions_synced), bool_and(finished_at is not null)
                     from public.open_banking_sync_requests where coalesced_into = (select leader from fx)$$,
                  $$values (5000::bigint, 3, 42, true)$$,
                  'the coalesced requests show the sync''s outcome (counts, finished_at)');

-- Too soon after the last refresh: refused at insert with a message the app can show, nothing queued.
select tests.authenticate_as((select a from fx));
select throws_like($$insert into public.open_banking_sync_requests (platform_client_id) select ca from fx$$,
                   'this client was refreshed less than a minute ago; try again after __:__ UTC',
                   'a refresh within refresh_min_interval_seconds is refused with the time to try again');
select throws_ok($$insert into public.open_banking_sync_requests (platform_client_id) select ca from fx$$, 'PT429', null,
                 'the refusal is SQLSTATE PT429 (PostgREST: HTTP 429)');
select lives_ok($$insert into public.open_banking_sync_requests (platform_client_id) select ca2 from fx$$,
                'another client of the same CPA is not held back');
select tests.clear_auth();
select is((select count(*) from public.open_banking_sync_requests where platform_client_id = (select ca from fx)), 5001::bigint,
          'the refused requests left no row');
select is((select count(*) from private.ob_jobs where kind = 'sync_customer'), 2::bigint,
          'and no job (one for each client)');

-- The interval comes from private.ob_settings; the service and operators are not held to it.
select tests.as_service_role();
select lives_ok($$insert into public.open_banking_sync_requests (platform_client_id) select ca from fx$$,
                'service_role may refresh any time');
select tests.clear_auth();
update public.open_banking_sync_requests set status = 'succeeded' where platform_client_id = (select ca from fx) and status = 'queued';
update private.ob_settings set value = '0' where key = 'refresh_min_interval_seconds';
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_sync_requests (platform_client_id) select ca from fx$$,
                'with refresh_min_interval_seconds = 0 the CPA may refresh again at once');
select tests.clear_auth();

-- Link requests: one email per client and address in flight ----------------------------------------
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to)
                  select ca, 'owner@client.test' from fx, generate_series(1, 1000)$$,
                'CPA A inserts 1,000 link requests for one client and address in one statement');
select tests.clear_auth();
update fx set link_leader = (select id from public.open_banking_link_requests where platform_client_id = fx.ca and status = 'queued');
select is((select count(*) from private.ob_jobs where kind = 'deliver_link'), 1::bigint, '...one deliver_link job');
select is((select count(*) from public.open_banking_link_requests
            where status = 'coalesced' and coalesced_into = (select link_leader from fx)), 999::bigint,
          'the other 999 are coalesced into the first');
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to) select ca, 'OWNER@client.test' from fx$$,
                'the same address in other letters...');
select tests.clear_auth();
select is((select count(*) from private.ob_jobs where kind = 'deliver_link'), 1::bigint, '...joins the same request');
select public.ob_link_request_update((select link_leader from fx), 'sent', 'https://connect.test/x', now() + interval '3 days');
select is((select count(*) from public.open_banking_link_requests
            where coalesced_into = (select link_leader from fx) and link = 'https://connect.test/x' and sent_at is not null),
          1000::bigint, 'the coalesced link requests show the link and when it was sent');

-- A platform link (no address: the platform sends it) is coalesced the same way, per client.
select tests.authenticate_as((select a from fx));
select lives_ok($$insert into public.open_banking_link_requests (platform_client_id) select ca from fx, generate_series(1, 100)$$,
                '100 platform link requests (no address) for one client in one statement');
select tests.clear_auth();
select results_eq($$select status, count(*) from public.open_banking_link_requests
                     where platform_client_id = (select ca from fx) and email_to is null group by status order by status$$,
                  $$values ('coalesced'::text, 99::bigint), ('queued', 1)$$,
                  '...are one request in flight and 99 that joined it');
select is((select count(*) from private.ob_jobs where kind = 'deliver_link'), 2::bigint,
          '...one more deliver_link job (the emailed link is a request of its own)');

-- The per-CPA daily cap: requests one by one (a retry loop), then the whole batch in one statement.
update private.ob_settings set value = '5' where key = 'link_requests_per_cpa_per_day';
select tests.authenticate_as((select a from fx));
create temp table outcome (accepted int, refused int, message text) on commit drop;
grant all on outcome to public;
do $$
declare
  v_ok int := 0; v_no int := 0; v_msg text;
begin
  for i in 1..1000 loop
    begin
      insert into public.open_banking_link_requests (platform_client_id, email_to)
      select ca2, 'person' || i || '@client.test' from fx;
      v_ok := v_ok + 1;
    exception when sqlstate 'PT429' then
      v_no := v_no + 1;
      get stacked diagnostics v_msg = message_text;
    end;
  end loop;
  insert into outcome values (v_ok, v_no, v_msg);
end
$$;
select tests.clear_auth();
select results_eq($$select accepted, refused from outcome$$, $$values (3, 997)$$,
                  '1,000 link requests one by one: the cap (5 a day, two already used) is accepted, the rest refused');
select matches((select message from outcome),
               '^you have sent 5 bank-link requests in the last 24 hours, the most allowed; try again after \d{4}-\d\d-\d\d \d\d:\d\d UTC$',
               'the refusal says how many and when to try again');
select is((select count(*) from private.ob_jobs where kind = 'deliver_link'), 5::bigint,
          'at most the cap of links is queued');
select tests.authenticate_as((select b from fx));
select lives_ok($$insert into public.open_banking_link_requests (platform_client_id, email_to) select cb, 'b@client.test' from fx$$,
                'another CPA is not held back by A''s cap');
select tests.clear_auth();

select * from finish();
rollback;
