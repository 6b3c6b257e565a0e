/**
 * Three runtime nodes in separate processes (test/runtime/node-proc.ts) over a
 * three-server NATS cluster, driven by a client-only node in this process.
 * One node is SIGKILLed under load, another is frozen (SIGSTOP) until its
 * leases are taken over and then thawed.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, migrate, type Sql } from "../../core/index.ts";
import { NatsTransport, RuntimeNode, runtimeMigrations, shardOf } from "../../runtime/index.ts";
import { createTestDatabase, startNats } from "../infra/index.ts";
import { type Spawned, spawnTracked } from "../infra/procs.ts";
import { type CounterState, counter } from "./counter.ts";

const SHARDS = 64;
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let nats: Awaited<ReturnType<typeof startNats>>;
const procs = new Map<string, Spawned>();
let client: RuntimeNode | undefined;

function spawnNode(nodeId: string, natsUrl: string): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    let ready = false;
    const p = spawnTracked(process.execPath, ["--import", "tsx", "test/runtime/node-proc.ts"], {
      cwd: repoRoot,
      env: {
        ...process.env,
        LINKFLOW_NODE_DB: db.url,
        LINKFLOW_NODE_NATS: natsUrl,
        LINKFLOW_NODE_ID: nodeId,
        LINKFLOW_NODE_SHARDS: String(SHARDS),
        LINKFLOW_LOG_LEVEL: "error",
      },
      onOutput: () => {
        if (!ready && p.output().includes(`ready ${nodeId}`)) {
          ready = true;
          resolve(p);
        }
      },
    });
    procs.set(nodeId, p);
    p.child.once("exit", () => {
      if (!ready) reject(new Error(`${nodeId} exited during startup:\n${p.output()}`));
    });
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url);
  await migrate(sql, "runtime", runtimeMigrations);
  nats = await startNats({ nodes: 3 });
  await Promise.all(["n1", "n2", "n3"].map((id, i) => spawnNode(id, nats.urls[i] as string)));
  client = new RuntimeNode({
    sql,
    transport: await NatsTransport.connect(nats.urls, "test-client"),
    actors: [{ prefix: "ctr_", behavior: counter }],
    shardCount: SHARDS,
    serve: false,
  });
  await client.start();
}, 120_000);

afterAll(async () => {
  // Nothing may outlive the test, whatever happened: SIGCONT first so a frozen node can die.
  for (const p of procs.values()) {
    try {
      process.kill(p.pid, "SIGCONT");
    } catch {
      // gone
    }
  }
  await Promise.all([...procs.values()].map((p) => p.kill("SIGKILL")));
  await client?.stop();
  await sql?.end();
  await db?.drop();
  await nats?.stop();
});

async function owners(): Promise<Map<number, string>> {
  const rows = await sql<{ shard: number; owner: string | null }[]>`
    select shard, owner from runtime.shard_leases where expires_at > now()`;
  return new Map(rows.filter((r) => r.owner).map((r) => [r.shard, r.owner as string]));
}

interface Load {
  done: Promise<void>;
  adds: Map<string, number>;
  effects: Map<string, number>;
  stop(): void;
}

/**
 * One sequential caller per actor: `add 1` commands, every fifth an effect,
 * each retried with its command id until it succeeds.
 */
function load(actors: string[]): Load {
  const adds = new Map(actors.map((a) => [a, 0]));
  const effects = new Map(actors.map((a) => [a, 0]));
  let stopped = false;
  const done = Promise.all(
    actors.map(async (id) => {
      for (let i = 0; !stopped; i++) {
        const isEffect = i % 5 === 4;
        const command = isEffect ? { type: "effect", payload: { i } } : { type: "add", n: 1 };
        const commandId = `${id}:${i}`;
        for (let attempt = 0; ; attempt++) {
          try {
            await client?.ask(id, command, { commandId, timeoutMs: 3_000 });
            break;
          } catch (err) {
            if (attempt > 30) throw new Error(`${id} command ${i} never succeeded: ${String(err)}`);
            await sleep(50);
          }
        }
        if (isEffect) effects.set(id, (effects.get(id) ?? 0) + 1);
        else adds.set(id, (adds.get(id) ?? 0) + 1);
      }
    }),
  ).then(() => {});
  return { done, adds, effects, stop: () => (stopped = true) };
}

/** The journal's invariants after a failure: contiguous, fenced, nothing written by an outdated lease. */
async function checkJournal(): Promise<void> {
  const events = await sql<{ actor_id: string; seq: bigint; epoch: bigint; at: Date }[]>`
    select actor_id, seq, epoch, at from runtime.events order by actor_id, seq`;
  const history = await sql<{ shard: number; epoch: bigint; owner: string; acquired_at: Date }[]>`
    select shard, epoch, owner, acquired_at from runtime.lease_history`;
  const granted = new Map(history.map((h) => [`${h.shard}:${h.epoch}`, h]));
  type Row = (typeof events)[number];
  const byActor = new Map<string, Row[]>();
  for (const e of events) byActor.set(e.actor_id, [...(byActor.get(e.actor_id) ?? []), e]);
  for (const [actor, evs] of byActor) {
    const shard = shardOf(actor, SHARDS);
    evs.forEach((e, i) => {
      expect(Number(e.seq), `${actor} seq`).toBe(i + 1);
      // Every event was written under a lease that was granted for its shard…
      expect(granted.has(`${shard}:${e.epoch}`), `${actor} epoch ${e.epoch}`).toBe(true);
      // …before the next lease of that shard was granted (fencing)…
      const next = granted.get(`${shard}:${Number(e.epoch) + 1}`);
      if (next)
        expect(e.at.getTime(), `${actor} seq ${e.seq} after takeover`).toBeLessThan(
          next.acquired_at.getTime(),
        );
      // …and epochs never go backwards along an actor's journal.
      const prev = evs[i - 1];
      if (prev) expect(Number(e.epoch)).toBeGreaterThanOrEqual(Number(prev.epoch));
    });
    const [row] = await sql<{ seq: bigint }[]>`select seq from runtime.actors where actor_id = ${actor}`;
    expect(Number(row?.seq), `${actor} actors.seq`).toBe(evs.length);
  }
}

