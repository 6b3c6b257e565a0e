import type { Sql } from "../core/index.ts";
import { ShardNotOwnedError } from "./errors.ts";

/** Everything one turn writes; committed atomically, possibly together with other actors' turns. */
export interface TurnWrite {
  actorId: string;
  kind: string;
  shard: number;
  epoch: number;
  commandId?: string;
  /** Sequence of the first new event; events get fromSeq, fromSeq+1, … */
  fromSeq: number;
  events: unknown[];
  reply?: unknown;
  effectSeqAfter: number;
  effects: { seq: number; type: string; payload: unknown }[];
  armTimers: { id: string; fireAt: number; command: unknown }[];
  cancelTimers: string[];
  /** A timer that fired in this turn: deleted unless it was re-armed since. */
  firedTimer?: { id: string; fireAt: number };
  /** An effect whose result this turn consumed: removed from the outbox. */
  consumedEffect?: number;
  snapshot?: { seq: number; state: unknown };
}

export interface LoadedActor {
  seq: number;
  effectSeq: number;
  snapshot?: { seq: number; state: unknown };
  events: { seq: number; data: unknown }[];
  replies: Map<string, unknown>;
}

export interface DueTimer {
  actorId: string;
  timerId: string;
  fireAt: number;
  command: unknown;
}

export interface PendingEffect {
  actorId: string;
  seq: number;
  type: string;
  payload: unknown;
  attempts: number;
}

const REPLY_MEMORY = 256;

/** Postgres persistence for actors. Every write is fenced by the shard lease epoch. */
export class Journal {
  constructor(
    private readonly sql: Sql,
    private readonly schema = "runtime",
  ) {}

  private t(name: string): string {
    return `${this.schema}.${name}`;
  }

  async load(actorId: string): Promise<LoadedActor> {
    const sql = this.sql;
    const [actorRows, snapRows, replyRows] = await Promise.all([
      sql.unsafe<{ seq: bigint; effect_seq: bigint }[]>(
        `select seq, effect_seq from ${this.t("actors")} where actor_id = $1`,
        [actorId],
      ),
      sql.unsafe<{ seq: bigint; state: unknown }[]>(
        `select seq, state from ${this.t("snapshots")} where actor_id = $1`,
        [actorId],
      ),
      sql.unsafe<{ command_id: string; reply: unknown }[]>(
        `select command_id, reply from ${this.t("command_replies")} where actor_id = $1 order by seq desc limit ${REPLY_MEMORY}`,
        [actorId],
      ),
    ]);
    const snap = snapRows[0];
    const from = snap ? Number(snap.seq) : 0;
    const events = await sql.unsafe<{ seq: bigint; data: unknown }[]>(
      `select seq, data from ${this.t("events")} where actor_id = $1 and seq > $2 order by seq`,
      [actorId, from],
    );
    const a = actorRows[0];
    return {
      seq: a ? Number(a.seq) : 0,
      effectSeq: a ? Number(a.effect_seq) : 0,
      snapshot: snap ? { seq: Number(snap.seq), state: snap.state } : undefined,
      events: events.map((e) => ({ seq: Number(e.seq), data: e.data })),
      replies: new Map(replyRows.reverse().map((r) => [r.command_id, r.reply])),
    };
  }

  /** All events of an actor, oldest first (for history views and the CLI). */
  async events(actorId: string): Promise<{ seq: number; data: unknown; at: Date }[]> {
    const rows = await this.sql.unsafe<{ seq: bigint; data: unknown; at: Date }[]>(
      `select seq, data, at from ${this.t("events")} where actor_id = $1 order by seq`,
      [actorId],
    );
    return rows.map((r) => ({ seq: Number(r.seq), data: r.data, at: r.at }));
  }

