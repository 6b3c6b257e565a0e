/**
 * One runtime node in its own process, for the multi-process tests and the
 * runtime benchmark: a RuntimeNode over NATS hosting the counter actor, with a
 * `test.effect` handler that records every call at an idempotent receiver in
 * Postgres (`effect_calls`: one row per call; `effect_receipts`: one row per
 * idempotency key, `calls` counting deliveries).
 *
 * Configuration from the environment: LINKFLOW_NODE_DB (Postgres URL),
 * LINKFLOW_NODE_NATS (comma-separated URLs), LINKFLOW_NODE_ID,
 * LINKFLOW_NODE_SHARDS (default 64). Prints `ready <nodeId>` once it holds its
 * shards; SIGTERM stops it gracefully.
 */
import { connect, createLogger, migrate } from "../../core/index.ts";
import { NatsTransport, RuntimeNode, runtimeMigrations } from "../../runtime/index.ts";
import { counter } from "./counter.ts";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const nodeId = env("LINKFLOW_NODE_ID");
const sql = connect(env("LINKFLOW_NODE_DB"), { max: 8 });
await migrate(sql, "runtime", runtimeMigrations);
// Three nodes start at once: "create table if not exists" races without a lock.
await sql.begin(async (tx) => {
  await tx`select pg_advisory_xact_lock(hashtext('linkflow.test.receiver'))`;
  await tx.unsafe(`
    create table if not exists public.effect_calls (key text not null, node text not null, at timestamptz not null default clock_timestamp());
    create table if not exists public.effect_receipts (key text primary key, calls int not null, first_node text not null);
  `);
});

const transport = await NatsTransport.connect(env("LINKFLOW_NODE_NATS").split(","), nodeId);
const node = new RuntimeNode({
  sql,
  transport,
  nodeId,
  log: createLogger({ proc: nodeId }),
  actors: [{ prefix: "ctr_", behavior: counter }],
  shardCount: Number(process.env.LINKFLOW_NODE_SHARDS ?? 64),
  heartbeatMs: 250,
  memberTimeoutMs: 1_000,
  leaseTtlMs: 2_000,
  timerPollMs: 100,
  effectPollMs: 200,
  effectRetry: { baseMs: 50, maxMs: 500, maxAttempts: 20 },
  effects: {
    "test.effect": async (_payload, ctx) => {
      await sql`insert into public.effect_calls (key, node) values (${ctx.idempotencyKey}, ${nodeId})`;
      const [r] = await sql<{ calls: number }[]>`
        insert into public.effect_receipts (key, calls, first_node) values (${ctx.idempotencyKey}, 1, ${nodeId})
        on conflict (key) do update set calls = effect_receipts.calls + 1
        returning calls`;
      return { calls: r?.calls ?? 0 };
    },
  },
});
await node.start();

let stopping = false;
process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  void node
    .stop()
    .then(() => sql.end({ timeout: 5 }))
    .finally(() => process.exit(0));
});
process.stdout.write(`ready ${nodeId}\n`);
