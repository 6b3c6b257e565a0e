import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  type Clock,
  createLogger,
  LinkflowError,
  type Logger,
  newId,
  Registry,
  type Sql,
  systemClock,
  toLinkflowError,
} from "../core/index.ts";
import type { ActorBehavior, CommandEnvelope, EffectResultCommand } from "./actor.ts";
import { GroupCommitter } from "./committer.ts";
import { ShardNotOwnedError } from "./errors.ts";
import { ActorHost, type CommittedEffect, type DeliveryMeta } from "./host.ts";
import { Journal } from "./journal.ts";
import { LeaseTable } from "./leases.ts";
import { defaultTurnAttributes, type RuntimeInstruments, runtimeInstruments } from "./metrics.ts";
import { type NodeReport, registerNodeService } from "./micro.ts";
import { NatsTransport } from "./nats-transport.ts";
import { assignShards, shardOf } from "./shard.ts";
import type { Heartbeat, ShardReply, ShardRequest, Transport } from "./transport.ts";

// Looked up per use: a tracer provider installed after import must still be picked up.
const tracer = () => trace.getTracer("linkflow.runtime");

/** Context given to an effect handler; pass `idempotencyKey` to the receiving service. */
export interface EffectContext {
  actorId: string;
  effectSeq: number;
  idempotencyKey: string;
  attempt: number;
}

/**
 * Performs one effect. Throw a LinkflowError with `retryable: false` for a
 * terminal failure; anything else is retried with backoff.
 */
export type EffectHandler = (payload: unknown, ctx: EffectContext) => Promise<unknown>;

export interface RuntimeNodeOptions {
  sql: Sql;
  transport: Transport;
  /** Actor kinds by id prefix: `wf_…` → the workflow behaviour. */
  actors: { prefix: string; behavior: ActorBehavior<unknown, unknown, unknown> }[];
  effects?: Record<string, EffectHandler>;
  /**
   * Called after each committed turn that wrote events, with the actor's new
   * state: feed read models here. Best effort; it must not throw or block.
   */
  onCommitted?: (actorId: string, events: unknown[], state: unknown) => void;
  nodeId?: string;
  clock?: Clock;
  log?: Logger;
  shardCount?: number;
  idleMs?: number;
  maxActive?: number;
  /** Commands waiting across all mailboxes before new ones are refused (BackpressureError). */
  maxQueued?: number;
  /** Commands waiting in one actor's mailbox before new ones for it are refused. Default 1000. */
  maxMailbox?: number;
  snapshotEvery?: number;
  leaseTtlMs?: number;
  heartbeatMs?: number;
  memberTimeoutMs?: number;
  timerPollMs?: number;
  effectPollMs?: number;
  effectRetry?: { baseMs: number; maxMs: number; maxAttempts: number };
  askTimeoutMs?: number;
  /**
   * False for a client-only node: it routes `ask`/`query` to the cluster but
   * never joins it, holds no shard and hosts no actor. Default true.
   */
  serve?: boolean;
  /** Turns per group-commit statement and statements in flight at once. */
  commit?: { maxBatch?: number; maxInFlight?: number };
  /** Where the node's metrics go; default a registry of its own labelled `node`. */
  metrics?: Registry;
  /** Span attributes of a turn from the actor's state after it; default: the workflow's template and version. */
  turnAttributes?: (state: unknown) => Record<string, string | number | boolean>;
  /** On NATS, register the node as a NATS micro service (`nats micro ls`). Default true. */
  microService?: boolean;
}

export interface NodeStatus {
  nodeId: string;
  transport: string;
  draining: boolean;
  shards: number[];
  members: string[];
  activeActors: number;
  queued: number;
  activations: number;
  passivations: number;
  turns: number;
  commitBatches: number;
  lastBatchSize: number;
  effectsInFlight: number;
  effectsRetried: number;
  timerLagMs: number;
  rebalances: number;
}

/**
 * One runtime node: hosts the actors of the shards it leases, fires their
 * timers, dispatches their effects, and routes `ask`s to whichever node owns
 * an actor's shard.
 */
