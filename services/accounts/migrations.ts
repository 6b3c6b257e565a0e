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
  {
    id: 2,
    name: "financial accounts, document acceptances, customer soft delete",
    sql: `
alter table customers add column deleted_at timestamptz;

create table financial_accounts (
  id text primary key,
  business_id text not null references businesses(id),
  customer_id text not null references customers(id),
  kind text not null check (kind in ('bank_account', 'card')),
  status text not null check (status in ('active', 'suspended', 'disconnected')),
  source text not null check (source in ('manual', 'plaid', 'finicity')),
  name text not null,
  number_last4 text not null,
  -- AES-256-GCM (iv, tag, ciphertext) under key_id; null once disconnected.
  number_ciphertext bytea,
  key_id text,
  routing_number text not null default '',
  account_type text not null default '',
  name_on_account text not null default '',
  card_type text not null default '',
  card_brand text not null default '',
  expiry_month int not null default 0,
  expiry_year int not null default 0,
  provider_account_id text not null default '',
  is_default boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index financial_accounts_customer on financial_accounts (business_id, customer_id, id);
create unique index financial_accounts_one_default on financial_accounts (customer_id) where is_default;

create table financial_account_status_history (
  id bigserial primary key,
  financial_account_id text not null references financial_accounts(id),
  status text not null,
  reason text not null,
  changed_at timestamptz not null
);
create index financial_account_status_history_account on financial_account_status_history (financial_account_id, id);

create table document_acceptances (
  id text primary key,
  business_id text not null references businesses(id),
  customer_id text not null references customers(id),
  document_id text not null,
  version text not null,
  content_hash text not null,
  scope text not null default '',
  accepted_at timestamptz not null,
  ip text not null,
  user_agent text not null,
  workflow_id text not null default '',
  recorded_at timestamptz not null
);
create index document_acceptances_customer on document_acceptances (business_id, customer_id, id);
`,
  },
  {
    id: 3,
    name: "enhanced PII appended to customers",
    sql: `
create table customer_enhanced_pii (
  customer_id text primary key references customers(id),
  business_id text not null references businesses(id),
  key_id text not null,
  ciphertext bytea not null,
  has_date_of_birth boolean not null,
  tax_id_last4 text not null,
  document_type text not null,
  document_country text not null,
  document_last4 text not null,
  updated_at timestamptz not null
);
`,
  },
];
