import type { Sql } from "../core/index.ts";

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
  /**
   * False when the writer knows the command id is new (it remembers every
   * reply of the actor); otherwise the journal checks for a duplicate.
   */
  checkDuplicate?: boolean;
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

/** What became of one turn of a group commit. */
export type CommitOutcome = "ok" | "duplicate" | "fenced" | "conflict";

/** Replies remembered per actor after activation (older ones are looked up on demand). */
export const REPLY_MEMORY = 256;

/** Postgres persistence for actors. Every write is fenced by the shard lease epoch. */
export class Journal {
  constructor(
    private readonly sql: Sql,
    private readonly schema = "runtime",
  ) {}

  private t(name: string): string {
    return `${this.schema}.${name}`;
  }

  /**
   * Everything an activation needs, in one statement (one round trip, and one
   * consistent snapshot of the actor's rows): its sequence numbers, its
   * latest snapshot, the events after it and its most recent replies.
   */
  async load(actorId: string): Promise<LoadedActor> {
    const T = (n: string) => this.t(n);
    const [row] = await this.sql.unsafe<
      {
        seq: bigint | null;
        effect_seq: bigint | null;
        snap_seq: bigint | null;
        state: unknown;
        replies: [string, unknown][];
        events: [number, unknown][];
      }[]
    >(
      `select a.seq, a.effect_seq, s.seq as snap_seq, s.state,
         (select coalesce(jsonb_agg(jsonb_build_array(r.command_id, r.reply) order by r.seq), '[]'::jsonb)
            from (select command_id, reply, seq from ${T("command_replies")}
                   where actor_id = $1 order by seq desc limit ${REPLY_MEMORY}) r) as replies,
         (select coalesce(jsonb_agg(jsonb_build_array(e.seq, e.data) order by e.seq), '[]'::jsonb)
            from ${T("events")} e where e.actor_id = $1 and e.seq > coalesce(s.seq, 0)) as events
       from (select 1) one
       left join ${T("actors")} a on a.actor_id = $1
       left join ${T("snapshots")} s on s.actor_id = $1`,
      [actorId],
      { prepare: true },
    );
    const hasSnapshot = row?.snap_seq !== null && row?.snap_seq !== undefined;
    return {
      seq: row?.seq != null ? Number(row.seq) : 0,
      effectSeq: row?.effect_seq != null ? Number(row.effect_seq) : 0,
      snapshot: hasSnapshot ? { seq: Number(row.snap_seq), state: row.state } : undefined,
      events: (row?.events ?? []).map(([seq, data]) => ({ seq: Number(seq), data })),
      replies: new Map(row?.replies ?? []),
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
   * Commits many turns in one SQL statement (group commit; a statement is its
   * own transaction, so this costs one round trip). Each turn is written
   * entirely or not at all, and independently of its neighbours:
   * - it is fenced: written only when this node holds the shard's lease at the
   *   turn's epoch (the lease row is locked FOR SHARE, which holds off a
   *   concurrent takeover until the statement committed);
   * - it is checked for optimistic concurrency: written only when the actor's
   *   journal still ends at `fromSeq - 1`.
   * A turn whose command id the journal already applied is not written
   * ("duplicate": answer with the recorded reply).
   * Returns, per turn in order, "ok", "duplicate", "fenced" or "conflict". Throws only when
   * the statement itself failed (nothing of the batch was written).
   */
  async commit(nodeId: string, turns: TurnWrite[]): Promise<CommitOutcome[]> {
    if (turns.length === 0) return [];
    const shards = [...new Set(turns.map((t) => t.shard))];
    const turnRows = turns.map((t) => ({
      a: t.actorId,
      k: t.kind,
      s: t.shard,
      e: t.epoch,
      pv: t.fromSeq - 1,
      q: t.fromSeq + t.events.length - 1,
      f: t.effectSeqAfter,
      c: t.commandId ?? null,
      r: t.reply ?? null,
      chk: t.commandId !== undefined && t.checkDuplicate !== false,
    }));
    const eventRows: unknown[] = [];
    const timerDeletes: unknown[] = [];
    const arms: unknown[] = [];
    const consumed: unknown[] = [];
    const effects: unknown[] = [];
    const snaps: unknown[] = [];
    for (const t of turns) {
      const cid = t.commandId ?? null;
      for (let i = 0; i < t.events.length; i++) {
        eventRows.push({ a: t.actorId, q: t.fromSeq + i, e: t.epoch, c: cid, d: t.events[i] });
      }
      // A timer armed in this turn replaces any row of the same id: do not also delete it.
      const armed = new Set(t.armTimers.map((tm) => tm.id));
      if (t.firedTimer && !armed.has(t.firedTimer.id)) {
        timerDeletes.push({ a: t.actorId, i: t.firedTimer.id, at: Math.floor(t.firedTimer.fireAt) });
      }
      for (const id of new Set(t.cancelTimers)) {
        if (!armed.has(id) && id !== t.firedTimer?.id) timerDeletes.push({ a: t.actorId, i: id, at: null });
      }
      const lastArm = new Map(t.armTimers.map((tm) => [tm.id, tm]));
      for (const tm of lastArm.values()) {
        arms.push({ a: t.actorId, i: tm.id, s: t.shard, at: Math.floor(tm.fireAt), c: tm.command });
      }
      if (t.consumedEffect !== undefined) consumed.push({ a: t.actorId, q: t.consumedEffect });
      for (const e of t.effects)
        effects.push({ a: t.actorId, q: e.seq, s: t.shard, t: e.type, p: e.payload });
      if (t.snapshot) snaps.push({ a: t.actorId, q: t.snapshot.seq, st: t.snapshot.state });
    }
    const T = (n: string) => this.t(n);
    const params: unknown[] = [shards, nodeId, JSON.stringify(turnRows)];
    const json = (rows: unknown[]) => {
      params.push(JSON.stringify(rows));
      return `$${params.length}::text::jsonb`;
    };
    // Only the parts a batch needs: fewer CTEs plan and run faster (each shape is prepared once).
    const ctes = [
      `lk as materialized (
         select shard, epoch from ${T("shard_leases")}
          where shard = any($1::int[]) and owner = $2 and expires_at > now() for share
       )`,
      `inp as materialized (
         select * from jsonb_to_recordset($3::text::jsonb)
           as x(a text, k text, s int, e bigint, pv bigint, q bigint, f bigint, c text, r jsonb, chk boolean)
       )`,
      // Commands older than the replies an actor keeps in memory are checked here, one index probe each.
      `dup as materialized (
         select inp.a from inp
           cross join lateral (
             select 1 from ${T("command_replies")} r where r.actor_id = inp.a and r.command_id = inp.c limit 1
           ) hit
          where inp.chk
       )`,
      `t as materialized (
         select inp.* from inp join lk on lk.shard = inp.s and lk.epoch = inp.e
          where inp.a not in (select a from dup)
       )`,
      `upd as (
         update ${T("actors")} ac set seq = t.q, effect_seq = t.f, updated_at = now()
           from t where ac.actor_id = t.a and ac.seq = t.pv
         returning ac.actor_id
       )`,
      `ins as (
         insert into ${T("actors")} (actor_id, kind, shard, seq, effect_seq)
         select t.a, t.k, t.s, t.q, t.f from t where t.pv = 0
         on conflict (actor_id) do nothing
         returning actor_id
       )`,
      "w as materialized (select actor_id from upd union all select actor_id from ins)",
      `rp as (
         insert into ${T("command_replies")} (actor_id, command_id, seq, reply)
         select t.a, t.c, t.q, t.r from t where t.c is not null and t.a in (select actor_id from w)
       )`,
    ];
    if (eventRows.length > 0) {
      ctes.push(`ev as (
         insert into ${T("events")} (actor_id, seq, epoch, command_id, data)
         select x.a, x.q, x.e, x.c, x.d from jsonb_to_recordset(${json(eventRows)})
           as x(a text, q bigint, e bigint, c text, d jsonb)
          where x.a in (select actor_id from w)
       )`);
    }
    if (timerDeletes.length > 0) {
      ctes.push(`td as (
         delete from ${T("timers")} tm using jsonb_to_recordset(${json(timerDeletes)}) as x(a text, i text, at bigint)
          where tm.actor_id = x.a and tm.timer_id = x.i and (x.at is null or tm.fire_at = x.at)
            and x.a in (select actor_id from w)
       )`);
    }
    if (arms.length > 0) {
      ctes.push(`ta as (
         insert into ${T("timers")} (actor_id, timer_id, shard, fire_at, command)
         select x.a, x.i, x.s, x.at, x.c from jsonb_to_recordset(${json(arms)})
           as x(a text, i text, s int, at bigint, c jsonb)
          where x.a in (select actor_id from w)
         on conflict (actor_id, timer_id) do update set fire_at = excluded.fire_at, command = excluded.command
       )`);
    }
    if (consumed.length > 0) {
      ctes.push(`ed as (
         delete from ${T("effects")} ef using jsonb_to_recordset(${json(consumed)}) as x(a text, q bigint)
          where ef.actor_id = x.a and ef.effect_seq = x.q and x.a in (select actor_id from w)
       )`);
    }
    if (effects.length > 0) {
      ctes.push(`ei as (
         insert into ${T("effects")} (actor_id, effect_seq, shard, type, payload)
         select x.a, x.q, x.s, x.t, x.p from jsonb_to_recordset(${json(effects)})
           as x(a text, q bigint, s int, t text, p jsonb)
          where x.a in (select actor_id from w)
       )`);
    }
    if (snaps.length > 0) {
      ctes.push(`sn as (
         insert into ${T("snapshots")} (actor_id, seq, state)
         select x.a, x.q, x.st from jsonb_to_recordset(${json(snaps)}) as x(a text, q bigint, st jsonb)
          where x.a in (select actor_id from w)
         on conflict (actor_id) do update set seq = excluded.seq, state = excluded.state
       )`);
    }
    const rows = await this.sql.unsafe<{ k: string; v: string }[]>(
      `with ${ctes.join(",\n")}
       select 'w' as k, actor_id as v from w
       union all
       select 'l' as k, shard || ':' || epoch as v from lk
       union all
       select 'd' as k, a as v from dup`,
      params as never[],
      // Prepared: each statement shape is parsed once per connection.
      { prepare: true },
    );
    const found = { w: new Set<string>(), l: new Set<string>(), d: new Set<string>() };
    for (const r of rows) found[r.k as "w" | "l" | "d"]?.add(r.v);
    return turns.map((t) => {
      if (found.d.has(t.actorId)) return "duplicate";
      if (!found.l.has(`${t.shard}:${t.epoch}`)) return "fenced";
      return found.w.has(t.actorId) ? "ok" : "conflict";
    });
  }

  /** The recorded reply of a command, when the actor's journal has applied it. */
  async reply(actorId: string, commandId: string): Promise<{ found: boolean; reply?: unknown }> {
    const rows = await this.sql.unsafe<{ reply: unknown }[]>(
      `select reply from ${this.t("command_replies")} where actor_id = $1 and command_id = $2`,
      [actorId, commandId],
    );
    const r = rows[0];
    return r ? { found: true, reply: r.reply } : { found: false };
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