  /**
   * Commits many turns in one transaction (group commit). Fails as a whole
   * when any shard lease is not held with the given epoch or any actor's
   * sequence was taken (optimistic concurrency); the caller then retries
   * turns one by one to isolate the culprit.
   */
  async commit(nodeId: string, turns: TurnWrite[]): Promise<void> {
    if (turns.length === 0) return;
    await this.sql.begin(async (tx) => {
      const shards = [...new Set(turns.map((t) => t.shard))];
      // FOR SHARE holds off a concurrent lease takeover until this commit is done.
      const held = await tx.unsafe<{ shard: number; epoch: bigint }[]>(
        `select shard, epoch from ${this.t("shard_leases")}
          where shard = any($1::int[]) and owner = $2 and expires_at > now() for share`,
        [shards, nodeId],
      );
      const epochs = new Map(held.map((h) => [h.shard, Number(h.epoch)]));
      for (const t of turns) {
        if (epochs.get(t.shard) !== t.epoch) throw new ShardNotOwnedError(t.shard);
      }

      const actorRows = turns.map((t) => ({
        actor_id: t.actorId,
        kind: t.kind,
        shard: t.shard,
        seq: t.fromSeq + t.events.length - 1,
        effect_seq: t.effectSeqAfter,
      }));
      await tx.unsafe(
        `insert into ${this.t("actors")} (actor_id, kind, shard, seq, effect_seq)
           select * from jsonb_to_recordset($1::text::jsonb) as x(actor_id text, kind text, shard int, seq bigint, effect_seq bigint)
         on conflict (actor_id) do update set seq = excluded.seq, effect_seq = excluded.effect_seq, updated_at = now()`,
        [JSON.stringify(actorRows)],
      );

      const eventRows = turns.flatMap((t) =>
        t.events.map((e, i) => ({
          actor_id: t.actorId,
          seq: t.fromSeq + i,
          epoch: t.epoch,
          command_id: t.commandId ?? null,
          data: e,
        })),
      );
      if (eventRows.length > 0) {
        await tx.unsafe(
          `insert into ${this.t("events")} (actor_id, seq, epoch, command_id, data)
             select * from jsonb_to_recordset($1::text::jsonb) as x(actor_id text, seq bigint, epoch bigint, command_id text, data jsonb)`,
          [JSON.stringify(eventRows)],
        );
      }

      const replyRows = turns
        .filter((t) => t.commandId !== undefined && t.events.length > 0)
        .map((t) => ({
          actor_id: t.actorId,
          command_id: t.commandId,
          seq: t.fromSeq + t.events.length - 1,
          reply: t.reply ?? null,
        }));
      if (replyRows.length > 0) {
        await tx.unsafe(
          `insert into ${this.t("command_replies")} (actor_id, command_id, seq, reply)
             select * from jsonb_to_recordset($1::text::jsonb) as x(actor_id text, command_id text, seq bigint, reply jsonb)`,
          [JSON.stringify(replyRows)],
        );
      }

      const cancels = turns.flatMap((t) =>
        t.cancelTimers.map((id) => ({ actor_id: t.actorId, timer_id: id })),
      );
      const fired = turns.flatMap((t) =>
        t.firedTimer
          ? [{ actor_id: t.actorId, timer_id: t.firedTimer.id, fire_at: t.firedTimer.fireAt }]
          : [],
      );
      if (fired.length > 0) {
        await tx.unsafe(
          `delete from ${this.t("timers")} t using jsonb_to_recordset($1::text::jsonb) as x(actor_id text, timer_id text, fire_at bigint)
            where t.actor_id = x.actor_id and t.timer_id = x.timer_id and t.fire_at = x.fire_at`,
          [JSON.stringify(fired)],
        );
      }
      if (cancels.length > 0) {
        await tx.unsafe(
          `delete from ${this.t("timers")} t using jsonb_to_recordset($1::text::jsonb) as x(actor_id text, timer_id text)
            where t.actor_id = x.actor_id and t.timer_id = x.timer_id`,
          [JSON.stringify(cancels)],
        );
      }
      const arms = turns.flatMap((t) =>
        t.armTimers.map((tm) => ({
          actor_id: t.actorId,
          timer_id: tm.id,
          shard: t.shard,
          fire_at: Math.floor(tm.fireAt),
          command: tm.command,
        })),
      );
      if (arms.length > 0) {
        await tx.unsafe(
          `insert into ${this.t("timers")} (actor_id, timer_id, shard, fire_at, command)
             select * from jsonb_to_recordset($1::text::jsonb) as x(actor_id text, timer_id text, shard int, fire_at bigint, command jsonb)
           on conflict (actor_id, timer_id) do update set fire_at = excluded.fire_at, command = excluded.command`,
          [JSON.stringify(arms)],
        );
      }

      const consumed = turns.flatMap((t) =>
        t.consumedEffect !== undefined ? [{ actor_id: t.actorId, effect_seq: t.consumedEffect }] : [],
      );
      if (consumed.length > 0) {
        await tx.unsafe(
          `delete from ${this.t("effects")} e using jsonb_to_recordset($1::text::jsonb) as x(actor_id text, effect_seq bigint)
            where e.actor_id = x.actor_id and e.effect_seq = x.effect_seq`,
          [JSON.stringify(consumed)],
        );
      }
      const effects = turns.flatMap((t) =>
        t.effects.map((e) => ({
          actor_id: t.actorId,
          effect_seq: e.seq,
          shard: t.shard,
          type: e.type,
          payload: e.payload,
        })),
      );
      if (effects.length > 0) {
        await tx.unsafe(
          `insert into ${this.t("effects")} (actor_id, effect_seq, shard, type, payload)
             select * from jsonb_to_recordset($1::text::jsonb) as x(actor_id text, effect_seq bigint, shard int, type text, payload jsonb)`,
          [JSON.stringify(effects)],
        );
      }

      const snaps = turns.flatMap((t) =>
        t.snapshot ? [{ actor_id: t.actorId, seq: t.snapshot.seq, state: t.snapshot.state }] : [],
      );
      if (snaps.length > 0) {
        await tx.unsafe(
          `insert into ${this.t("snapshots")} (actor_id, seq, state)
             select * from jsonb_to_recordset($1::text::jsonb) as x(actor_id text, seq bigint, state jsonb)
           on conflict (actor_id) do update set seq = excluded.seq, state = excluded.state`,
          [JSON.stringify(snaps)],
        );
      }
    });
  }

