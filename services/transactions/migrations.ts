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
];
