/**
 * Runtime benchmark: durable turns per second (journal in a real Postgres) on
 * the local and NATS transports with one and three nodes, ask latency at half
 * the peak load, memory with many passivated actors, durable timers with a
 * million pending, and failover time after a SIGKILL.
 *
 * Memory figures are taken in a child process of their own (this file run
 * with LINKFLOW_BENCH_CHILD set), so they measure a node and nothing else.
 * Three-node figures use test/runtime/node-proc.ts processes.
 */
import { fileURLToPath } from "node:url";
import { connect, createLogger, migrate, newId, type Sql } from "../../core/index.ts";
import {
  type ActorBehavior,
  LocalTransport,
  NatsTransport,
  RuntimeNode,
  runtimeMigrations,
  shardOf,
  type Transport,
} from "../../runtime/index.ts";
import { createTestDatabase, startNats, startPostgres } from "../infra/index.ts";
import { type Spawned, spawnTracked } from "../infra/procs.ts";
import type { Emit } from "./run.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const log = (msg: string) => process.stderr.write(`  runtime: ${msg}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the actor

type BenchCommand =
  | { type: "inc" }
  | { type: "armMany"; n: number; from: number; step: number; tag: string }
  | { type: "fire"; at: number };
type BenchEvent = { type: "inc" } | { type: "fired" };

/** Fire lags (clock ms after fireAt) seen by the actor's decide, for the timer figures. */
const fireLags: number[] = [];

/** A trivial actor: one event per `inc`; `armMany` arms n timers in one turn. */
const benchActor: ActorBehavior<{ n: number }, BenchCommand, BenchEvent> = {
  kind: "bench",
  initialState: () => ({ n: 0 }),
  decide(s, c, ctx) {
    switch (c.type) {
      case "inc":
        return { events: [{ type: "inc" }], reply: s.n + 1 };
      case "armMany":
        return {
          events: [],
          armTimers: Array.from({ length: c.n }, (_, i) => ({
            id: `${c.tag}${i}`,
            fireAt: c.from + i * c.step,
            command: { type: "fire", at: c.from + i * c.step },
          })),
        };
      case "fire":
        fireLags.push(ctx.now - c.at);
        return { events: [{ type: "fired" }] };
    }
  },
  evolve: (s, e) => (e.type === "inc" ? { n: s.n + 1 } : s),
  query: (s) => s,
};

// ---------------------------------------------------------------- helpers

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const rssMb = () => process.memoryUsage().rss / 1024 / 1024;

async function freshDb(): Promise<{ url: string; sql: Sql; drop(): Promise<void> }> {
  const db = await createTestDatabase();
  const sql = connect(db.url, { max: 10 });
  await migrate(sql, "runtime", runtimeMigrations);
  return {
    url: db.url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      await db.drop();
    },
  };
}

function benchNode(
  sql: Sql,
  transport: Transport,
  extra: Partial<ConstructorParameters<typeof RuntimeNode>[0]> = {},
) {
  return new RuntimeNode({
    sql,
    transport,
    log: createLogger({ bench: "runtime" }),
    actors: [{ prefix: "b_", behavior: benchActor as ActorBehavior }, ...(extra.actors ?? [])],
    shardCount: 64,
    ...extra,
  });
}

type Asker = Pick<RuntimeNode, "ask">;

/** Closed loop: `concurrency` callers each ask `inc` of a random actor, for `ms`; returns turns/s. */
async function closedLoop(asker: Asker, actors: string[], concurrency: number, ms: number): Promise<number> {
  let done = 0;
  let errors = 0;
  const end = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const id = actors[Math.floor(Math.random() * actors.length)] as string;
        try {
          await asker.ask(id, { type: "inc" }, { timeoutMs: 10_000 });
          done++;
        } catch {
          errors++;
        }
      }
    }),
  );
  if (errors > 0) log(`${errors} asks failed during the closed loop`);
  return done / ((performance.now() - start) / 1000);
}

