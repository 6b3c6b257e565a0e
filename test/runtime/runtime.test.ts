import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../core/index.ts";
import {
  type EffectHandler,
  LocalTransport,
  NatsTransport,
  RuntimeNode,
  type Transport,
} from "../../runtime/index.ts";
import { type CounterState, counter } from "./counter.ts";
import { useRuntimeInfra } from "./fixture.ts";

const infra = useRuntimeInfra();

const nodes: RuntimeNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
});

const transports: Record<string, () => Promise<Transport>> = {
  local: async () => new LocalTransport(),
  nats: async () => NatsTransport.connect(infra.natsUrls, "test"),
};

async function node(
  kind: string,
  opts: { clock?: ManualClock; effects?: Record<string, EffectHandler>; heartbeatMs?: number } = {},
) {
  const n = new RuntimeNode({
    sql: infra.sql,
    transport: await transports[kind]!(),
    actors: [{ prefix: "ctr_", behavior: counter }],
    shardCount: 8,
    heartbeatMs: 100,
    timerPollMs: 50,
    effectPollMs: 100,
    effectRetry: { baseMs: 20, maxMs: 100, maxAttempts: 4 },
    ...opts,
  });
  nodes.push(n);
  await n.start();
  return n;
}

/** A node on NATS that serves no shard: what it asks is answered by the node holding the actor. */
async function clientNode() {
  const n = new RuntimeNode({
    sql: infra.sql,
    transport: await transports.nats!(),
    actors: [{ prefix: "ctr_", behavior: counter }],
    shardCount: 8,
    serve: false,
  });
  nodes.push(n);
  await n.start();
  return n;
}

for (const kind of ["local", "nats"]) {
  describe(`runtime on the ${kind} transport`, () => {
    it("journals turns and rebuilds state after passivation and restart", async () => {
      const a = await node(kind);
      const id = `ctr_${kind}_1`;
      expect(await a.ask(id, { type: "add", n: 2 })).toBe(2);
      expect(await a.ask(id, { type: "add", n: 3 })).toBe(5);
      await a.stop();
      nodes.length = 0;
      const b = await node(kind);
      const s = await b.query<CounterState>(id, {});
      expect(s.count).toBe(5);
      const events = await b.journal.events(id);
      expect(events.map((e) => e.seq)).toEqual([1, 2]);
    });

    it("answers a waiting query at the commit that makes it ready, from another node too", async () => {
      const a = await node(kind);
      // Over NATS the query comes from a client-only node, so the wait happens on the node holding the actor.
      const asker = kind === "nats" ? await clientNode() : a;
      const id = `ctr_${kind}_wait`;
      const t0 = Date.now();
      let answered: CounterState | undefined;
      const waiting = asker.query<CounterState>(id, { atLeast: 3 }, { waitMs: 20_000 }).then((s) => {
        answered = s;
        return s;
      });
      await new Promise((r) => setTimeout(r, 100));
      await a.ask(id, { type: "add", n: 1 });
      await new Promise((r) => setTimeout(r, 100));
      expect(answered).toBeUndefined();
      await a.ask(id, { type: "add", n: 2 });
      expect((await waiting).count).toBe(3);
      // Answered by the commit, not by the end of the wait.
      expect(Date.now() - t0).toBeLessThan(15_000);

      // One that never becomes ready answers with the state at the end of its wait.
      const late = await asker.query<CounterState>(id, { atLeast: 100 }, { waitMs: 200 });
      expect(late.count).toBe(3);
      // Without a wait, readiness is not asked.
      expect((await asker.query<CounterState>(id, { atLeast: 100 })).count).toBe(3);
    });

    it("answers a retried command from the journal without applying it twice", async () => {
      const a = await node(kind);
      const id = `ctr_${kind}_dup`;
      const r1 = await a.ask(id, { type: "add", n: 10 }, { commandId: "c-1" });
      const r2 = await a.ask(id, { type: "add", n: 10 }, { commandId: "c-1" });
      expect(r1).toBe(10);
      expect(r2).toBe(10);
      expect((await a.query<CounterState>(id, {})).count).toBe(10);
    });

    it("rejects with a typed error and writes nothing", async () => {
      const a = await node(kind);
      const id = `ctr_${kind}_rej`;
      await expect(a.ask(id, { type: "reject" })).rejects.toMatchObject({ code: "nope" });
      expect(await a.journal.events(id)).toEqual([]);
    });

    it("fires a durable timer on the injected clock, also after a restart", async () => {
      const clock = new ManualClock(1_000_000);
      const a = await node(kind, { clock });
      const id = `ctr_${kind}_timer`;
      await a.ask(id, { type: "arm", id: "t1", at: 1_000_000 + 86_400_000 });
      await a.ask(id, { type: "arm", id: "t2", at: 1_000_000 + 5_000 });
      await a.ask(id, { type: "cancel", id: "t2" });
      await a.stop();
      nodes.length = 0;
      const b = await node(kind, { clock });
      clock.advance(86_400_000);
      await expect
        .poll(async () => (await b.query<CounterState>(id, {})).fired, { timeout: 5000 })
        .toEqual(["t1"]);
      expect(await b.journal.timers(id)).toEqual([]);
    });

    it("runs an effect once with an idempotency key and delivers its result", async () => {
      const calls: string[] = [];
      let failures = 2;
      const a = await node(kind, {
        effects: {
          "test.effect": async (payload, ctx) => {
            calls.push(ctx.idempotencyKey);
            if (failures-- > 0) throw new Error("flaky");
            return { echoed: payload };
          },
        },
      });
      const id = `ctr_${kind}_fx`;
      await a.ask(id, { type: "effect", payload: "hi" });
      await expect
        .poll(async () => (await a.query<CounterState>(id, {})).effectResults, { timeout: 5000 })
        .toEqual([{ echoed: "hi" }]);
      expect(new Set(calls)).toEqual(new Set([`${id}:1`]));
      expect(calls).toHaveLength(3);
    });
  });
}

describe("waiting queries over NATS", () => {
  it("a query waiting on a node that hands its shards over is answered by the new holder", async () => {
    const a = await node("nats");
    const asker = await clientNode();
    const id = "ctr_moving_wait";
    await asker.ask(id, { type: "add", n: 1 });
    const t0 = Date.now();
    const waiting = asker.query<CounterState>(id, { atLeast: 3 }, { waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    // A second node joins and the first leaves: its shards, and the wait, move over.
    await node("nats");
    await a.stop();
    await asker.ask(id, { type: "add", n: 2 });
    expect((await waiting).count).toBe(3);
    // Answered at the new holder's commit, not after the 20 s wait or the request's deadline.
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

describe("fencing", () => {
  it("a node whose lease was taken can no longer write", async () => {
    // No lease renewal during the test: the node still believes it owns its shards,
    // so the refusal must come from the epoch fence on the journal write itself.
    const a = await node("local", { heartbeatMs: 60_000 });
    const id = "ctr_fenced";
    await a.ask(id, { type: "add", n: 1 });
    try {
      // Another node steals every lease (as after an expiry): bump epochs behind a's back.
      await infra.sql`update runtime.shard_leases set owner = 'thief', epoch = epoch + 1, expires_at = now() + interval '1 hour'`;
      expect(a.owns(id)).toBe(true);
      await expect(a.ask(id, { type: "add", n: 1 }, { timeoutMs: 1500 })).rejects.toMatchObject({
        retryable: true,
      });
      const events = await a.journal.events(id);
      expect(events).toHaveLength(1);
    } finally {
      await infra.sql`update runtime.shard_leases set owner = null, expires_at = 'epoch'`;
    }
  });
});
