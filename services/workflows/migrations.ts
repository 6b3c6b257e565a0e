import type { Migration } from "../../core/index.ts";
import { idempotencyCallColumnsSql, idempotencyTableSql } from "../grpc/index.ts";

/** Schema `workflows`: templates, link lookup by token hash, create idempotency and a tenant-scoped index. */
export const workflowsMigrations: Migration[] = [
  {
    id: 1,
    name: "templates_links_index",
    sql: `
      create table templates (
        business_id text not null,
        name text not null,
        version int not null,
        title text not null,
        source text not null,
        program jsonb not null,
        hash text not null,
        archived boolean not null default false,
        created_at timestamptz not null default now(),
        primary key (business_id, name, version)
      );
      create table links (
        token_hash text primary key,
        workflow_id text not null,
        link_version int not null,
        created_at timestamptz not null default now()
      );
      create table create_requests (
        business_id text not null,
        idempotency_key text not null,
        request_hash text not null,
        workflow_id text not null,
        created_at timestamptz not null default now(),
        primary key (business_id, idempotency_key)
      );
      create table workflows (
        id text primary key,
        business_id text not null,
        template_name text not null,
        template_version int not null,
        external_id text,
        created_at timestamptz not null default now()
      );
      create index workflows_by_business on workflows (business_id, created_at desc);
    `,
  },
  {
    id: 2,
    name: "workflow_projection_api_idempotency",
    // A projection of each workflow for listing and search, refreshed from the
    // actor (status, customer, search keys, the view); rows in a final status
    // never change again. Plus the public API's idempotency keys.
    sql: `
      alter table workflows
        add column status text,
        add column final boolean not null default false,
        add column customer_id text,
        add column search text,
        add column view jsonb,
        add column refreshed_at timestamptz;
      create index workflows_active on workflows (business_id, created_at desc) where not final;
      create index workflows_by_template on workflows (business_id, template_name, template_version);
      ${idempotencyTableSql()}
    `,
  },
  {
    id: 3,
    name: "uploads",
    sql: `
      create table uploads (
        id text primary key,
        business_id text not null,
        workflow_id text not null,
        step_id text not null,
        kind text not null,
        filename text not null,
        content_type text not null,
        size_bytes int not null,
        sha256 text not null,
        content bytea not null,
        created_at timestamptz not null default now()
      );
      create index uploads_by_workflow on uploads (business_id, workflow_id);
    `,
  },
  {
    id: 4,
    name: "api_idempotency_claims",
    // The public API's keyed calls hold their key while they call the services: who holds it, until when.
    sql: idempotencyCallColumnsSql(),
  },
];
