import type { Migration } from "../../core/index.ts";
import { idempotencyTableSql } from "../grpc/index.ts";

export const migrations: Migration[] = [
  {
    id: 1,
    name: "transactions",
    sql: `
create table transactions (
  id text primary key,
  business_id text not null,
  customer_id text not null,
  financial_account_id text not null,
  direction text not null check (direction in ('send', 'request')),
  method text not null check (method in ('push_to_card', 'ach_credit', 'ach_debit')),
  amount_minor bigint not null check (amount_minor > 0),
  currency char(3) not null,
  status text not null,
  return_code text not null default '',
  failure_reason text not null default '',
  workflow_id text not null default '',
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index transactions_business on transactions (business_id, id);
${idempotencyTableSql()}
`,
  },
  {
    id: 2,
    name: "rails simulation, status history and the status-change outbox",
    sql: `
alter table transactions add column external_id text not null default '';
alter table transactions add column account_kind text not null default '';
alter table transactions add column account_last4 text not null default '';
-- When the rails simulator next moves the transaction; null when it rests.
alter table transactions add column next_action_at timestamptz;
create index transactions_due on transactions (next_action_at) where next_action_at is not null;
create index transactions_customer on transactions (business_id, customer_id, id);

-- Every status change, oldest first; unpublished rows are the outbox of
-- transaction.status_changed events and in-process listeners.
create table status_changes (
  id bigserial primary key,
  transaction_id text not null references transactions(id),
  status text not null,
  previous_status text not null default '',
  return_code text not null default '',
  reason text not null default '',
  changed_at timestamptz not null,
  published_at timestamptz
);
create index status_changes_transaction on status_changes (transaction_id, id);
create index status_changes_unpublished on status_changes (id) where published_at is null;
`,
  },
  {
    id: 3,
    name: "outbox claims with a lease, so events are published with no transaction open",
    sql: `
alter table status_changes add column claimed_until timestamptz;
`,
  },
  {
    id: 4,
    name: "same-day ACH",
    sql: `
alter table transactions add column same_day_ach boolean not null default false;
`,
  },
  {
    id: 5,
    name: "per-business limits",
    sql: `
create table business_limits (
  business_id text primary key,
  max_amount_minor bigint not null,
  daily_amount_minor bigint not null,
  updated_at timestamptz not null
);
create index transactions_business_created on transactions (business_id, created_at);
`,
  },
  {
    id: 6,
    name: "outbox claim looks up a transaction's earlier unpublished changes by transaction",
    sql: `
-- The claim's "no earlier change of this transaction held elsewhere" check. Through the id-only
-- index it read every entry of that index, and published changes leave dead entries there until
-- vacuum (thousands under load: milliseconds per claim); this one holds a few per transaction.
create index status_changes_unpublished_by_transaction on status_changes (transaction_id, id)
  where published_at is null;
`,
  },
];
