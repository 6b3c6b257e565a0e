import { type Counter, LATENCY_BUCKETS, type Registry } from "../core/index.ts";
import type { NodeStatus } from "./node.ts";

/** What the runtime reports as it works; the scrape reads the rest from `status()`. */
export interface RuntimeInstruments {
  /** One committed turn (or a turn that failed), its latency and how many events it wrote. */
  turn(kind: string, seconds: number, events: number, outcome: "ok" | "error"): void;
  /** One group-commit statement. */
  commit(size: number, seconds: number, ok: boolean): void;
  /** A failed effect attempt that will be retried, or an effect's final outcome. */
  effect(type: string, outcome: "ok" | "failed" | "retried"): void;
}

export interface RuntimeGauges {
  status(): NodeStatus;
  /** The deepest single mailbox right now. */
  maxMailbox(): number;
  /** Connection events of the transport (NATS reconnects, disconnects). */
  transport?(): { reconnects: number; disconnects: number } | undefined;
}

const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * Registers the runtime's metrics (all prefixed `linkflow_runtime_`) in
 * `registry`: counters and histograms fed as the node works, gauges read from
 * the node's status at scrape time.
 */
export function runtimeInstruments(registry: Registry, gauges: RuntimeGauges): RuntimeInstruments {
  const turnLatency = registry.histogram(
    "linkflow_runtime_turn_duration_seconds",
    "Latency of one actor turn from dequeue to commit",
  );
  const turnEvents = registry.counter("linkflow_runtime_turn_events_total", "Events journaled by turns");
  const turns = registry.counter("linkflow_runtime_turns_total", "Actor turns by outcome");
  const batchSize = registry.histogram(
    "linkflow_runtime_journal_batch_size",
    "Turns per group-commit statement",
    BATCH_BUCKETS,
  );
  const commitLatency = registry.histogram(
    "linkflow_runtime_journal_commit_duration_seconds",
    "Latency of one group-commit statement",
    LATENCY_BUCKETS,
  );
  const commits = registry.counter(
    "linkflow_runtime_journal_commits_total",
    "Group-commit statements by outcome",
  );
  const effects = registry.counter("linkflow_runtime_effects_total", "Effect attempts by type and outcome");

  const g = {
    activations: registry.counter(
      "linkflow_runtime_actor_activations_total",
      "Actors loaded from the journal",
    ),
    passivations: registry.counter("linkflow_runtime_actor_passivations_total", "Actors dropped from memory"),
    active: registry.gauge("linkflow_runtime_actors_active", "Actors in memory"),
    queued: registry.gauge("linkflow_runtime_mailbox_queued", "Commands waiting across all mailboxes"),
    maxMailbox: registry.gauge(
      "linkflow_runtime_mailbox_depth_max",
      "Commands waiting in the deepest mailbox",
    ),
    timerLag: registry.gauge("linkflow_runtime_timer_lag_seconds", "How late the last timer fired"),
    effectsPending: registry.gauge("linkflow_runtime_effects_in_flight", "Effects being performed now"),
    effectsRetried: registry.counter(
      "linkflow_runtime_effects_retried_total",
      "Effect attempts that will be retried",
    ),
    shards: registry.gauge("linkflow_runtime_shards_owned", "Shards this node holds a lease on"),
    members: registry.gauge(
      "linkflow_runtime_cluster_members",
      "Live nodes this node sees (itself included)",
    ),
    rebalances: registry.counter(
      "linkflow_runtime_rebalances_total",
      "Times this node gained or handed over shards",
    ),
    draining: registry.gauge("linkflow_runtime_draining", "1 while the node is shutting down"),
    reconnects: registry.counter("linkflow_nats_reconnects_total", "Reconnections to the NATS cluster"),
    disconnects: registry.counter("linkflow_nats_disconnects_total", "Disconnections from the NATS cluster"),
  };
  // Counters owned by the node are mirrored at scrape time: set them to the node's totals.
  const mirror = (c: Counter, total: number) => {
    // by 0 still creates the series, so a counter that never moved is exported as 0.
    c.inc({}, Math.max(0, total - c.get()));
  };
  registry.onCollect(() => {
    const s = gauges.status();
    mirror(g.activations, s.activations);
    mirror(g.passivations, s.passivations);
    mirror(g.effectsRetried, s.effectsRetried);
    mirror(g.rebalances, s.rebalances);
    g.active.set(s.activeActors);
    g.queued.set(s.queued);
    g.maxMailbox.set(gauges.maxMailbox());
    g.timerLag.set(s.timerLagMs / 1000);
    g.effectsPending.set(s.effectsInFlight);
    g.shards.set(s.shards.length);
    g.members.set(s.members.length);
    g.draining.set(s.draining ? 1 : 0);
    const t = gauges.transport?.();
    if (t) {
      mirror(g.reconnects, t.reconnects);
      mirror(g.disconnects, t.disconnects);
    }
  });

  return {
    turn(kind, seconds, events, outcome) {
      turnLatency.observe({ kind }, seconds);
      turns.inc({ kind, outcome });
      if (events > 0) turnEvents.inc({ kind }, events);
    },
    commit(size, seconds, ok) {
      batchSize.observe(size);
      commitLatency.observe(seconds);
      commits.inc({ outcome: ok ? "ok" : "error" });
    },
    effect(type, outcome) {
      effects.inc({ type, outcome });
    },
  };
}

/**
 * Span attributes of a turn read from the actor's state: the workflow's
 * template and version when the state carries a pinned program
 * (`state.program.template.{name,version}`). Override with
 * `RuntimeNodeOptions.turnAttributes` for other actor kinds.
 */
export function defaultTurnAttributes(state: unknown): Record<string, string | number> {
  const t = (state as { program?: { template?: { name?: unknown; version?: unknown } } } | undefined)?.program
    ?.template;
  const out: Record<string, string | number> = {};
  if (typeof t?.name === "string") out["linkflow.template"] = t.name;
  if (typeof t?.version === "number") out["linkflow.template_version"] = t.version;
  return out;
}