export class RuntimeNode {
  readonly nodeId: string;
  readonly journal: Journal;
  readonly leases: LeaseTable;
  readonly clock: Clock;
  readonly shardCount: number;
  /** This node's metrics (render with core's `renderMetrics`). */
  readonly metrics: Registry;
  #o: Required<
    Omit<
      RuntimeNodeOptions,
      | "nodeId"
      | "clock"
      | "log"
      | "effects"
      | "shardCount"
      | "commit"
      | "metrics"
      | "turnAttributes"
      | "microService"
      | "onCommitted"
    >
  >;
  #instruments: RuntimeInstruments;
  #turnAttributes: (state: unknown) => Record<string, string | number | boolean>;
  #microService: boolean;
  #micro?: { stop(): Promise<void> };
  #effects: Record<string, EffectHandler>;
  #log: Logger;
  #host: ActorHost;
  #committer: GroupCommitter;
  #held = new Map<number, number>();
  /**
   * Until when (local clock) the leases in #held are surely still ours: the
   * last renewal's start plus the TTL, minus a safety margin. A node that was
   * frozen or cut off stops running effects and answering reads for its
   * shards past this point, before anyone else can have taken them over.
   */
  #leaseValidUntil = 0;
  #members = new Map<string, Heartbeat>();
  #draining = false;
  #started = false;
  #stopped = false;
  #timers: NodeJS.Timeout[] = [];
  #unsubs: Array<() => void> = [];
  #effectsInFlight = new Set<string>();
  #timersInFlight = new Set<string>();
  #tick?: Promise<void>;
  #timerLagMs = 0;
  /** Effects whose result this node delivered recently (a poll that read the outbox earlier must not rerun them). */
  #effectsDone = new Map<string, number>();
  #wake?: { at: number; timer: NodeJS.Timeout };
  effectsRetried = 0;
  rebalances = 0;

