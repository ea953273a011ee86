-- Deleting a client leaves nothing behind: the platform's door (a trigger on public.clients), the
-- operator's door (ob_client_forget), the Mastercard deletion job and its confirmation.
begin;
-- One event through the batch intake (what the service calls), as its single result.
create function pg_temp.ingest(p_source text, p_message_id text, p_event_type text, p_customer text,
                               p_headers jsonb, p_payload jsonb, p_verified boolean default true,
                               p_event_key text default null)
returns jsonb language sql as $$
  select public.ob_webhook_events_ingest(jsonb_build_array(jsonb_build_object(
    'p_source', p_source, 'p_message_id', p_message_id, 'p_event_type', p_event_type,
    'p_finicity_customer_id', p_customer, 'p_headers', p_headers, 'p_payload', p_payload,
    'p_verified', p_verified, 'p_event_key', p_event_key))) -> 0
$$;
select plan(27);

-- Tables and rows of any schema whose text holds p_needle (what a person scanning the database for
-- the client would find). Skips pg_catalog/information_schema and pgTAP's own bookkeeping.
create function pg_temp.rows_naming(p_needle text)
returns table (tbl text, n bigint)
language plpgsql
as $$
declare
  r record;
begin
  for r in select c.oid::regclass::text as t from pg_class c join pg_namespace s on s.oid = c.relnamespace
            where c.relkind in ('r', 'p') and s.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
              and s.nspname not like 'pg_temp%' loop
    execute format('select count(*) from %s x where strpos(x::text, $1) > 0', r.t) into n using p_needle;
    if n > 0 then tbl := r.t; return next; end if;
  end loop;
end
$$;

create temp table fx (cpa uuid, a uuid, b uuid, never uuid, link_a uuid, sync_a uuid) on commit drop;
insert into fx (cpa) select tests.create_user('deletion@cpa.test');
update fx set a = tests.create_client(cpa), b = tests.create_client(cpa),
              never = tests.create_client(cpa);

-- Client A: a customer with a login, an account, a transaction and a snapshot, requests, events, jobs.
insert into public.open_banking_customers (platform_client_id, finicity_customer_id, finicity_username, customer_type, link_status)
select a, 'del-fin-a', 'del-user-a', 'testing', 'linked' from fx union all
select b, 'del-fin-b', 'del-user-b', 'testing', 'linked' from fx;
insert into public.open_banking_institution_logins (id, platform_client_id, customer_id, oauth)
select v.id, c.platform_client_id, c.id, true
  from public.open_banking_customers c
  join (values ('del-fin-a', 970000001::bigint), ('del-fin-b', 970000002::bigint)) v(fid, id) on v.fid = c.finicity_customer_id;
select public.ob_accounts_upsert(v.fid, jsonb_build_array(jsonb_build_object(
         'id', v.acct, 'institution_login_id', v.login, 'name', 'Checking', 'number_masked', '****1234',
         'balance', '10.00')), now())
  from (values ('del-fin-a', 'del-acct-a', 970000001), ('del-fin-b', 'del-acct-b', 970000002)) v(fid, acct, login);
select public.ob_transactions_upsert(v.acct, jsonb_build_array(jsonb_build_object(
         'id', v.tx, 'amount', '-1.00', 'status', 'posted', 'description', 'Coffee')), now())
  from (values ('del-acct-a', 970000011), ('del-acct-b', 970000012)) v(acct, tx);
insert into public.open_banking_link_requests (platform_client_id, email_to, first_name)
select a, 'dana@books.test', 'Dana' from fx union all select b, 'other@books.test', 'Olly' from fx;
insert into public.open_banking_sync_requests (platform_client_id) select a from fx union all select b from fx;
-- (its insert trigger queues a produce_documents job naming only the request id)
insert into public.open_banking_document_requests (platform_client_id, kind, last_n) select a, 'statements', 3 from fx;
update fx set link_a = (select r.id from public.open_banking_link_requests r where r.platform_client_id = fx.a),
              sync_a = (select r.id from public.open_banking_sync_requests r where r.platform_client_id = fx.a);
select pg_temp.ingest('connect', 'del-evt-a', 'done', 'del-fin-a', '{}',
                                      '{"customerId": "del-fin-a", "eventType": "done"}');
select pg_temp.ingest('obwms', 'del-evt-a-login', 'authorization.expiration.reminder', null, '{}',
                                      '{"institutionLoginId": 970000001, "data": {}}');
select pg_temp.ingest('connect', 'del-evt-b', 'done', 'del-fin-b', '{}',
                                      '{"customerId": "del-fin-b", "eventType": "done"}');
select public.ob_job_enqueue('sync_customer', '{"finicity_customer_id": "del-fin-a"}', 'sync:del-fin-a');
select public.ob_job_enqueue('check_consent', '{"institution_login_id": 970000001, "finicity_customer_id": "del-fin-a"}');
select public.ob_job_enqueue('sync_customer', '{"finicity_customer_id": "del-fin-b"}', 'sync:del-fin-b');

select ok((select count(*) from pg_temp.rows_naming('del-fin-a')) = 3, 'fixture: client A''s customer is named in many tables');

-- The platform's door --------------------------------------------------------------------------------
delete from public.clients where id = (select a from fx);

