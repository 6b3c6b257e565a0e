import type { Migration } from "../../core/index.ts";
import { idempotencyTableSql } from "../grpc/index.ts";

export const migrations: Migration[] = [
  {
    id: 1,
    name: "notifications, outbox, events, webhook subscriptions and deliveries",
    sql: `
create table notifications (
  id text primary key,
  business_id text not null,
  workflow_id text not null default '',
  serial int not null default 0,
  channel text not null check (channel in ('sms', 'email')),
  origin text not null,
  sent_by text not null,
  status text not null check (status in ('sent', 'failed')),
  provider text not null,
  provider_message_id text not null default '',
  recipient text not null,
  subject text not null default '',
  body text not null,
  html text not null default '',
  sent_at timestamptz not null
);
create unique index notifications_workflow_serial on notifications (workflow_id, serial) where workflow_id <> '';
create index notifications_business on notifications (business_id, id);

-- The dev outbox: messages the embedded node would have sent, for a local page to show.
create table outbox (
  id text primary key,
  channel text not null check (channel in ('sms', 'email')),
  recipient text not null,
  sender text not null default '',
  subject text not null default '',
  body text not null,
  html text not null default '',
  created_at timestamptz not null
);

create table events (
  id text primary key,
  business_id text not null,
  type text not null,
  workflow_id text not null default '',
  payload jsonb not null,
  created_at timestamptz not null
);
create index events_business on events (business_id, id);

create table webhook_subscriptions (
  id text primary key,
  business_id text not null,
  url text not null,
  event_types text[] not null,
  secret text not null,
  created_at timestamptz not null,
  deleted_at timestamptz
);
create index webhook_subscriptions_business on webhook_subscriptions (business_id) where deleted_at is null;

create table deliveries (
  id text primary key,
  seq bigserial not null unique,
  event_id text not null references events(id),
  subscription_id text not null references webhook_subscriptions(id),
  business_id text not null,
  workflow_id text not null default '',
  status text not null check (status in ('pending', 'delivered', 'failed')),
  attempts int not null default 0,
  next_attempt_at timestamptz not null,
  lease_until timestamptz,
  last_response_code int not null default 0,
  last_error text not null default '',
  delivered_at timestamptz,
  created_at timestamptz not null
);
create index deliveries_due on deliveries (next_attempt_at) where status = 'pending';
create index deliveries_order on deliveries (subscription_id, workflow_id, seq) where status = 'pending';
create index deliveries_business on deliveries (business_id, seq);

create table delivery_attempts (
  id bigserial primary key,
  delivery_id text not null references deliveries(id),
  attempted_at timestamptz not null,
  response_code int not null,
  error text not null default '',
  duration_ms int not null
);
create index delivery_attempts_delivery on delivery_attempts (delivery_id, id);
${idempotencyTableSql()}
`,
  },
  {
    id: 2,
    name: "sms opt-outs, webhook subscription status and secret rotation",
    sql: `
-- Numbers that replied STOP (or a synonym); no SMS goes to them until START.
create table sms_opt_outs (
  phone text primary key,
  keyword text not null,
  opted_out_at timestamptz not null
);

alter table webhook_subscriptions add column status text not null default 'active'
  check (status in ('active', 'suspended', 'paused'));
alter table webhook_subscriptions add column status_reason text not null default '';
alter table webhook_subscriptions add column consecutive_failures int not null default 0;
alter table webhook_subscriptions add column previous_secret text;
alter table webhook_subscriptions add column previous_secret_expires_at timestamptz;
create index events_business_created on events (business_id, created_at);
`,
  },
  {
    id: 3,
    name: "notification delivery status, failures and send-outside-the-transaction idempotency",
    sql: `
-- sending: recorded, being handed to the provider; queued/sent/delivered/undelivered/failed: the provider's word.
alter table notifications drop constraint notifications_status_check;
alter table notifications add constraint notifications_status_check
  check (status in ('sending', 'queued', 'sent', 'delivered', 'undelivered', 'failed'));
-- The provider's or our reason for failed/undelivered, as shown to the business.
alter table notifications add column error text not null default '';
-- The LinkflowError a failed send raised, so a retry with the same key answers the same.
alter table notifications add column error_json jsonb;
alter table notifications add column idempotency_key text not null default '';
alter table notifications add column request_hash text not null default '';
-- While a request is handing the message to the provider; a retry waits for it, or takes over once it lapsed.
alter table notifications add column lease_until timestamptz;
alter table notifications add column status_updated_at timestamptz;
create unique index notifications_idempotency on notifications (business_id, idempotency_key)
  where idempotency_key <> '';
create index notifications_provider_message on notifications (provider_message_id) where provider_message_id <> '';

-- The dispatcher pass holding a delivery's lease: only it may attempt or settle the delivery.
alter table deliveries add column lease_owner text;
`,
  },
  {
    id: 4,
    name: "when the first attempt to hand a notification to its provider began",
    sql: `
-- Wall-clock time (the provider dates messages by it): a retry after an attempt with an unknown outcome asks the
-- provider for a message taken since then before sending again.
alter table notifications add column first_attempt_at timestamptz;
`,
  },
];