/** Open loop at `rate` asks/s for `ms`: latency of each ask from send to reply. */
async function openLoop(asker: Asker, actors: string[], rate: number, ms: number): Promise<number[]> {
  const lat: number[] = [];
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  let errors = 0;
  while (performance.now() - start < ms) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    for (; sent < due; sent++) {
      const id = actors[sent % actors.length] as string;
      const t0 = performance.now();
      inflight.push(
        asker.ask(id, { type: "inc" }, { timeoutMs: 10_000 }).then(
          () => {
            lat.push(performance.now() - t0);
          },
          () => {
            errors++;
          },
        ),
      );
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  if (errors > 0) log(`${errors} asks failed during the open loop`);
  return lat;
}

async function throughputAndLatency(
  emit: Emit,
  name: string,
  asker: Asker,
  prefix: string,
  opts: { concurrency: number; latency: boolean },
): Promise<void> {
  const actors = Array.from({ length: 2000 }, (_, i) => `${prefix}${i}`);
  await closedLoop(asker, actors, opts.concurrency, 2_000); // warm-up: activations, JIT, prepared plans
  const peak = await closedLoop(asker, actors, opts.concurrency, 6_000);
  emit({
    bench: `runtime.turns_per_s.${name}`,
    value: Math.round(peak),
    unit: "turns/s",
    concurrency: opts.concurrency,
  });
  log(`${name}: ${Math.round(peak)} turns/s`);
  if (!opts.latency) return;
  const lat = await openLoop(asker, actors, peak / 2, 5_000);
  const p50 = percentile(lat, 50);
  const p99 = percentile(lat, 99);
  const transport = name.split("_")[0];
  const ctx = { transport, rate_per_s: Math.round(peak / 2), samples: lat.length };
  if (transport === "nats") {
    emit({ bench: "runtime.ask_p50_ms", value: round(p50, 2), unit: "ms", ...ctx });
    emit({ bench: "runtime.ask_p99_ms", value: round(p99, 2), unit: "ms", ...ctx });
  }
  emit({ bench: `runtime.ask_p50_ms.${name}`, value: round(p50, 2), unit: "ms", ...ctx });
  emit({ bench: `runtime.ask_p99_ms.${name}`, value: round(p99, 2), unit: "ms", ...ctx });
  log(`${name}: ask p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms at ${Math.round(peak / 2)}/s`);
}

// ---------------------------------------------------------------- child processes

function spawnNodeProc(dbUrl: string, natsUrls: string[], nodeId: string): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    let ready = false;
    const p = spawnTracked(process.execPath, ["--import", "tsx", "test/runtime/node-proc.ts"], {
      cwd: repoRoot,
      env: {
        ...process.env,
        LINKFLOW_NODE_DB: dbUrl,
        LINKFLOW_NODE_NATS: natsUrls.join(","),
        LINKFLOW_NODE_ID: nodeId,
        LINKFLOW_NODE_SHARDS: "64",
        LINKFLOW_LOG_LEVEL: "error",
      },
      onOutput: () => {
        if (!ready && p.output().includes(`ready ${nodeId}`)) {
          ready = true;
          resolve(p);
        }
      },
    });
    p.child.once("exit", () => {
      if (!ready) reject(new Error(`node ${nodeId} exited during startup:\n${p.output()}`));
    });
  });
}

/** Runs one child scenario of this file and returns the JSON object it printed last. */
async function runChild(scenario: string, dbUrl: string): Promise<Record<string, number>> {
  const p = spawnTracked(process.execPath, ["--expose-gc", "--import", "tsx", "test/bench/runtime.ts"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      LINKFLOW_BENCH_CHILD: scenario,
      LINKFLOW_BENCH_DB: dbUrl,
      LINKFLOW_LOG_LEVEL: "error",
    },
    onOutput: (chunk) => {
      for (const line of chunk.split("\n")) if (line.startsWith("progress ")) log(line.slice(9));
    },
  });
  await p.waitForExit(240_000);
  const line = p
    .output()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("result "));
  if (p.child.exitCode !== 0 || !line)
    throw new Error(`child ${scenario} failed:\n${p.output().slice(-4000)}`);
  return JSON.parse(line.slice(7)) as Record<string, number>;
}

async function gcRss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(50);
  }
  return rssMb();
}

