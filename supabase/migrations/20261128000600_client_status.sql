-- What a CPA's badge says about each client, for the React app (the view, under the caller's RLS)
-- and for operators (`python -m service status`, through ob_status_report, which reads the view).

-- =================================================================================================
-- public.open_banking_client_status (view)
-- One row per platform client the caller may see: the badge the React app shows.
-- =================================================================================================

create view public.open_banking_client_status
with (security_invoker = true)
as
select
  c.id as platform_client_id,
  case
    when bool_or(l.needs_reauth) then 'needs_reauth'
    when cu.link_status = 'error' then 'error'
    when cu.link_status = 'linked' then 'linked'
    when cu.id is not null or exists (
      select 1 from public.open_banking_link_requests e
      where e.platform_client_id = c.id and e.status in ('queued', 'sending', 'sent', 'ready')
    ) then 'pending'
    else 'not_linked'
  end as badge,
  cu.finicity_customer_id is not null as has_customer,
  count(l.id) as institution_logins,
  cu.last_synced_at,
  cu.last_error_message,
  min(l.authorization_end_at) filter (where l.authorization_end_at > now()) as next_consent_expiry_at,
  coalesce(array_agg(distinct coalesce(l.institution_name, l.institution_id)
                     order by coalesce(l.institution_name, l.institution_id)) filter (where l.id is not null),
           '{}') as institution_names
from public.clients c
left join public.open_banking_customers cu on cu.platform_client_id = c.id
left join public.open_banking_institution_logins l on l.customer_id = cu.id
where current_user = 'service_role' or c.id = any (array(select public.ob_accessible_clients()))
group by c.id, cu.id;
revoke all on public.open_banking_client_status from public, anon, authenticated;
grant select on public.open_banking_client_status to authenticated, service_role;

-- =================================================================================================
-- Operators
-- =================================================================================================

-- The status table: per platform client, what the CPA's badge says (read from the view above: the
-- badge has one definition) and why. Security invoker: the service calls it as service_role, for
-- whom the view shows every client. Clients with a customer or any link request, or the one asked for.
create function public.ob_status_report(p_platform_client_id uuid default null)
returns jsonb
language sql stable
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(r order by r.platform_client_id), '[]'::jsonb) from (
    select s.platform_client_id, cu.finicity_customer_id, cu.customer_type, s.badge,
           s.institution_logins as logins, s.next_consent_expiry_at as consent_expires_at,
           s.last_synced_at, cu.last_sync_error, s.last_error_message,
           (select count(*) from public.open_banking_accounts a where a.customer_id = cu.id) as accounts,
           (select count(*) from public.open_banking_transactions t
              join public.open_banking_accounts a on a.id = t.account_id where a.customer_id = cu.id) as transactions,
           (select count(*) from private.ob_transaction_quarantine q
             where q.platform_client_id = s.platform_client_id) as quarantined
      from public.open_banking_client_status s
      left join public.open_banking_customers cu on cu.platform_client_id = s.platform_client_id
     where (p_platform_client_id is null and (cu.id is not null or exists (
              select 1 from public.open_banking_link_requests e where e.platform_client_id = s.platform_client_id)))
        or s.platform_client_id = p_platform_client_id
  ) r
$$;
revoke all on function public.ob_status_report(uuid) from public, anon, authenticated;
grant execute on function public.ob_status_report(uuid) to service_role;