  constructor(opts: RuntimeNodeOptions) {
    this.nodeId = opts.nodeId ?? newId("node");
    this.clock = opts.clock ?? systemClock;
    this.shardCount = opts.shardCount ?? 256;
    this.#log = (opts.log ?? createLogger()).child({ node: this.nodeId });
    this.#effects = opts.effects ?? {};
    this.#o = {
      sql: opts.sql,
      transport: opts.transport,
      actors: opts.actors,
      idleMs: opts.idleMs ?? 60_000,
      maxActive: opts.maxActive ?? 100_000,
      maxQueued: opts.maxQueued ?? 50_000,
      maxMailbox: opts.maxMailbox ?? 1_000,
      snapshotEvery: opts.snapshotEvery ?? 100,
      leaseTtlMs: opts.leaseTtlMs ?? 3_000,
      heartbeatMs: opts.heartbeatMs ?? 500,
      memberTimeoutMs: opts.memberTimeoutMs ?? 1_600,
      timerPollMs: opts.timerPollMs ?? 250,
      effectPollMs: opts.effectPollMs ?? 500,
      effectRetry: opts.effectRetry ?? { baseMs: 200, maxMs: 60_000, maxAttempts: 10 },
      askTimeoutMs: opts.askTimeoutMs ?? 15_000,
      serve: opts.serve ?? true,
    };
    this.metrics = opts.metrics ?? new Registry({ node: this.nodeId });
    this.#turnAttributes = opts.turnAttributes ?? defaultTurnAttributes;
    this.#microService = opts.microService ?? true;
    this.#instruments = runtimeInstruments(this.metrics, {
      status: () => this.status(),
      maxMailbox: () => this.#host.maxMailboxDepth,
      transport: () =>
        this.#o.transport instanceof NatsTransport ? this.#o.transport.connection : undefined,
    });
    this.journal = new Journal(opts.sql);
    this.leases = new LeaseTable(opts.sql);
    this.#committer = new GroupCommitter(
      this.journal,
      this.nodeId,
      opts.commit?.maxBatch,
      opts.commit?.maxInFlight,
    );
    this.#committer.onBatch = (size, seconds, ok) => this.#instruments.commit(size, seconds, ok);
    this.#host = new ActorHost({
      journal: this.journal,
      committer: this.#committer,
      clock: this.clock,
      log: this.#log,
      behaviorFor: (id) => this.#behaviorFor(id),
      shardOf: (id) => shardOf(id, this.shardCount),
      epochOf: (s) => this.#held.get(s),
      onEffects: (effects) => {
        for (const e of effects) void this.#dispatchEffect(e, 0);
      },
      onTimersArmed: (at) => this.#scheduleWake(at),
      snapshotEvery: this.#o.snapshotEvery,
      maxQueued: this.#o.maxQueued,
      maxMailbox: this.#o.maxMailbox,
      maxActive: this.#o.maxActive,
      replyMemory: 256,
      onCommitted: opts.onCommitted,
      onTurn: (t) => {
        this.#instruments.turn(t.kind, t.seconds, t.events, t.outcome);
        const span = trace.getActiveSpan();
        if (span?.isRecording()) {
          span.setAttributes({ "linkflow.shard": t.shard, "linkflow.events": t.events });
          try {
            span.setAttributes(this.#turnAttributes(t.state));
          } catch {
            // Attributes are best effort.
          }
        }
      },
    });
  }

  #behaviorFor(actorId: string): ActorBehavior {
    const hit = this.#o.actors.find((a) => actorId.startsWith(a.prefix));
    if (!hit)
      throw new LinkflowError("unknown_actor_kind", `no actor kind for id ${actorId}`, { grpcStatus: 3 });
    return hit.behavior;
  }

  get transport(): Transport {
    return this.#o.transport;
  }

  /** Joins the cluster: announces itself, takes its share of shard leases and starts timers and effects. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    if (!this.#o.serve) return;
    await this.leases.ensure(this.shardCount);
    this.#unsubs.push(
      this.#o.transport.onHeartbeat((hb) => {
        // Liveness is judged by when we heard it, not by the sender's clock.
        if (hb.nodeId !== this.nodeId) this.#members.set(hb.nodeId, { ...hb, at: Date.now() });
      }),
    );
    await this.#heartbeat();
    if (this.#o.transport.kind === "nats") {
      // Hear from the rest of the cluster before claiming shards, to avoid a needless rebalance.
      await new Promise((r) => setTimeout(r, this.#o.heartbeatMs * 2));
    }
    await this.#coordinate();
    if (this.#microService && this.#o.transport instanceof NatsTransport) {
      this.#micro = await registerNodeService(this.#o.transport.nc, this).catch((err) => {
        this.#log.warn("NATS micro service not registered", { err });
        return undefined;
      });
    }
    const every = (ms: number, fn: () => Promise<void>) => {
      let busy = false;
      const t = setInterval(() => {
        if (busy || this.#stopped) return;
        busy = true;
        fn()
          .catch((err) => this.#log.warn("background task failed", { err }))
          .finally(() => {
            busy = false;
          });
      }, ms);
      t.unref();
      this.#timers.push(t);
    };
    // Separate loops: a slow lease round trip must not silence the heartbeat (peers would drop us).
    every(this.#o.heartbeatMs, () => this.#heartbeat());
    every(this.#o.heartbeatMs, async () => {
      this.#tick = this.#coordinate();
      await this.#tick;
    });
    every(this.#o.timerPollMs, () => this.#fireDueTimers());
    every(this.#o.effectPollMs, () => this.#retryPendingEffects());
    every(Math.max(1000, Math.floor(this.#o.idleMs / 2)), async () => {
      this.#host.passivate(this.#o.idleMs);
    });
    const clock = this.clock as Clock & { onChange?: (l: (n: number) => void) => () => void };
    if (typeof clock.onChange === "function") {
      this.#unsubs.push(clock.onChange(() => void this.#fireDueTimers()));
    }
  }

  /**
   * Sends a command to an actor wherever it lives and resolves with its reply
   * once the turn committed. Give `commandId` to make a retry safe.
   */
  async ask<R = unknown>(
    actorId: string,
    command: unknown,
    opts: { commandId?: string; timeoutMs?: number; deadline?: number } = {},
  ): Promise<R> {
    const deadline = opts.deadline ?? Date.now() + (opts.timeoutMs ?? this.#o.askTimeoutMs);
    const shard = shardOf(actorId, this.shardCount);
    return tracer().startActiveSpan(
      "actor.ask",
      { kind: SpanKind.CLIENT, attributes: { "linkflow.actor_id": actorId, "linkflow.shard": shard } },
      async (span) => {
        try {
          const carrier: Record<string, string> = {};
          propagation.inject(context.active(), carrier);
          const envelope: CommandEnvelope = {
            id: opts.commandId ?? newId("cmd"),
            actorId,
            command,
            deadline,
            traceparent: carrier.traceparent,
          };
          for (let wait = 10; ; wait = Math.min(wait * 2, 250)) {
            const reply = await this.#o.transport.request(
              shard,
              { type: "command", envelope },
              { deadline, traceparent: carrier.traceparent },
            );
            if (reply.ok) return reply.value as R;
            // The shard moved between routing and the turn, or the journal moved on
            // under the actor: try again (same command id) while the deadline allows.
            if (RETRY_CODES.has(reply.error.code) && Date.now() + wait < deadline) {
              await new Promise((r) => setTimeout(r, wait));
              continue;
            }
            throw LinkflowError.fromJSON(reply.error);
          }
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: String((err as Error).message) });
          throw err;
        } finally {
          span.end();
        }
      },
    );
  }

  /**
   * Reads an actor's state (through its behaviour's `query`) without
   * journaling a turn. With `waitMs`, the node holding the actor answers once
   * the behaviour's `queryReady` holds (at the commit that makes it so) or
   * when the wait ends, whichever is first: one request instead of polling.
   */
  async query<R = unknown>(
    actorId: string,
    q: unknown,
    opts: { timeoutMs?: number; waitMs?: number } = {},
  ): Promise<R> {
    const waitMs = Math.max(0, opts.waitMs ?? 0);
    const waitUntil = Date.now() + waitMs;
    // The holder answers at the end of the wait at the latest; a second is left for the reply to travel.
    const deadline = Date.now() + Math.max(opts.timeoutMs ?? this.#o.askTimeoutMs, waitMs + 1000);
    const shard = shardOf(actorId, this.shardCount);
    for (let wait = 10; ; wait = Math.min(wait * 2, 250)) {
      const waitLeft = Math.min(waitUntil, deadline - 1000) - Date.now();
      const reply = await this.#o.transport.request(
        shard,
        waitLeft > 0
          ? { type: "query", actorId, query: q, waitMs: waitLeft }
          : { type: "query", actorId, query: q },
        { deadline },
      );
      if (reply.ok) return reply.value as R;
      if (RETRY_CODES.has(reply.error.code) && Date.now() + wait < deadline) {
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      throw LinkflowError.fromJSON(reply.error);
    }
  }

  async #serve(req: ShardRequest): Promise<ShardReply> {
    try {
      if (req.type === "query") {
        const shard = shardOf(req.actorId, this.shardCount);
        if (!this.#held.has(shard) || !this.#leasesFresh()) throw new ShardNotOwnedError(shard);
        return { ok: true, value: await this.#host.query(req.actorId, req.query, req.waitMs) };
      }
      const env = req.envelope;
      const parent = env.traceparent
        ? propagation.extract(context.active(), { traceparent: env.traceparent })
        : context.active();
      return { ok: true as const, value: (await this.#turn(env, {}, parent)) ?? null };
    } catch (err) {
      const le = toLinkflowError(err);
      if (le.code === "internal") this.#log.error("turn failed", { err: le.cause });
      return { ok: false, error: le.toJSON() };
    }
  }

  /** One command through the actor's mailbox in an `actor.turn` span (child of `parent`). */
  #turn(
    env: CommandEnvelope,
    meta: DeliveryMeta,
    parent: ReturnType<typeof context.active> = context.active(),
  ): Promise<unknown> {
    return context.with(parent, () =>
      tracer().startActiveSpan(
        "actor.turn",
        {
          kind: SpanKind.SERVER,
          attributes: {
            "linkflow.actor_id": env.actorId,
            "linkflow.node": this.nodeId,
            "linkflow.command": commandName(env.command),
            "linkflow.transport": this.#o.transport.kind,
            ...(meta.firedTimer ? { "linkflow.timer": meta.firedTimer.id } : {}),
          },
        },
        async (span) => {
          try {
            return await this.#host.handle(env, meta);
          } catch (err) {
            const le = err instanceof LinkflowError ? err : undefined;
            span.setStatus({ code: SpanStatusCode.ERROR, message: le?.code ?? "internal" });
            throw err;
          } finally {
            span.end();
          }
        },
      ),
    );
  }

  async #heartbeat(): Promise<void> {
    await this.#o.transport.publishHeartbeat({
      nodeId: this.nodeId,
      draining: this.#draining,
      shards: [...this.#held.keys()],
      activeActors: this.#host.activeCount,
      at: Date.now(),
    });
  }

  /** Live members other nodes and this one agree should hold shards. */
  members(): string[] {
    const now = Date.now();
    const live = [...this.#members.values()]
      .filter((m) => !m.draining && now - m.at < this.#o.memberTimeoutMs)
      .map((m) => m.nodeId);
    if (!this.#draining) live.push(this.nodeId);
    return live.sort();
  }

  async #coordinate(): Promise<void> {
    if (this.#stopped) return;
    // Renew first: a lease we failed to renew is gone, and we must stop serving it at once.
    const renewStarted = Date.now();
    const renewed = await this.leases.renew(this.nodeId, this.#held, this.#o.leaseTtlMs);
    this.#leaseValidUntil = renewStarted + this.#o.leaseTtlMs - Math.ceil(this.#o.leaseTtlMs / 4);
    for (const shard of [...this.#held.keys()]) {
      if (!renewed.has(shard)) await this.#dropShard(shard, false);
    }
    if (this.#draining) return;
    const members = this.members();
    const desired = assignShards(members, this.shardCount);
    const liveOthers = new Set(members.filter((m) => m !== this.nodeId));
    const handOver = [...this.#held.keys()].filter((s) => {
      const owner = desired.get(s);
      return owner !== this.nodeId && owner !== undefined && liveOthers.has(owner);
    });
    for (const s of handOver) await this.#dropShard(s, true);
    const want = [...desired].filter(([s, n]) => n === this.nodeId && !this.#held.has(s)).map(([s]) => s);
    if (want.length > 0) {
      const got = await this.leases.acquire(this.nodeId, want, this.#o.leaseTtlMs);
      for (const [shard, epoch] of got) {
        // Another node may have written to these actors since we last held the shard.
        this.#host.invalidateShard(shard);
        this.#held.set(shard, epoch);
        await this.#o.transport.serveShard(shard, (req) => this.#serve(req));
      }
      if (got.size > 0) {
        this.rebalances++;
        void this.#retryPendingEffects();
        void this.#fireDueTimers();
      }
    }
    if (handOver.length > 0) this.rebalances++;
  }

  async #dropShard(shard: number, release: boolean): Promise<void> {
    await this.#o.transport.stopServingShard(shard);
    // The shard's turns (commits included) are done once its mailboxes are; waiting for the
    // committer to be idle instead could take forever under load on the other shards.
    await this.#host.drainShard(shard);
    this.#held.delete(shard);
    this.#host.passivate(0, shard);
    if (release) await this.leases.release(this.nodeId, [shard]);
  }

  /** Wakes the timer scan at `at` (clock ms) when that is sooner than the next poll would. */
  #scheduleWake(at: number): void {
    if (this.#stopped) return;
    const delay = at - this.clock.now();
    // Later timers are found by the regular scan, which looks one poll interval ahead.
    if (delay > 60_000) return;
    if (this.#wake && this.#wake.at <= at) return;
    if (this.#wake) clearTimeout(this.#wake.timer);
    const timer = setTimeout(
      () => {
        this.#wake = undefined;
        void this.#fireDueTimers().catch((err) => this.#log.warn("timer scan failed", { err }));
      },
      Math.max(0, delay),
    );
    timer.unref();
    this.#wake = { at, timer };
  }

  #scanning?: Promise<void>;

  async #fireDueTimers(): Promise<void> {
    if (this.#stopped || this.#held.size === 0 || !this.#leasesFresh()) return;
    // One scan at a time; a request during a scan runs one more scan after it.
    if (this.#scanning) {
      this.#rescan = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      do {
        this.#rescan = false;
        const batch = 500;
        for (;;) {
          const now = this.clock.now();
          // Look one poll interval ahead: those not yet due get a precise wake-up instead of waiting a poll.
          const page = await this.journal.dueTimers([...this.#held.keys()], now + this.#o.timerPollMs, batch);
          const due = page.filter((t) => t.fireAt <= now);
          const next = page.find((t) => t.fireAt > now);
          if (next) this.#scheduleWake(next.fireAt);
          const deliveries: Promise<unknown>[] = [];
          for (const t of due) {
            const key = `${t.actorId}|${t.timerId}|${t.fireAt}`;
            if (this.#timersInFlight.has(key)) continue;
            this.#timersInFlight.add(key);
            this.#timerLagMs = Math.max(0, now - t.fireAt);
            this.timersFired++;
            deliveries.push(
              this.#turn(
                { id: `timer:${t.timerId}:${t.fireAt}`, actorId: t.actorId, command: t.command },
                { firedTimer: { id: t.timerId, fireAt: t.fireAt } },
                ROOT_CONTEXT,
              )
                .catch((err) =>
                  this.#log.warn("timer delivery failed", { actor: t.actorId, timer: t.timerId, err }),
                )
                .finally(() => this.#timersInFlight.delete(key)),
            );
          }
          // A full page: more may be due. Deliver this page first (it is then gone from the table).
          if (page.length < batch || due.length < batch || deliveries.length === 0 || this.#stopped) break;
          await Promise.all(deliveries);
        }
      } while (this.#rescan && !this.#stopped);
    })().finally(() => {
      this.#scanning = undefined;
    });
    return this.#scanning;
  }

  #rescan = false;
  /** Timer commands delivered by this node (for status and benchmarks). */
  timersFired = 0;

  /** True while this node's leases cannot have expired (see #leaseValidUntil). */
  #leasesFresh(): boolean {
    return Date.now() < this.#leaseValidUntil;
  }

  async #retryPendingEffects(): Promise<void> {
    if (this.#stopped || this.#held.size === 0 || !this.#leasesFresh()) return;
    const cutoff = Date.now() - 60_000;
    for (const [k, at] of this.#effectsDone) {
      if (at >= cutoff) break;
      this.#effectsDone.delete(k);
    }
    const pending = await this.journal.pendingEffects([...this.#held.keys()], Date.now());
    for (const e of pending) void this.#dispatchEffect(e, e.attempts);
  }

  async #dispatchEffect(e: CommittedEffect, attempts: number): Promise<void> {
    const key = `${e.actorId}:${e.seq}`;
    if (this.#effectsInFlight.has(key) || this.#effectsDone.has(key) || this.#stopped) return;
    // A node whose lease may have lapsed leaves the effect to the shard's new owner.
    if (!this.#leasesFresh() || !this.#held.has(shardOf(e.actorId, this.shardCount))) return;
    this.#effectsInFlight.add(key);
    const span = tracer().startSpan("actor.effect", {
      kind: SpanKind.INTERNAL,
      attributes: {
        "linkflow.actor_id": e.actorId,
        "linkflow.effect": e.type,
        "linkflow.effect_seq": e.seq,
        "linkflow.attempt": attempts + 1,
        "linkflow.node": this.nodeId,
      },
    });
    const ctx = trace.setSpan(context.active(), span);
    try {
      const handler = this.#effects[e.type];
      let result: EffectResultCommand;
      try {
        if (!handler) throw new LinkflowError("unknown_effect", `no handler for effect ${e.type}`);
        const value = await context.with(ctx, () =>
          handler(e.payload, {
            actorId: e.actorId,
            effectSeq: e.seq,
            idempotencyKey: key,
            attempt: attempts + 1,
          }),
        );
        this.#instruments.effect(e.type, "ok");
        result = {
          type: "effect.result",
          effectSeq: e.seq,
          effectType: e.type,
          ok: true,
          result: value ?? null,
        };
      } catch (err) {
        const le = toLinkflowErrorKeepRetry(err);
        const terminal = !le.retryable || attempts + 1 >= this.#o.effectRetry.maxAttempts;
        span.setStatus({ code: SpanStatusCode.ERROR, message: le.code });
        this.#instruments.effect(e.type, terminal ? "failed" : "retried");
        if (!terminal) {
          this.effectsRetried++;
          const backoff = Math.min(this.#o.effectRetry.maxMs, this.#o.effectRetry.baseMs * 2 ** attempts);
          const jitter = Math.random() * backoff * 0.2;
          await this.journal.deferEffect(e.actorId, e.seq, Date.now() + backoff + jitter);
          this.#log.warn("effect failed, will retry", {
            effect: e.type,
            actor: e.actorId,
            attempt: attempts + 1,
            code: le.code,
          });
          return;
        }
        result = {
          type: "effect.result",
          effectSeq: e.seq,
          effectType: e.type,
          ok: false,
          error: le.toJSON(),
          attempts: attempts + 1,
        };
      }
      await this.#turn({ id: `effect:${e.seq}`, actorId: e.actorId, command: result }, {}, ctx);
      this.#effectsDone.set(key, Date.now());
    } catch (err) {
      // Not delivered (shard moved, node stopping): the outbox row stays and the owner retries.
      this.#log.debug("effect result not delivered", { actor: e.actorId, err });
    } finally {
      span.end();
      this.#effectsInFlight.delete(key);
    }
  }

  status(): NodeStatus {
    return {
      nodeId: this.nodeId,
      transport: this.#o.transport.kind,
      draining: this.#draining,
      shards: [...this.#held.keys()].sort((a, b) => a - b),
      members: this.members(),
      activeActors: this.#host.activeCount,
      queued: this.#host.queuedTotal,
      activations: this.#host.activations,
      passivations: this.#host.passivations,
      turns: this.#host.turns,
      commitBatches: this.#committer.batches,
      lastBatchSize: this.#committer.lastBatchSize,
      effectsInFlight: this.#effectsInFlight.size,
      effectsRetried: this.effectsRetried,
      timerLagMs: this.#timerLagMs,
      rebalances: this.rebalances,
    };
  }

  /** Status plus the lease epoch of every shard held (the micro service and `linkflow cluster status`). */
  report(): NodeReport {
    return { ...this.status(), epochs: Object.fromEntries([...this.#held].map(([s, e]) => [String(s), e])) };
  }

  /** Passivates the actors idle for at least `idleMs` (0: every idle actor); returns how many. */
  passivate(idleMs = 0): number {
    return this.#host.passivate(idleMs);
  }

  /** True when this node currently holds the lease of the actor's shard. */
  owns(actorId: string): boolean {
    return this.#held.has(shardOf(actorId, this.shardCount));
  }

  /**
   * Graceful shutdown: announce draining, stop taking requests, finish the
   * turns in flight, release the leases so others take over at once, close.
   * Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    if (!this.#o.serve) {
      this.#stopped = true;
      await this.#o.transport.close();
      return;
    }
    this.#draining = true;
    if (this.#wake) clearTimeout(this.#wake.timer);
    await this.#heartbeat().catch(() => {});
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#tick?.catch(() => {});
    for (const shard of [...this.#held.keys()]) {
      await this.#dropShard(shard, true).catch(() => {});
    }
    this.#stopped = true;
    await this.#micro?.stop();
    for (const u of this.#unsubs) u();
    await this.#o.transport.close();
  }
}

/** Errors after which an ask is retried with the same command id while its deadline allows. */
const RETRY_CODES = new Set(["shard_not_owned", "journal_conflict", "journal_unavailable"]);

function commandName(c: unknown): string {
  return typeof c === "object" && c !== null && typeof (c as { type?: unknown }).type === "string"
    ? (c as { type: string }).type
    : "command";
}

/** Unlike toLinkflowError, an unknown failure (network, crash) stays retryable. */
function toLinkflowErrorKeepRetry(err: unknown): LinkflowError {
  if (err instanceof LinkflowError) return err;
  return new LinkflowError("effect_failed", err instanceof Error ? err.message : String(err), {
    retryable: true,
    cause: err,
  });
}
