-- Local demo data only (never pushed to a hosted project): two CPAs, each with clients.
insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
values
  ('11111111-1111-4111-8111-111111111111', 'authenticated', 'authenticated', 'ada@alpha-cpa.test', '{}', '{"name":"Ada (Alpha CPA)"}'),
  ('22222222-2222-4222-8222-222222222222', 'authenticated', 'authenticated', 'bob@beta-cpa.test',  '{}', '{"name":"Bob (Beta CPA)"}')
on conflict (id) do nothing;

-- The local stand-in clients table holds only the host contract (id, user_id); names are comments.
insert into public.clients (id, user_id)
values
  ('aaaaaaaa-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111'),  -- Acme Bakery LLC
  ('aaaaaaaa-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111'),  -- Birch Dental PC
  ('bbbbbbbb-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222')   -- Cedar Farms Inc
on conflict (id) do nothing;
