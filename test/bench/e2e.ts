/**
 * End-to-end throughput: complete onboarding-and-payout workflows per second
 * (create through the gRPC API, four customer steps through the customer
 * page's HTTP endpoints, every activity through the services, the completion
 * webhook delivered), on one node and on three nodes over NATS, and the
 * latency of one customer step with 64 workflows in flight.
 *
 * The template is examples/onboard_and_pay.flow without its one-time code
 * (published as `onboard_and_pay_bench`), so each workflow is exactly the four
 * steps; everything else is identical.
 */

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { credentials, Metadata } from "@grpc/grpc-js";
import { connect } from "../../core/index.ts";
import { bootstrapBusiness } from "../../gateway/node/index.ts";
import { WorkflowServiceClient } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { SHARED_TEMPLATES, TemplateStore } from "../../services/workflows/index.ts";
import { startNats, startPostgres, startTwilioServer, startWebhookReceiver } from "../infra/index.ts";
import { HttpCustomer } from "../support/http-customer.ts";
import { type NodeChildInfo, spawnNode } from "../support/node-child.ts";
import { callsPerUnit, nodeCalls } from "./lib/node-calls.ts";
import { PG_STATEMENT_FLAGS, resetStatements, statementFigures } from "./lib/pg-statements.ts";
import { cpuSeconds } from "./lib/proc-cpu.ts";
import type { Emit } from "./run.ts";

const IN_FLIGHT = Number(process.env.LINKFLOW_BENCH_E2E_IN_FLIGHT ?? 64);
/** Workflows run before measuring. */
const WARM_UP = Number(process.env.LINKFLOW_BENCH_E2E_WARM_UP ?? 200);
const log = (s: string) => process.stderr.write(`  e2e: ${s}\n`);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/** Submits the current step and returns once the page shows a different step (ms). */
async function step(c: HttpCustomer, fields: Record<string, string>): Promise<number> {
  const before = c.title;
  const t0 = performance.now();
  await c.submit({ decision: "approve", ...fields });
  if (c.status !== 200) throw new Error(`step "${before}" answered ${c.status}: ${c.title}`);
  while (c.title === before || c.title === "Just a moment") {
    await new Promise((r) => setTimeout(r, 20));
    await c.open();
  }
  return performance.now() - t0;
}

