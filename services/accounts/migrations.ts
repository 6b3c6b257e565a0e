import type { Migration } from "../../core/index.ts";
import { idempotencyTableSql } from "../grpc/index.ts";

export const migrations: Migration[] = [
  {
    id: 1,
    name: "businesses, api keys, customers",
    sql: `
create table businesses (
  id text primary key,
  name text not null,
  parent_business_id text references businesses(id),
  created_at timestamptz not null
);
create index businesses_parent on businesses (parent_business_id);

create table api_keys (
  id text primary key,
  business_id text not null references businesses(id),
  name text not null,
  prefix text not null,
  key_hash text not null unique,
  created_at timestamptz not null,
  revoked_at timestamptz
);
create index api_keys_business on api_keys (business_id);

create table customers (
  id text primary key,
  business_id text not null references businesses(id),
  kind text not null check (kind in ('individual', 'business')),
  profile jsonb not null,
  status text not null check (status in ('active', 'suspended')),
  external_id text not null default '',
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index customers_business on customers (business_id, id);

create table customer_status_history (
  id bigserial primary key,
  customer_id text not null references customers(id),
  status text not null,
  reason text not null,
  changed_at timestamptz not null
);
create index customer_status_history_customer on customer_status_history (customer_id, id);
${idempotencyTableSql()}
`,
  },
];
