import type { Migration } from "../../core/index.ts";

/**
 * Schema `console`: business users (scrypt password hashes), sessions (only
 * SHA-256 hashes of their tokens), the API key each business's console calls
 * the public API with (AES-256-GCM ciphertext), and the audit log.
 */
export const consoleMigrations: Migration[] = [
  {
    id: 1,
    name: "users_sessions_keys_audit",
    sql: `
      create table users (
        id text primary key,
        business_id text not null,
        email text not null,
        password_hash text not null,
        role text not null check (role in ('admin', 'operator', 'viewer')),
        created_at timestamptz not null default now(),
        disabled_at timestamptz
      );
      create unique index users_email on users (lower(email));
      create table sessions (
        token_hash text primary key,
        user_id text not null references users (id) on delete cascade,
        acting_business_id text not null,
        created_at timestamptz not null default now(),
        expires_at timestamptz not null
      );
      create index sessions_user on sessions (user_id);
      create table business_keys (
        business_id text primary key,
        key_ciphertext text not null,
        updated_at timestamptz not null default now()
      );
      create table audit (
        id bigserial primary key,
        at timestamptz not null default now(),
        user_id text,
        email text not null,
        business_id text not null,
        action text not null,
        target text not null default '',
        outcome text not null,
        detail jsonb not null default '{}'
      );
      create index audit_business_at on audit (business_id, at desc);
      create index audit_login on audit (email, at desc) where action = 'session.sign_in';
    `,
  },
];
