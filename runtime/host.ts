import { type Clock, LinkflowError, type Logger } from "../core/index.ts";
import { type ActorBehavior, type CommandEnvelope, isEffectResult } from "./actor.ts";
import { CommitSignal } from "./commit-signal.ts";
import type { GroupCommitter } from "./committer.ts";
import { BackpressureError, JournalUnavailableError, ShardNotOwnedError } from "./errors.ts";
import { type Journal, REPLY_MEMORY, type TurnWrite } from "./journal.ts";

interface ActiveActor {
  id: string;
  behavior: ActorBehavior;
  shard: number;
  state: unknown;
  seq: number;
  effectSeq: number;
  replies: Map<string, unknown>;
  /** True while `replies` holds every command the actor ever applied. */
  repliesComplete: boolean;
  sinceSnapshot: number;
  tail: Promise<unknown>;
  queued: number;
  lastUsed: number;
  /** Events the latest turn journaled (for observers). */
  lastEvents: number;
}

export interface CommittedEffect {
  actorId: string;
  seq: number;
  type: string;
  payload: unknown;
}

export interface HostOptions {
  journal: Journal;
  committer: GroupCommitter;
  clock: Clock;
  log: Logger;
  behaviorFor(actorId: string): ActorBehavior;
  shardOf(actorId: string): number;
  /** Epoch of the lease this node holds on the shard, or undefined when it holds none. */
  epochOf(shard: number): number | undefined;
  onEffects(effects: CommittedEffect[]): void;
  /** Called after a commit that armed timers, with the earliest fire time armed. */
  onTimersArmed?(earliestFireAt: number): void;
  snapshotEvery: number;
  maxQueued: number;
  /** Commands one actor may have waiting; more are refused with BackpressureError. */
  maxMailbox?: number;
  maxActive: number;
  replyMemory: number;
  /** Called after every turn (metrics and span attributes); `state` is the actor's state after it. */
  onTurn?(info: TurnInfo): void;
  /** After a turn with events committed: the events and the new state (for read-model projections). */
  onCommitted?(actorId: string, events: unknown[], state: unknown): void;
}

/** What one turn did, for observers. */
export interface TurnInfo {
  actorId: string;
  kind: string;
  shard: number;
  seconds: number;
  events: number;
  outcome: "ok" | "error";
  state: unknown;
}

/** Internal hints the node attaches to commands it delivers itself. */
export interface DeliveryMeta {
  firedTimer?: { id: string; fireAt: number };
}

/**
 * Hosts the active actors of this node: activation from the journal, one turn
 * at a time per actor, commit before reply, passivation and a bounded cache.
 */
export class ActorHost {
  #active = new Map<string, ActiveActor>();
  #commits = new CommitSignal();
  #queuedTotal = 0;
  activations = 0;
  passivations = 0;
  turns = 0;

  constructor(private readonly o: HostOptions) {}

  get activeCount(): number {
    return this.#active.size;
  }

  get queuedTotal(): number {
    return this.#queuedTotal;
  }

