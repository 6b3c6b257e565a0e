import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, type Sql } from "../../core/index.ts";
import {
  assignShards,
  LocalTransport,
  NatsTransport,
  RuntimeNode,
  type RuntimeNodeOptions,
} from "../../runtime/index.ts";
import { type CounterState, counter } from "./counter.ts";
import { useRuntimeInfra } from "./fixture.ts";

const infra = useRuntimeInfra();

const nodes: RuntimeNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  await infra.sql`update runtime.shard_leases set owner = null, expires_at = 'epoch'`;
});

async function node(opts: Partial<RuntimeNodeOptions> & { nats?: boolean } = {}) {
  const { nats: overNats, ...rest } = opts;
  const n = new RuntimeNode({
    sql: infra.sql,
    transport: overNats ? await NatsTransport.connect(infra.natsUrls, "test") : new LocalTransport(),
    actors: [{ prefix: "ctr_", behavior: counter }],
    shardCount: 8,
    heartbeatMs: 100,
    memberTimeoutMs: 400,
    timerPollMs: 50,
    effectPollMs: 100,
    ...rest,
  });
  nodes.push(n);
  await n.start();
  return n;
}

/**
 * A Postgres client whose group-commit statements can be made to fail:
 * "before" (never sent) or "after" (committed, but the caller sees an error,
 * as when the connection drops before the reply).
 */
function faultySql(base: Sql) {
  const faults: Array<"before" | "after"> = [];
  const proxy = new Proxy(base, {
    get(target, prop, receiver) {
      if (prop !== "unsafe") return Reflect.get(target, prop, receiver);
      return (query: string, ...args: unknown[]) => {
        const isCommit = typeof query === "string" && query.trimStart().startsWith("with lk as");
        const fault = isCommit ? faults.shift() : undefined;
        if (fault === "before") return Promise.reject(new Error("connection reset (injected)"));
        const run = (target.unsafe as (...a: unknown[]) => Promise<unknown>)(query, ...args);
        if (fault === "after")
          return run.then(() => Promise.reject(new Error("connection reset (injected)")));
        return run;
      };
    },
  });
  return { sql: proxy as Sql, faults };
}

describe("activation and passivation", () => {
  it("passivates idle actors and rebuilds them from the journal", async () => {
    const a = await node({ idleMs: 200 });
    await a.ask("ctr_idle", { type: "add", n: 4 });
    expect(a.status().activeActors).toBe(1);
    await expect.poll(() => a.status().activeActors, { timeout: 5000 }).toBe(0);
    expect(a.status().passivations).toBeGreaterThanOrEqual(1);
    const before = a.status().activations;
    expect(await a.ask("ctr_idle", { type: "add", n: 1 })).toBe(5);
    expect(a.status().activations).toBe(before + 1);
  });

  it("keeps at most maxActive actors in memory, evicting the least recently used", async () => {
    const a = await node({ maxActive: 3 });
    for (let i = 0; i < 6; i++) await a.ask(`ctr_lru${i}`, { type: "add", n: i });
    expect(a.status().activeActors).toBe(3);
    expect(a.status().passivations).toBe(3);
    // The evicted ones come back with their state.
    for (let i = 0; i < 6; i++) expect(await a.ask(`ctr_lru${i}`, { type: "add", n: 100 })).toBe(i + 100);
    expect(a.status().activeActors).toBe(3);
  });

  it("snapshots every N events and loads from the snapshot plus the later events", async () => {
    const a = await node({ snapshotEvery: 5 });
    const id = "ctr_snap";
    for (let i = 0; i < 12; i++) await a.ask(id, { type: "add", n: 1 });
    const [snap] = await infra.sql<
      { seq: bigint }[]
    >`select seq from runtime.snapshots where actor_id = ${id}`;
    expect(Number(snap?.seq)).toBe(10);
    const loaded = await a.journal.load(id);
    expect(loaded.snapshot?.seq).toBe(10);
    expect(loaded.events.map((e) => e.seq)).toEqual([11, 12]);
    // Prove that activation starts from the snapshot: doctor it, reactivate, and see the doctored base.
    await infra.sql`update runtime.snapshots set state = jsonb_set(state, '{count}', '1000') where actor_id = ${id}`;
    a.passivate(0);
    expect((await a.query<CounterState>(id, {})).count).toBe(1002);
  });
});

