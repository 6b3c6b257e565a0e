/**
 * The generic virtual-actor runtime: deciders journaled in Postgres, durable
 * timers, an effects outbox, shard leases with fencing, and two transports.
 */
export type {
  ActorBehavior,
  CommandEnvelope,
  Decision,
  EffectRequest,
  EffectResultCommand,
  TimerSpec,
  TurnContext,
} from "./actor.ts";
export { isEffectResult, replay } from "./actor.ts";
export {
  BackpressureError,
  DeadlineExceededError,
  JournalConflictError,
  JournalUnavailableError,
  ShardNotOwnedError,
  ShardUnavailableError,
} from "./errors.ts";
export type { CommitOutcome } from "./journal.ts";
export { Journal } from "./journal.ts";
export type { LeaseRow } from "./leases.ts";
export { LeaseTable } from "./leases.ts";
export { LocalTransport } from "./local-transport.ts";
export type { RuntimeGauges, RuntimeInstruments } from "./metrics.ts";
export { defaultTurnAttributes, runtimeInstruments } from "./metrics.ts";
export type { NodeReport } from "./micro.ts";
export {
  collectNodeReports,
  nodeStatusSubject,
  registerNodeService,
  SERVICE_NAME as RUNTIME_SERVICE_NAME,
} from "./micro.ts";
export { runtimeMigrations } from "./migrations.ts";
export { HEARTBEAT_SUBJECT, NatsTransport, shardSubject } from "./nats-transport.ts";
export type { EffectContext, EffectHandler, NodeStatus, RuntimeNodeOptions } from "./node.ts";
export { RuntimeNode } from "./node.ts";
export { assignShards, shardOf } from "./shard.ts";
export type { Heartbeat, Transport } from "./transport.ts";