describe("three node processes", () => {
  it("survive a SIGKILL and a frozen node under load: exact counts, fenced journal, effects once", async () => {
    const c = client as RuntimeNode;
    // All shards leased, by all three nodes.
    await expect
      .poll(async () => new Set((await owners()).values()).size, { timeout: 30_000, interval: 200 })
      .toBe(3);
    await expect.poll(async () => (await owners()).size, { timeout: 30_000, interval: 200 }).toBe(SHARDS);

    const actors = Array.from({ length: 48 }, (_, i) => `ctr_k${i}`);
    // A durable timer per actor, due while the cluster is recovering.
    const fireAt = Date.now() + 4_000;
    await Promise.all(
      actors.map((id) => c.ask(id, { type: "arm", id: "t", at: fireAt }, { commandId: `${id}:arm` })),
    );

    const before = await owners();
    const victimShards = [...before].filter(([, o]) => o === "n2").map(([s]) => s);
    expect(victimShards.length).toBeGreaterThan(0);

    const l = load(actors);
    await sleep(1_500);
    await procs.get("n2")?.kill("SIGKILL");
    // The victim's shards move to the survivors.
    await expect
      .poll(async () => [...(await owners()).values()].filter((o) => o === "n2").length, { timeout: 15_000 })
      .toBe(0);
    await sleep(1_500);

    // Freeze n3 until its leases expire and are taken over, then thaw it: it must be fenced off.
    const n3 = procs.get("n3") as Spawned;
    process.kill(n3.pid, "SIGSTOP");
    await expect
      .poll(async () => [...(await owners()).values()].filter((o) => o === "n3").length, {
        timeout: 15_000,
        interval: 200,
      })
      .toBe(0);
    process.kill(n3.pid, "SIGCONT");
    await sleep(2_000);
    l.stop();
    await l.done;

    // Every actor continued, and every command applied exactly once.
    for (const id of actors) {
      const s = await c.query<CounterState>(id, {}, { timeoutMs: 10_000 });
      expect(s.count, id).toBe(l.adds.get(id));
    }
    // Timers fired once each, wherever their shard ended up.
    for (const id of actors) {
      await expect
        .poll(async () => (await c.query<CounterState>(id, {})).fired, { timeout: 15_000 })
        .toEqual(["t"]);
    }
    // Each effect reached the receiver under its idempotency key, and its result came back once.
    const expectedKeys = actors.reduce((n, id) => n + (l.effects.get(id) ?? 0), 0);
    for (const id of actors) {
      await expect
        .poll(async () => (await c.query<CounterState>(id, {})).effectResults.length, { timeout: 15_000 })
        .toBe(l.effects.get(id));
    }
    const [receipts] = await sql<{ keys: bigint; calls: bigint }[]>`
      select count(*)::bigint as keys, coalesce(sum(calls), 0)::bigint as calls from public.effect_receipts`;
    expect(Number(receipts?.keys)).toBe(expectedKeys);
    // A second call of one key can only come from a node that took a shard over
    // while the first caller's result was not yet journaled.
    const dupes = await sql<{ key: string }[]>`select key from public.effect_receipts where calls > 1`;
    const moved = new Set([...victimShards, ...[...before].filter(([, o]) => o === "n3").map(([s]) => s)]);
    for (const d of dupes) {
      const actor = d.key.slice(0, d.key.lastIndexOf(":"));
      expect(moved.has(shardOf(actor, SHARDS)), `duplicate effect ${d.key}`).toBe(true);
    }

    await checkJournal();
    if (process.env.LINKFLOW_TEST_VERBOSE) {
      const [calls] = await sql<{ n: bigint }[]>`select count(*)::bigint as n from public.effect_calls`;
      const [evs] = await sql<{ n: bigint; epochs: bigint }[]>`
        select count(*)::bigint as n, count(distinct epoch)::bigint as epochs from runtime.events`;
      process.stderr.write(
        `cluster: ${[...l.adds.values()].reduce((a, b) => a + b, 0)} adds, ${expectedKeys} effects, ` +
          `${calls?.n} effect calls, ${dupes.length} keys called twice, ${evs?.n} events over ${evs?.epochs} epochs\n`,
      );
    }
    // Epochs of the killed node's shards were superseded.
    const history = await sql<{ shard: number; owner: string }[]>`
      select shard, owner from runtime.lease_history order by acquired_at`;
    for (const s of victimShards) {
      const last = history.filter((h) => h.shard === s).at(-1);
      expect(last?.owner).not.toBe("n2");
    }
  }, 120_000);
});
