-- Connect Fix links (re-consent) have no email endpoint at Mastercard: the service generates the
-- link and stores it as `ready` for the platform to deliver; `sent` stays for emails Mastercard sent.
alter table public.open_banking_link_requests drop constraint open_banking_link_requests_status_check;
alter table public.open_banking_link_requests add constraint open_banking_link_requests_status_check
  check (status in ('queued', 'sending', 'sent', 'ready', 'failed'));

-- A customer row whose Finicity customer was never created (the link failed before that).
create function public.ob_customer_delete_unlinked(p_platform_client_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.open_banking_customers c
   where c.platform_client_id = p_platform_client_id and c.finicity_customer_id is null;
  return pg_catalog.jsonb_build_object('deleted', found, 'accounts', 0, 'transactions', 0);
end
$$;
revoke all on function public.ob_customer_delete_unlinked(uuid) from public, anon, authenticated;
grant execute on function public.ob_customer_delete_unlinked(uuid) to service_role;