describe("crash mid-turn", () => {
  it("a commit that never reached Postgres writes nothing and the retry applies the command once", async () => {
    const f = faultySql(infra.sql);
    const a = await node({ sql: f.sql });
    const id = "ctr_crash_before";
    await a.ask(id, { type: "add", n: 1 });
    f.faults.push("before");
    // The ask is retried by command id after the failed commit.
    expect(await a.ask(id, { type: "add", n: 10 }, { commandId: "cb-1" })).toBe(11);
    expect((await a.journal.events(id)).map((e) => e.seq)).toEqual([1, 2]);
    expect((await a.query<CounterState>(id, {})).count).toBe(11);
  });

  it("a commit whose outcome was lost discards the in-memory state and the retry is answered from the journal", async () => {
    const f = faultySql(infra.sql);
    const a = await node({ sql: f.sql });
    const id = "ctr_crash_after";
    await a.ask(id, { type: "add", n: 1 });
    f.faults.push("after");
    const activations = a.status().activations;
    expect(await a.ask(id, { type: "add", n: 10 }, { commandId: "ca-1" })).toBe(11);
    // The actor was rebuilt from the journal, not trusted from memory.
    expect(a.status().activations).toBe(activations + 1);
    expect((await a.journal.events(id)).map((e) => e.seq)).toEqual([1, 2]);
    expect(await a.ask(id, { type: "add", n: 100 })).toBe(111);
  });

  it("a statement that fails halfway in Postgres leaves no trace of the turn", async () => {
    const a = await node();
    const id = "ctr_crash_mid";
    await a.ask(id, { type: "add", n: 1 });
    // Postgres refuses the effect payload (jsonb has no NUL) while running the statement that
    // also writes the actor row, the event and the reply: none of it may remain.
    await expect(
      a.ask(id, { type: "effect", payload: "bad\u0000payload" }, { timeoutMs: 2000 }),
    ).rejects.toMatchObject({
      code: "journal_rejected",
    });
    expect((await a.journal.events(id)).map((e) => e.seq)).toEqual([1]);
    const [row] = await infra.sql<{ seq: bigint; effect_seq: bigint }[]>`
      select seq, effect_seq from runtime.actors where actor_id = ${id}`;
    expect([Number(row?.seq), Number(row?.effect_seq)]).toEqual([1, 0]);
    expect(await infra.sql`select 1 from runtime.effects where actor_id = ${id}`).toHaveLength(0);
    expect(await infra.sql`select 1 from runtime.command_replies where actor_id = ${id}`).toHaveLength(1);
    expect(await a.ask(id, { type: "add", n: 2 })).toBe(3);
  });
});

describe("duplicate command ids", () => {
  it("answers a retried command after the actor was reactivated on another node", async () => {
    const a = await node();
    const id = "ctr_dup_restart";
    expect(await a.ask(id, { type: "add", n: 7 }, { commandId: "d-1" })).toBe(7);
    await a.stop();
    nodes.splice(nodes.indexOf(a), 1);
    const b = await node();
    expect(await b.ask(id, { type: "add", n: 7 }, { commandId: "d-1" })).toBe(7);
    expect((await b.query<CounterState>(id, {})).count).toBe(7);
  });

  it("answers a command older than the replies kept in memory from the journal", async () => {
    const a = await node();
    const id = "ctr_dup_old";
    expect(await a.ask(id, { type: "add", n: 1 }, { commandId: "old-0" })).toBe(1);
    for (let i = 1; i <= 260; i++) await a.ask(id, { type: "add", n: 1 }, { commandId: `old-${i}` });
    a.passivate(0);
    expect(await a.ask(id, { type: "add", n: 1 }, { commandId: "old-0" })).toBe(1);
    expect((await a.query<CounterState>(id, {})).count).toBe(261);
  });
});