async function runCluster(
  nodesWanted: number,
  workflows: number,
  emitName: string,
  emit: Emit,
  stepLatencies?: number[],
) {
  const pg = await startPostgres({ postgresFlags: PG_STATEMENT_FLAGS });
  const stops: Array<() => Promise<unknown>> = [() => pg.stop()];
  try {
    const twilio = await startTwilioServer();
    stops.push(() => twilio.stop());
    const secrets: string[] = [];
    const hooks = await startWebhookReceiver({ secrets: () => secrets });
    stops.push(() => hooks.stop());
    let natsUrls: string[] = [];
    if (nodesWanted > 1) {
      const nats = await startNats();
      stops.push(() => nats.stop());
      natsUrls = nats.urls;
    }
    const base = {
      databaseUrl: pg.adminUrl,
      transport:
        nodesWanted > 1 ? ({ kind: "nats", servers: natsUrls } as const) : ({ kind: "local" } as const),
      grpcAddr: "127.0.0.1:0",
      httpAddr: "127.0.0.1:0",
      internalAddr: "127.0.0.1:0",
      linkSecret: randomBytes(32).toString("base64url"),
      keyring: { currentKeyId: "k1", keys: { k1: randomBytes(32).toString("base64") } },
      sms: {
        kind: "twilio",
        accountSid: twilio.accountSid,
        authToken: twilio.authToken,
        from: "+15005550006",
        baseUrl: twilio.baseUrl,
      } as const,
      email: { kind: "outbox" } as const,
      shardCount: 64,
      tuning: { webhookPollMs: 200, effectPollMs: 500, timerPollMs: 500 },
      // All simulated customers share one IP here; real ones do not. One business creates every workflow.
      portalRateLimits: { perIp: 1e9, perLink: 1e9 },
      apiRateLimit: { burst: 1e9, perSecond: 1e9 },
    };
    // The nodes run in their own processes, so the load generator here does not share their CPU.
    const profile = process.env.LINKFLOW_BENCH_PROFILE_DIR
      ? ["--cpu-prof", `--cpu-prof-dir=${process.env.LINKFLOW_BENCH_PROFILE_DIR}`]
      : [];
    const nodes: NodeChildInfo[] = [];
    for (let i = 0; i < nodesWanted; i++) {
      const n = await spawnNode(base, { nodeArgs: profile });
      nodes.push(n.info);
      stops.push(n.stop);
    }
    const sql = connect(pg.adminUrl, { max: 2 });
    stops.push(() => sql.end());
    const src = (await readFile(new URL("../../examples/onboard_and_pay.flow", import.meta.url), "utf8"))
      .replace("template onboard_and_pay ", "template onboard_and_pay_bench ")
      .replace(/\n\s*verify with one-time code[^\n]*/, "");
    await new TemplateStore(sql).publish(SHARED_TEMPLATES, src, "onboard_and_pay_bench.flow");
    const b = await bootstrapBusiness(nodes[0]!.internalAddress, {
      name: "Bench",
      webhookUrl: hooks.url,
      eventTypes: ["workflow.completed"],
    });
    secrets.push(b.webhookSecret!);
    await new Promise((r) => setTimeout(r, nodesWanted > 1 ? 2000 : 200));
    const clients = nodes.map((n) => new WorkflowServiceClient(n.grpcAddress, credentials.createInsecure()));
    stops.push(async () => {
      for (const c of clients) c.close();
    });
    const md = new Metadata();
    md.set("authorization", `Bearer ${b.apiKey}`);

    const one = async (i: number) => {
      const api = clients[i % clients.length]!;
      const res = await call(
        api,
        "createWorkflow",
        {
          templateName: "onboard_and_pay_bench",
          templateVersion: 0,
          inputs: { amount: "25.00 USD" },
          customerPhone: `+1415${String(5_000_000 + i).padStart(7, "0")}`,
          customerEmail: "",
          customerId: "",
          channel: 0,
          externalId: "",
          memo: "",
          idempotencyKey: `bench-${emitName}-${i}`,
        },
        { metadata: md },
      );
      // Spread customers over the nodes' HTTP front doors like a load balancer would.
      const node = nodes[(i + 1) % nodes.length]!;
      const s = new HttpCustomer(res.linkUrl).on(`http://${node.httpAddress}`);
      await s.open();
      const lat = [
        await step(s, { first_name: "Bench", last_name: `User${i}`, email: `u${i}@example.com` }),
        await step(s, {
          kind: "bank_account",
          routing_number: "011000015",
          account_number: `0005556${String(i).padStart(5, "0")}`,
          account_type: "checking",
          name_on_account: "Bench",
        }),
        await step(s, { accept_0: "on", accept_1: "on" }),
        await step(s, {}),
      ];
      if (s.title !== "All done") throw new Error(`workflow ${i} ended on "${s.title}"`);
      stepLatencies?.push(...lat);
      return res.workflow!.id;
    };

    // Warm-up (the JIT compiles the hot paths over the first few hundred workflows), then the
    // measured run with IN_FLIGHT workflows at a time.
    let warm = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (warm < WARM_UP) await one(1_000_000 + warm++);
      }),
    );
    const ids = new Set<string>();
    let next = 0;
    // Steady state: the tables hold the warm-up's rows and their statistics say so, as autovacuum's
    // analyze would on a running system (it comes by once a minute; the whole run is shorter). Plans
    // cached while the tables were empty would otherwise scan them for the rest of the run.
    await sql.unsafe("analyze");
    await resetStatements(sql);
    // CPU used by the nodes and by Postgres, per workflow: a figure that other load on the machine does not skew.
    const cpu = () => ({
      nodes: nodes.reduce((sum, n) => sum + cpuSeconds(n.pid), 0),
      postgres: cpuSeconds(pg.pid, { children: true }),
      // This process: the customers, the Twilio-protocol server and the webhook receiver.
      loadGenerator: cpuSeconds(process.pid),
    });
    const httpAddresses = nodes.map((n) => n.httpAddress);
    const calls0 = await nodeCalls(httpAddresses);
    const cpu0 = cpu();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < workflows) ids.add(await one(next++));
      }),
    );
    // Done means the completion webhook reached the business too.
    for (;;) {
      const delivered = new Set(
        hooks.deliveries.map((d) => (d.json as { data: { workflow_id: string } }).data.workflow_id),
      );
      if ([...ids].every((id) => delivered.has(id))) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = cpu();
    const calls = callsPerUnit(calls0, await nodeCalls(httpAddresses), workflows);
    const rate = workflows / secs;
    log(`${emitName}: ${workflows} workflows in ${secs.toFixed(1)} s`);
    // LINKFLOW_BENCH_E2E_STATEMENTS=1 lists the 25 most frequent statements; a larger number lists that many.
    const listed = Number(process.env.LINKFLOW_BENCH_E2E_STATEMENTS ?? 0);
    const pgFigures = await statementFigures(sql, workflows, listed > 1 ? listed : 25);
    if (listed > 0) {
      for (const t of pgFigures.top)
        log(`${t.calls.toFixed(2)}/wf  ${t.execMs.toFixed(3)} ms/wf  ${t.statement}`);
    }
    emit({
      bench: `e2e.node_cpu_ms_per_workflow.${emitName}`,
      value: Number(((1000 * (cpu1.nodes - cpu0.nodes)) / workflows).toFixed(2)),
      unit: "ms",
      postgres_cpu_ms_per_workflow: Number(((1000 * (cpu1.postgres - cpu0.postgres)) / workflows).toFixed(2)),
      load_generator_cpu_ms_per_workflow: Number(
        ((1000 * (cpu1.loadGenerator - cpu0.loadGenerator)) / workflows).toFixed(2),
      ),
    });
    emit({
      bench: `e2e.pg_statements_per_workflow.${emitName}`,
      value: Number(pgFigures.perUnit.toFixed(1)),
      unit: "statements",
      exec_ms_per_workflow: Number(pgFigures.execMsPerUnit.toFixed(2)),
    });
    const sum = (prefix: string) =>
      Object.entries(calls).reduce((n, [k, v]) => (k.startsWith(prefix) ? n + v : n), 0);
    emit({
      bench: `e2e.node_calls_per_workflow.${emitName}`,
      value: Number((sum("grpc ") + sum("http ")).toFixed(1)),
      unit: "calls",
      grpc: Number(sum("grpc ").toFixed(1)),
      http: Number(sum("http ").toFixed(1)),
      by_kind: calls,
    });
    emit({
      bench: `e2e.workflows_per_s.${emitName}`,
      value: Number(rate.toFixed(1)),
      unit: "workflows/s",
      workflows,
      in_flight: IN_FLIGHT,
    });
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {});
  }
}

export default async function run(emit: Emit): Promise<void> {
  const n = Number(process.env.LINKFLOW_BENCH_E2E_WORKFLOWS ?? 1000);
  const lat: number[] = [];
  if (process.env.LINKFLOW_BENCH_E2E_SKIP_1NODE === "1") return runCluster(3, n, "3nodes", emit);
  await runCluster(1, n, "1node", emit, lat);
  emit({
    bench: "e2e.step_p50_ms",
    value: Number(percentile(lat, 50).toFixed(1)),
    unit: "ms",
    in_flight: IN_FLIGHT,
    samples: lat.length,
  });
  emit({
    bench: "e2e.step_p99_ms",
    value: Number(percentile(lat, 99).toFixed(1)),
    unit: "ms",
    in_flight: IN_FLIGHT,
    samples: lat.length,
  });
  if (process.env.LINKFLOW_BENCH_E2E_SKIP_3NODES !== "1") await runCluster(3, n, "3nodes", emit);
}