  /** Runs one command through the actor's mailbox and resolves with its reply once committed. */
  async handle(envelope: CommandEnvelope, meta: DeliveryMeta = {}): Promise<unknown> {
    if (this.#queuedTotal >= this.o.maxQueued) throw new BackpressureError();
    const queued = this.#active.get(envelope.actorId)?.queued ?? 0;
    if (queued >= (this.o.maxMailbox ?? Number.POSITIVE_INFINITY)) throw new BackpressureError();
    if (!this.o.onTurn) return this.#enqueue(envelope.actorId, (a) => this.#turn(a, envelope, meta));
    const onTurn = this.o.onTurn;
    return this.#enqueue(envelope.actorId, async (a) => {
      const t0 = performance.now();
      a.lastEvents = 0;
      let outcome: "ok" | "error" = "error";
      try {
        const r = await this.#turn(a, envelope, meta);
        outcome = "ok";
        return r;
      } finally {
        onTurn({
          actorId: a.id,
          kind: a.behavior.kind,
          shard: a.shard,
          seconds: (performance.now() - t0) / 1000,
          events: a.lastEvents,
          outcome,
          state: a.state,
        });
      }
    });
  }

  /** Commands waiting in the deepest mailbox. */
  get maxMailboxDepth(): number {
    let max = 0;
    for (const a of this.#active.values()) if (a.queued > max) max = a.queued;
    return max;
  }

  /**
   * Read-only: answers from the actor's current state (activating it if
   * needed). With `waitMs`, a query the behaviour's `queryReady` says is not
   * ready yet is answered at the first commit that makes it ready, or from the
   * state at the end of the wait. The wait holds no mailbox slot: turns go on.
   */
  async query(actorId: string, q: unknown, waitMs = 0): Promise<unknown> {
    const until = Date.now() + waitMs;
    for (let looked = false; ; looked = true) {
      if (looked) {
        // The shard may have moved during the wait: its new holder answers from then on.
        const shard = this.o.shardOf(actorId);
        if (this.o.epochOf(shard) === undefined) throw new ShardNotOwnedError(shard);
      }
      // Registered before reading the state, so a commit in between is not missed.
      const next = waitMs > 0 ? this.#commits.next(actorId) : undefined;
      try {
        const { ready, answer } = await this.#enqueue(actorId, async (a) => {
          await this.#ensureLoaded(a);
          const b = a.behavior;
          return {
            ready: !next || !b.queryReady || b.queryReady(a.state, q),
            answer: b.query ? b.query(a.state, q) : a.state,
          };
        });
        const left = until - Date.now();
        if (ready || !next || left <= 0) return answer;
        await next.within(left);
      } finally {
        next?.cancel();
      }
    }
  }

  /** Queries waiting for a commit, by actor (for tests). */
  get waitingQueries(): number {
    return this.#commits.size;
  }

  /** Runs `fn` in the actor's mailbox; while queued the actor is never passivated or evicted. */
  async #enqueue<T>(actorId: string, fn: (a: ActiveActor) => Promise<T>): Promise<T> {
    const actor = this.#getOrCreate(actorId);
    actor.queued++;
    this.#queuedTotal++;
    this.#evictOverflow();
    const run = actor.tail.then(() => fn(actor));
    actor.tail = run.catch(() => {});
    try {
      return await run;
    } finally {
      actor.queued--;
      this.#queuedTotal--;
      actor.lastUsed = Date.now();
    }
  }

  #getOrCreate(actorId: string): ActiveActor {
    let a = this.#active.get(actorId);
    if (a) {
      // LRU: re-insert so Map order tracks recency.
      this.#active.delete(actorId);
      this.#active.set(actorId, a);
      return a;
    }
    a = {
      id: actorId,
      behavior: this.o.behaviorFor(actorId),
      shard: this.o.shardOf(actorId),
      state: undefined,
      seq: -1,
      effectSeq: 0,
      replies: new Map(),
      repliesComplete: false,
      sinceSnapshot: 0,
      tail: Promise.resolve(),
      queued: 0,
      lastUsed: Date.now(),
      lastEvents: 0,
    };
    this.#active.set(actorId, a);
    return a;
  }

  async #ensureLoaded(a: ActiveActor): Promise<void> {
    if (a.seq >= 0) return;
    const loaded = await this.o.journal.load(a.id);
    let state = loaded.snapshot ? loaded.snapshot.state : a.behavior.initialState(a.id);
    for (const e of loaded.events) state = a.behavior.evolve(state, e.data);
    a.state = state;
    a.seq = loaded.seq;
    a.effectSeq = loaded.effectSeq;
    a.replies = loaded.replies;
    a.repliesComplete = loaded.replies.size < REPLY_MEMORY && loaded.replies.size <= this.o.replyMemory;
    a.sinceSnapshot = loaded.events.length;
    a.shard = this.o.shardOf(a.id);
    this.activations++;
  }

  async #turn(a: ActiveActor, env: CommandEnvelope, meta: DeliveryMeta): Promise<unknown> {
    const epoch = this.o.epochOf(a.shard);
    if (epoch === undefined) throw new ShardNotOwnedError(a.shard);
    if (env.deadline !== undefined && Date.now() > env.deadline) {
      throw new LinkflowError("deadline_exceeded", "the deadline passed before the turn started", {
        grpcStatus: 4,
        retryable: true,
      });
    }
    await this.#ensureLoaded(a);
    if (a.replies.has(env.id)) return a.replies.get(env.id);

    const decision = a.behavior.decide(a.state, env.command, {
      actorId: a.id,
      now: this.o.clock.now(),
      nextEffectSeq: a.effectSeq + 1,
    });
    const consumedEffect = isEffectResult(env.command) ? env.command.effectSeq : undefined;
    // What every write of this turn says about where it comes from.
    const turn = {
      actorId: a.id,
      kind: a.behavior.kind,
      shard: a.shard,
      epoch,
      commandId: env.id,
      fromSeq: a.seq + 1,
      firedTimer: meta.firedTimer,
      consumedEffect,
    };
    if (decision.reject) {
      // A rejected timer or effect result is still consumed, or it would come back forever.
      if (meta.firedTimer !== undefined || consumedEffect !== undefined) {
        await this.#commit(a, {
          ...turn,
          events: [],
          reply: null,
          effectSeqAfter: a.effectSeq,
          effects: [],
          armTimers: [],
          cancelTimers: [],
        });
      }
      throw LinkflowError.fromJSON(decision.reject);
    }

    const effects = (decision.effects ?? []).map((e, i) => ({ seq: a.effectSeq + 1 + i, ...e }));
    const mustWrite =
      decision.events.length > 0 ||
      effects.length > 0 ||
      (decision.armTimers?.length ?? 0) > 0 ||
      (decision.cancelTimers?.length ?? 0) > 0 ||
      meta.firedTimer !== undefined ||
      consumedEffect !== undefined;
    if (!mustWrite) return decision.reply;

    let nextState = a.state;
    for (const e of decision.events) nextState = a.behavior.evolve(nextState, e);
    const newSeq = a.seq + decision.events.length;
    const snapshotDue = a.sinceSnapshot + decision.events.length >= this.o.snapshotEvery;
    const write: TurnWrite = {
      ...turn,
      events: decision.events,
      reply: decision.reply ?? null,
      effectSeqAfter: a.effectSeq + effects.length,
      effects,
      armTimers: decision.armTimers ?? [],
      cancelTimers: decision.cancelTimers ?? [],
      snapshot: snapshotDue && decision.events.length > 0 ? { seq: newSeq, state: nextState } : undefined,
      checkDuplicate: !a.repliesComplete,
    };
    const outcome = await this.#commit(a, write);
    if (outcome === "duplicate") {
      // Applied before, beyond the replies remembered in memory: answer as the first time.
      const prior = await this.o.journal.reply(a.id, env.id);
      return prior.reply;
    }
    this.turns++;
    a.lastEvents = decision.events.length;
    a.state = nextState;
    a.seq = newSeq;
    a.effectSeq = write.effectSeqAfter;
    a.sinceSnapshot = write.snapshot ? 0 : a.sinceSnapshot + decision.events.length;
    a.replies.set(env.id, write.reply);
    if (a.replies.size > this.o.replyMemory) {
      const oldest = a.replies.keys().next().value;
      if (oldest !== undefined) a.replies.delete(oldest);
      a.repliesComplete = false;
    }
    if (effects.length > 0) {
      this.o.onEffects(effects.map((e) => ({ actorId: a.id, seq: e.seq, type: e.type, payload: e.payload })));
    }
    if (decision.events.length > 0) {
      this.#commits.committed(a.id);
      if (this.o.onCommitted) {
        try {
          this.o.onCommitted(a.id, decision.events, a.state);
        } catch {
          // A projection must never fail the turn it observes.
        }
      }
    }
    if (write.armTimers.length > 0 && this.o.onTimersArmed) {
      this.o.onTimersArmed(Math.min(...write.armTimers.map((t) => t.fireAt)));
    }
    return decision.reply;
  }

  async #commit(a: ActiveActor, write: TurnWrite): Promise<"ok" | "duplicate"> {
    try {
      return await this.o.committer.commit(write);
    } catch (err) {
      // The outcome may be unknown (connection lost) or the journal moved on
      // (fenced, conflict): drop the in-memory state and rebuild it from the
      // journal before the next turn in this mailbox. The actor stays in the
      // map so that its mailbox keeps one turn at a time.
      this.#discard(a);
      if (err instanceof LinkflowError) throw err;
      // Postgres refused the data itself (e.g. a NUL character in JSON): retrying cannot help.
      const pgCode = (err as { code?: unknown }).code;
      if (typeof pgCode === "string" && /^(22|23)/.test(pgCode)) {
        throw new LinkflowError("journal_rejected", "the journal refused the turn's data", {
          grpcStatus: 13,
          cause: err,
        });
      }
      throw new JournalUnavailableError(err);
    }
  }

  #discard(a: ActiveActor): void {
    a.seq = -1;
    a.state = undefined;
    a.replies = new Map();
  }

  /** Passivates least recently used idle actors while more than maxActive are in memory. */
  #evictOverflow(): void {
    if (this.#active.size <= this.o.maxActive) return;
    for (const [id, a] of this.#active) {
      if (this.#active.size <= this.o.maxActive) break;
      if (a.queued === 0) {
        this.#active.delete(id);
        this.passivations++;
      }
    }
  }

  /** Forgets the in-memory state of `shard`'s actors (e.g. after the shard came back from another node). */
  invalidateShard(shard: number): void {
    for (const a of this.#active.values()) if (a.shard === shard) this.#discard(a);
    this.#wakeQueries(shard);
  }

  /**
   * Wakes the queries waiting on `shard`'s actors, so they look again: once
   * the shard has left this node they answer "not owned" and their caller
   * asks the new holder, instead of waiting out their bound here.
   */
  #wakeQueries(shard: number): void {
    for (const id of this.#commits.waitedOn()) if (this.o.shardOf(id) === shard) this.#commits.committed(id);
  }

  /** Passivates actors idle for longer than `idleMs`; with `shard`, every idle actor of that shard. */
  passivate(idleMs: number, shard?: number): number {
    const cutoff = Date.now() - idleMs;
    let n = 0;
    for (const [id, a] of this.#active) {
      if (a.queued > 0) continue;
      if (shard !== undefined ? a.shard === shard : a.lastUsed <= cutoff) {
        this.#active.delete(id);
        n++;
      }
    }
    this.passivations += n;
    if (shard !== undefined) this.#wakeQueries(shard);
    return n;
  }

  /** Waits until every queued turn of `shard`'s actors has finished. */
  async drainShard(shard: number): Promise<void> {
    const tails = [...this.#active.values()].filter((a) => a.shard === shard).map((a) => a.tail);
    await Promise.all(tails);
  }

  isActive(actorId: string): boolean {
    return this.#active.has(actorId);
  }
}