describe("timers", () => {
  it("a timer armed on one node fires on the node that took its shard over", async () => {
    const clock = new ManualClock(5_000_000);
    const a = await node({ nats: true, clock, nodeId: "node-a" });
    const b = await node({ nats: true, clock, nodeId: "node-b" });
    const id = "ctr_timer_move";
    const want = assignShards(["node-a", "node-b"], 8);
    await expect
      .poll(() => b.status().shards.length, { timeout: 10_000 })
      .toBe([...want.values()].filter((o) => o === "node-b").length);
    await expect.poll(() => a.status().shards.length + b.status().shards.length, { timeout: 10_000 }).toBe(8);
    const [owner, other] = a.owns(id) ? [a, b] : [b, a];
    await owner.ask(id, { type: "arm", id: "expiry", at: 5_000_000 + 7 * 86_400_000 });
    await owner.stop();
    nodes.splice(nodes.indexOf(owner), 1);
    await expect.poll(() => other.owns(id), { timeout: 10_000 }).toBe(true);
    clock.advance(7 * 86_400_000);
    await expect
      .poll(async () => (await other.query<CounterState>(id, {})).fired, { timeout: 10_000 })
      .toEqual(["expiry"]);
    expect(await other.journal.timers(id)).toEqual([]);
  });
});

describe("backpressure", () => {
  it("refuses commands with a retryable RESOURCE_EXHAUSTED error once the mailboxes are full", async () => {
    const a = await node({ maxQueued: 2 });
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => a.ask(`ctr_bp${i % 3}`, { type: "add", n: 1 })),
    );
    const refused = results.filter((r) => r.status === "rejected");
    const ok = results.filter((r) => r.status === "fulfilled").length;
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({
        code: "runtime_overloaded",
        retryable: true,
        grpcStatus: 8,
      });
    }
    let total = 0;
    for (let i = 0; i < 3; i++) total += (await a.query<CounterState>(`ctr_bp${i}`, {})).count;
    expect(total).toBe(ok);
  });
});

describe("backpressure per mailbox", () => {
  it("refuses commands for one actor whose mailbox is full while others proceed", async () => {
    const a = await node({ maxMailbox: 3 });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => a.ask("ctr_mb_hot", { type: "add", n: 1 })),
    );
    const ok = results.filter((r) => r.status === "fulfilled").length;
    expect(ok).toBe(3);
    expect(
      results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason.code),
    ).toEqual(Array(7).fill("runtime_overloaded"));
    expect(await a.ask("ctr_mb_cold", { type: "add", n: 1 })).toBe(1);
    expect((await a.query<CounterState>("ctr_mb_hot", {})).count).toBe(3);
  });
});

describe("rebalancing", () => {
  it("a joining node takes exactly its rendezvous share and the others keep theirs", async () => {
    const since = new Date();
    const a = await node({ nats: true, nodeId: "node-a" });
    expect(a.status().shards).toHaveLength(8);
    const b = await node({ nats: true, nodeId: "node-b" });
    const want = assignShards(["node-a", "node-b"], 8);
    const mine = (n: string) => [...want].filter(([, o]) => o === n).map(([s]) => s);
    await expect.poll(() => b.status().shards, { timeout: 10_000 }).toEqual(mine("node-b"));
    expect(a.status().shards).toEqual(mine("node-a"));
    const history = (await a.leases.history()).filter((h) => h.acquiredAt >= since);
    // Shards that stayed with node-a were never re-leased.
    for (const s of mine("node-a")) expect(history.filter((h) => h.shard === s)).toHaveLength(1);
  });
});