/** Child: 100,000 actors activated once and passivated, then 10,000 active; RSS of this node process. */
async function childRss(sql: Sql): Promise<Record<string, number>> {
  const node = benchNode(sql, new LocalTransport(), { maxActive: 200_000, idleMs: 3_600_000 });
  await node.start();
  const baseline = await gcRss();
  const ids = Array.from({ length: 100_000 }, (_, i) => `b_m${i}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: 400 }, async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        await node.ask(id, { type: "inc" });
      }
    }),
  );
  process.stdout.write("progress 100,000 actors journaled\n");
  const passivated = node.passivate(0);
  next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < 10_000) {
        const id = ids[next++ * 10] as string;
        await node.ask(id, { type: "inc" });
      }
    }),
  );
  const rss = await gcRss();
  const active = node.status().activeActors;
  await node.stop();
  return { rss, baseline, passivated, active };
}

/** Child: arm 1,000,000 timers through turns, then the fire lag of timers due soon while they are pending. */
async function childTimers(sql: Sql): Promise<Record<string, number>> {
  const node = benchNode(sql, new LocalTransport(), { maxActive: 200_000 });
  await node.start();
  const far = Date.now() + 30 * 86_400_000;
  const perTurn = 500;
  const turns = 2_000; // 1,000,000 timers
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < turns) {
        const i = next++;
        await node.ask(`b_t${i}`, { type: "armMany", n: perTurn, from: far + i, step: 1000, tag: "far" });
      }
    }),
  );
  const armSeconds = (performance.now() - t0) / 1000;
  const armPerS = (perTurn * turns) / armSeconds;
  process.stdout.write(`progress armed 1,000,000 timers in ${armSeconds.toFixed(1)} s\n`);
  node.passivate(0);
  const rss = await gcRss();

  // 2,000 timers due over the next ~4 s (20 actors x 100), while the million stay pending.
  fireLags.length = 0;
  const start = Date.now() + 1_000;
  await Promise.all(
    Array.from({ length: 20 }, (_, a) =>
      node.ask(`b_soon${a}`, { type: "armMany", n: 100, from: start + a * 2, step: 40, tag: "soon" }),
    ),
  );
  const deadline = Date.now() + 30_000;
  while (fireLags.length < 2_000 && Date.now() < deadline) await sleep(100);
  const fired = fireLags.length;
  const p50 = percentile(fireLags, 50);
  const p99 = percentile(fireLags, 99);
  const [{ n } = { n: 0n }] = await sql<{ n: bigint }[]>`select count(*)::bigint as n from runtime.timers`;
  await node.stop();
  return { armPerS, rss, fired, p50, p99, pending: Number(n) };
}

async function childMain(scenario: string): Promise<void> {
  const sql = connect(process.env.LINKFLOW_BENCH_DB as string, { max: 10 });
  try {
    const r = scenario === "rss" ? await childRss(sql) : await childTimers(sql);
    process.stdout.write(`result ${JSON.stringify(r)}\n`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

// ---------------------------------------------------------------- the suite

export default async function run(emit: Emit): Promise<void> {
  const pg = await startPostgres();
  process.env.LINKFLOW_PG_ADMIN_URL = pg.adminUrl;
  const cleanups: Array<() => Promise<void>> = [async () => pg.stop()];
  try {
    const nats = await startNats();
    cleanups.unshift(() => nats.stop());

    // 1. One node, local transport.
    {
      const db = await freshDb();
      const node = benchNode(db.sql, new LocalTransport());
      await node.start();
      await throughputAndLatency(emit, "local_1node", node, "b_l", { concurrency: 400, latency: true });
      log(`local_1node: ${node.status().commitBatches} commit statements`);
      await node.stop();
      await db.drop();
    }

    // 2. One node over NATS, asked by a client-only node (same process).
    {
      const db = await freshDb();
      const node = benchNode(db.sql, await NatsTransport.connect(nats.urls, "bench-server"));
      await node.start();
      const client = benchNode(db.sql, await NatsTransport.connect(nats.urls, "bench-client"), {
        serve: false,
      });
      await client.start();
      await throughputAndLatency(emit, "nats_1node", client, "b_n", { concurrency: 400, latency: true });
      await client.stop();
      await node.stop();
      await db.drop();
    }

    // 3. Three node processes over NATS; then SIGKILL one and time the failover.
    {
      const db = await freshDb();
      const procs: Spawned[] = [];
      cleanups.unshift(async () => {
        await Promise.all(procs.map((p) => p.kill("SIGKILL")));
      });
      for (const id of ["bench-n1", "bench-n2", "bench-n3"]) {
        procs.push(await spawnNodeProc(db.url, nats.urls, id));
      }
      const client = benchNode(db.sql, await NatsTransport.connect(nats.urls, "bench-client3"), {
        serve: false,
        actors: [{ prefix: "ctr_", behavior: benchActor as ActorBehavior }],
      });
      await client.start();
      // Wait until the three nodes agree on the shards.
      for (const t0 = Date.now(); Date.now() - t0 < 20_000; await sleep(200)) {
        const owners = new Set(
          (await client.leases.list()).map((l) => (l.expiresAt > new Date() ? l.owner : null)),
        );
        if (owners.size === 3 && !owners.has(null)) break;
      }
      const actors = Array.from({ length: 2000 }, (_, i) => `ctr_b${i}`);
      const asker: Asker = { ask: (id, _c, o) => client.ask(id, { type: "add", n: 1 }, o) };
      await closedLoop(asker, actors, 400, 2_000);
      const peak = await closedLoop(asker, actors, 400, 6_000);
      emit({
        bench: "runtime.turns_per_s.nats_3nodes",
        value: Math.round(peak),
        unit: "turns/s",
        concurrency: 400,
      });
      log(`nats_3nodes: ${Math.round(peak)} turns/s`);

      // Failover: one probe actor per shard of the victim; time until every one answers again.
      const victim = "bench-n2";
      const leases = await client.leases.list();
      const victimShards = leases.filter((l) => l.owner === victim).map((l) => l.shard);
      const probes = new Map<number, string>();
      for (let i = 0; probes.size < victimShards.length && i < 1_000_000; i++) {
        const id = `ctr_probe${i}`;
        const s = shardOf(id, 64);
        if (victimShards.includes(s) && !probes.has(s)) probes.set(s, id);
      }
      const background = closedLoop(asker, actors, 50, 9_000);
      await sleep(1_000);
      const killedAt = performance.now();
      await procs[1]?.kill("SIGKILL");
      const recovered = await Promise.all(
        [...probes.values()].map(async (id) => {
          const commandId = newId("cmd");
          for (;;) {
            try {
              await client.ask(id, { type: "add", n: 1 }, { commandId, timeoutMs: 500 });
              return (performance.now() - killedAt) / 1000;
            } catch {
              if (performance.now() - killedAt > 30_000) return Number.POSITIVE_INFINITY;
            }
          }
        }),
      );
      await background;
      const failover = Math.max(...recovered);
      emit({
        bench: "runtime.failover_s",
        value: round(failover, 2),
        unit: "s",
        shards_moved: victimShards.length,
        lease_ttl_ms: 2000,
      });
      log(`failover: ${failover.toFixed(2)} s for ${victimShards.length} shards`);
      await client.stop();
      await Promise.all(procs.map((p) => p.kill("SIGTERM", 5_000)));
      await db.drop();
    }

    // 4. Memory: 100,000 passivated and 10,000 active actors (own process).
    {
      const db = await freshDb();
      const r = await runChild("rss", db.url);
      emit({
        bench: "runtime.rss_mb.100k_passivated_10k_active",
        value: round(r.rss ?? Number.NaN),
        unit: "MB",
        baseline_mb: round(r.baseline ?? Number.NaN),
        active: r.active,
        passivated: r.passivated,
      });
      await db.drop();
    }

    // 5. Timers: a million pending (own process).
    {
      const db = await freshDb();
      const r = await runChild("timers", db.url);
      emit({ bench: "runtime.timers.arm_per_s", value: Math.round(r.armPerS ?? 0), unit: "timers/s" });
      emit({
        bench: "runtime.timers.rss_mb_1m_pending",
        value: round(r.rss ?? Number.NaN),
        unit: "MB",
        pending: r.pending,
      });
      emit({
        bench: "runtime.timers.fire_lag_p99_ms",
        value: round(r.p99 ?? Number.NaN, 1),
        unit: "ms",
        p50_ms: round(r.p50 ?? Number.NaN, 1),
        fired: r.fired,
        pending: r.pending,
      });
      await db.drop();
    }
  } finally {
    for (const c of cleanups) await c().catch(() => {});
  }
}

const child = process.env.LINKFLOW_BENCH_CHILD;
if (child) {
  await childMain(child);
  process.exit(0);
}