  async dueTimers(shards: number[], now: number, limit = 500): Promise<DueTimer[]> {
    if (shards.length === 0) return [];
    const rows = await this.sql.unsafe<
      { actor_id: string; timer_id: string; fire_at: bigint; command: unknown }[]
    >(
      `select actor_id, timer_id, fire_at, command from ${this.t("timers")}
        where shard = any($1::int[]) and fire_at <= $2 order by fire_at limit ${limit}`,
      [shards, now],
    );
    return rows.map((r) => ({
      actorId: r.actor_id,
      timerId: r.timer_id,
      fireAt: Number(r.fire_at),
      command: r.command,
    }));
  }

  async timers(actorId: string): Promise<{ id: string; fireAt: number }[]> {
    const rows = await this.sql.unsafe<{ timer_id: string; fire_at: bigint }[]>(
      `select timer_id, fire_at from ${this.t("timers")} where actor_id = $1 order by fire_at`,
      [actorId],
    );
    return rows.map((r) => ({ id: r.timer_id, fireAt: Number(r.fire_at) }));
  }

  async pendingEffects(shards: number[], now: number, limit = 200): Promise<PendingEffect[]> {
    if (shards.length === 0) return [];
    const rows = await this.sql.unsafe<
      { actor_id: string; effect_seq: bigint; type: string; payload: unknown; attempts: number }[]
    >(
      `select actor_id, effect_seq, type, payload, attempts from ${this.t("effects")}
        where shard = any($1::int[]) and next_attempt_at <= $2 order by created_at limit ${limit}`,
      [shards, now],
    );
    return rows.map((r) => ({
      actorId: r.actor_id,
      seq: Number(r.effect_seq),
      type: r.type,
      payload: r.payload,
      attempts: r.attempts,
    }));
  }

  async deferEffect(actorId: string, seq: number, nextAttemptAt: number): Promise<void> {
    await this.sql.unsafe(
      `update ${this.t("effects")} set attempts = attempts + 1, next_attempt_at = $3 where actor_id = $1 and effect_seq = $2`,
      [actorId, seq, Math.floor(nextAttemptAt)],
    );
  }
}
