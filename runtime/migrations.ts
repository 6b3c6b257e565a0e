import type { Migration } from "../core/index.ts";

/** The runtime's own schema: journal, replies, snapshots, timers, effects outbox and shard leases. */
export const runtimeMigrations: Migration[] = [
  {
    id: 1,
    name: "journal",
    sql: `
      create table actors (
        actor_id text primary key,
        kind text not null,
        shard int not null,
        seq bigint not null,
        effect_seq bigint not null,
        updated_at timestamptz not null default now()
      );
      create table events (
        actor_id text not null,
        seq bigint not null,
        epoch bigint not null,
        command_id text,
        data jsonb not null,
        at timestamptz not null default now(),
        primary key (actor_id, seq)
      );
      create table command_replies (
        actor_id text not null,
        command_id text not null,
        seq bigint not null,
        reply jsonb,
        primary key (actor_id, command_id)
      );
      create table snapshots (
        actor_id text primary key,
        seq bigint not null,
        state jsonb not null
      );
      create table timers (
        actor_id text not null,
        timer_id text not null,
        shard int not null,
        fire_at bigint not null,
        command jsonb not null,
        primary key (actor_id, timer_id)
      );
      create index timers_due on timers (shard, fire_at);
      create table effects (
        actor_id text not null,
        effect_seq bigint not null,
        shard int not null,
        type text not null,
        payload jsonb not null,
        attempts int not null default 0,
        next_attempt_at bigint not null default 0,
        created_at timestamptz not null default now(),
        primary key (actor_id, effect_seq)
      );
      create index effects_by_shard on effects (shard, next_attempt_at);
      create table shard_leases (
        shard int primary key,
        owner text,
        epoch bigint not null default 0,
        expires_at timestamptz not null default 'epoch'
      );
    `,
  },
  {
    id: 2,
    name: "lease_history",
    sql: `
      create table lease_history (
        shard int not null,
        epoch bigint not null,
        owner text not null,
        acquired_at timestamptz not null default clock_timestamp(),
        primary key (shard, epoch)
      );
    `,
  },
];
