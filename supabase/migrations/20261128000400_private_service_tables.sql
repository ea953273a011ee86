-- Service-only tables: the encrypted partner token, the webhook inbox, and the API-call log.

create table private.ob_partner_tokens (
  id                   smallint primary key default 1 check (id = 1),   -- one token per partner
  token_ciphertext     text,            -- AES-GCM with a key only the service holds
  expires_at           timestamptz,
  refreshed_at         timestamptz,
  refresh_holder       text,            -- who holds the right to refresh now (one per database)
  refresh_lease_until  timestamptz,
  refresh_count        bigint not null default 0
);
insert into private.ob_partner_tokens (id) values (1);
revoke all on private.ob_partner_tokens from public, anon, authenticated;
grant select on private.ob_partner_tokens to service_role;

create table private.ob_webhook_events (
  id                    bigint generated always as identity primary key,
  source                text not null check (source in ('connect', 'obwms')),
  message_id            text not null,   -- Connect eventId / OBWMS X-Mastercard-Webhook-Message-Id
  event_type            text,
  finicity_customer_id  text,
  headers               jsonb not null default '{}',
  payload               jsonb not null,
  verified              boolean not null,
  received_at           timestamptz not null default now(),
  processed_at          timestamptz,
  process_error         text,
  unique (source, message_id)
);
create index ob_webhook_events_received_idx on private.ob_webhook_events (received_at);
create index ob_webhook_events_customer_idx on private.ob_webhook_events (finicity_customer_id, received_at);
revoke all on private.ob_webhook_events from public, anon, authenticated;
grant select on private.ob_webhook_events to service_role;

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
create index ob_api_calls_called_at_idx on private.ob_api_calls (called_at);
revoke all on private.ob_api_calls from public, anon, authenticated;
grant select on private.ob_api_calls to service_role;
