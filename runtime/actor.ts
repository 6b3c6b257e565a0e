import type { SerializedError } from "../core/index.ts";

/**
 * A command addressed to one actor. `id` makes retries safe: a command whose
 * id is already in the actor's journal is answered with the recorded reply
 * and never applied twice.
 */
export interface CommandEnvelope<C = unknown> {
  id: string;
  actorId: string;
  command: C;
  /** W3C trace context carried across the transport. */
  traceparent?: string;
  /** Absolute deadline (ms since epoch, wall clock) after which the caller has given up. */
  deadline?: number;
}

/** What an actor asks the runtime to do outside itself, after its turn committed. */
export interface EffectRequest {
  /** Name of a registered effect handler, e.g. "notifications.sendSms". */
  type: string;
  payload: unknown;
}

/** A durable timer: fires `command` at `fireAt` (clock ms) unless cancelled first. Re-arming an id replaces it. */
export interface TimerSpec<C = unknown> {
  id: string;
  fireAt: number;
  command: C;
}

/** The outcome of one turn. Everything here commits atomically or not at all. */
export interface Decision<E = unknown> {
  events: E[];
  effects?: EffectRequest[];
  armTimers?: TimerSpec[];
  cancelTimers?: string[];
  /** Sent to the caller after the turn committed. */
  reply?: unknown;
  /** A typed rejection: nothing is written and the caller gets this error. */
  reject?: SerializedError;
}

export interface TurnContext {
  actorId: string;
  /** The injected clock's time at the start of the turn. */
  now: number;
  /** Sequence number the first effect of this turn will get (effects are numbered per actor). */
  nextEffectSeq: number;
}

/**
 * An actor kind in the decider style: pure `decide` and `evolve`; the runtime
 * owns persistence, effects, timers and replies.
 */
export interface ActorBehavior<S = unknown, C = unknown, E = unknown> {
  kind: string;
  initialState(actorId: string): S;
  decide(state: S, command: C, ctx: TurnContext): Decision<E>;
  evolve(state: S, event: E): S;
  /** Answer a read-only query from current state without a turn being journaled. */
  query?(state: S, query: unknown): unknown;
  /**
   * For a query asked with a wait (`RuntimeNode.query(id, q, { waitMs })`):
   * false while its answer should wait for a later turn. The node holding the
   * actor answers at the first commit that makes it true, or when the wait
   * ends. Without it every query is ready at once.
   */
  queryReady?(state: S, query: unknown): boolean;
}

/**
 * Command the runtime delivers when an effect finished. `ok` false carries the
 * terminal error after retries were exhausted or the handler said it is not retryable.
 */
export interface EffectResultCommand {
  type: "effect.result";
  effectSeq: number;
  effectType: string;
  ok: boolean;
  result?: unknown;
  error?: SerializedError;
  /** How many times the effect ran, this one included. */
  attempts?: number;
}

export function isEffectResult(c: unknown): c is EffectResultCommand {
  return typeof c === "object" && c !== null && (c as { type?: unknown }).type === "effect.result";
}

/** Runs pure given/when/then checks of a behaviour: fold `given` events, then decide `command`. */
export function replay<S, C, E>(behavior: ActorBehavior<S, C, E>, actorId: string, given: E[]): S {
  let s = behavior.initialState(actorId);
  for (const e of given) s = behavior.evolve(s, e);
  return s;
}
