import type { ActorBehavior, Decision } from "../../runtime/index.ts";

/** A tiny actor for runtime tests: counts, arms timers, requests effects. */
export interface CounterState {
  count: number;
  fired: string[];
  effectResults: unknown[];
}

export type CounterCommand =
  | { type: "add"; n: number }
  | { type: "get" }
  | { type: "arm"; id: string; at: number }
  | { type: "cancel"; id: string }
  | { type: "fire"; id: string }
  | { type: "effect"; payload: unknown }
  | { type: "effect.result"; ok: boolean; result?: unknown; effectSeq: number }
  | { type: "reject" };

export type CounterEvent =
  | { type: "added"; n: number }
  | { type: "fired"; id: string }
  | { type: "effect.done"; result: unknown };

export const counter: ActorBehavior<CounterState, CounterCommand, CounterEvent> = {
  kind: "counter",
  initialState: () => ({ count: 0, fired: [], effectResults: [] }),
  decide(s, c): Decision<CounterEvent> {
    switch (c.type) {
      case "add":
        return { events: [{ type: "added", n: c.n }], reply: s.count + c.n };
      case "get":
        return { events: [], reply: s };
      case "arm":
        return { events: [], armTimers: [{ id: c.id, fireAt: c.at, command: { type: "fire", id: c.id } }] };
      case "cancel":
        return { events: [], cancelTimers: [c.id] };
      case "fire":
        return { events: [{ type: "fired", id: c.id }] };
      case "effect":
        return { events: [{ type: "added", n: 0 }], effects: [{ type: "test.effect", payload: c.payload }] };
      case "effect.result":
        return { events: [{ type: "effect.done", result: c.ok ? c.result : "failed" }] };
      case "reject":
        return {
          events: [],
          reject: { code: "nope", message: "rejected", grpcStatus: 9, retryable: false, violations: [] },
        };
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case "added":
        return { ...s, count: s.count + e.n };
      case "fired":
        return { ...s, fired: [...s.fired, e.id] };
      case "effect.done":
        return { ...s, effectResults: [...s.effectResults, e.result] };
    }
  },
  query: (s) => s,
  // `{ atLeast: n }` asked with a wait is answered once the count reaches n.
  queryReady: (s, q) => {
    const atLeast = (q as { atLeast?: number } | undefined)?.atLeast;
    return atLeast === undefined || s.count >= atLeast;
  },
};