select is((select count(*) from private.ob_deletions), 1::bigint, 'one audit line for the deletion');
select results_eq($$select platform_client_id, requested_by, mastercard, confirmed_at is null from private.ob_deletions$$,
                  $$select a, 'platform', 'pending', true from fx$$,
                  'the audit line: the client, the platform''s door, Mastercard pending');
select ok((select removed from private.ob_deletions) @> '{"public.open_banking_transactions": 1, "public.open_banking_accounts": 1,
             "public.open_banking_link_requests": 1, "public.open_banking_sync_requests": 1,
             "public.open_banking_institution_logins": 1, "public.open_banking_customers": 1,
             "public.open_banking_balance_snapshots": 1, "private.ob_webhook_events": 2}'::jsonb,
          'the audit line counts the rows removed per table');
select results_eq($$select payload, max_attempts, status from private.ob_jobs where kind = 'delete_customer'$$,
                  $$select jsonb_build_object('deletion_id', (select id from private.ob_deletions), 'finicity_customer_id', 'del-fin-a',
                                            'platform_client_id', (select a from fx)), 100000, 'queued'$$,
                  'a delete_customer job carries what Mastercard needs (the customer id), retried for years');
select set_eq($$select tbl from pg_temp.rows_naming('del-fin-a')$$, array['private.ob_jobs'],
              'the Mastercard id is left only in the deletion job');
select set_eq($$select tbl from pg_temp.rows_naming((select a::text from fx))$$, array['private.ob_deletions', 'private.ob_jobs'],
              'the client''s uuid is left only in the audit line and the pending deletion job');
select is((select count(*) from pg_temp.rows_naming('dana@books.test')), 0::bigint, 'the email address is nowhere');
select is((select count(*) from pg_temp.rows_naming('del-acct-a')), 0::bigint, 'the account id is nowhere');
select is((select count(*) from pg_temp.rows_naming('970000001')), 0::bigint, 'the login id is nowhere');
select is((select count(*) from pg_temp.rows_naming((select link_a::text from fx))), 0::bigint,
          'the link request (and its deliver_link job) are gone');
select is((select count(*) from pg_temp.rows_naming((select sync_a::text from fx))), 0::bigint,
          'the refresh request (and its sync job) are gone');
select is((select count(*) from private.ob_jobs where kind = 'produce_documents'), 0::bigint,
          'the document request and its job (which names only the request) are gone');
select is((select count(*) from private.ob_jobs j where j.kind = 'process_webhook_event'
            and not exists (select 1 from private.ob_webhook_events e where e.id = (j.payload ->> 'event_id')::bigint)),
          0::bigint, 'no processing job is left for a deleted event');
select ok((select count(*) from pg_temp.rows_naming('del-fin-b')) = 3 and
          (select count(*) from public.open_banking_transactions where account_id = 'del-acct-b') = 1 and
          (select count(*) from private.ob_webhook_events where message_id = 'del-evt-b') = 1 and
          (select count(*) from private.ob_jobs where payload ->> 'finicity_customer_id' = 'del-fin-b') = 1,
          'client B (same CPA) keeps everything');

-- Mastercard confirms -------------------------------------------------------------------------------
select is(public.ob_deletion_confirm((select id from private.ob_deletions), 'already_gone') ->> 'mastercard', 'already_gone',
          'confirming records Mastercard''s answer on the audit line');
select is((select count(*) from pg_temp.rows_naming('del-fin-a')), 0::bigint,
          'after the confirmation the Mastercard id is nowhere: the job keeps only the deletion id');
select set_eq($$select tbl from pg_temp.rows_naming((select a::text from fx))$$, array['private.ob_deletions'],
              '... and the client''s uuid is left only in the audit line');
select results_eq($$select payload, status from private.ob_jobs where kind = 'delete_customer'$$,
                  $$select jsonb_build_object('deletion_id', (select id from private.ob_deletions)), 'succeeded'$$,
                  'the queued deletion job is finished by the confirmation (nothing left to do)');
select is(public.ob_deletion_confirm((select id from private.ob_deletions), 'deleted') ->> 'mastercard', 'already_gone',
          'a second confirmation does not rewrite the first');
select throws_ok($$select public.ob_deletion_confirm(1, 'maybe')$$, '22023', null, 'an unknown outcome is refused');

-- The operator's door -------------------------------------------------------------------------------
select is((public.ob_client_forget((select b from fx)) -> 'removed' ->> 'public.open_banking_transactions')::integer, 1,
          'the operator''s door removes client B''s rows');
select is((select count(*) from pg_temp.rows_naming('del-fin-b')), 1::bigint, 'B''s Mastercard id is left only in its deletion job');
select results_eq($$select requested_by, mastercard from private.ob_deletions where platform_client_id = (select b from fx)$$,
                  $$values ('operator', 'pending')$$, 'the audit line says the operator asked');
select is((select count(*) from public.clients where id = (select b from fx)), 1::bigint,
          'the platform''s client row stays (it is the platform''s)');

-- Nothing held: no audit line; and the platform's cascade from a deleted CPA fires the door too ----------
select is(public.ob_client_forget((select never from fx)) ->> 'deletion_id', null, 'a client we never held: no audit line');
delete from auth.users where id = (select cpa from fx);
select is((select count(*) from private.ob_deletions), 2::bigint,
          'deleting the CPA (cascading to its clients) runs the door for each, adding no line for clients without data');

select * from finish();
rollback;
