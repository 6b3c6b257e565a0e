import { connect, JSONCodec, type NatsConnection, RequestStrategy } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../bin/linkflow.ts";
import { collectNodeReports, RUNTIME_SERVICE_NAME } from "../../runtime/index.ts";
import { HttpCustomer } from "../support/http-customer.ts";
import { type Cluster, POLL, SHARDS, startCluster } from "./cluster.ts";

// What an SRE sees of a running cluster from outside its processes: the NATS micro
// services the nodes register and the CLI reading Postgres and NATS.
let c: Cluster;
let nc: NatsConnection;
let workflowId = "";
const phone = "+14155550155";

beforeAll(async () => {
  c = await startCluster();
  nc = await connect({ servers: c.natsUrl });
  const w = await c.createWorkflow({ via: 0, template: "welcome", phone, key: "views-1" });
  workflowId = w.id;
  const customer = new HttpCustomer(w.link, c.twilio, phone);
  await customer.waitFor("Confirm your details");
  await customer.submit({ first_name: "Ada", last_name: "Lovelace" });
  await customer.waitFor("All done");
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await c?.stop();
});

async function cli(...argv: string[]) {
  return cliWith({ DATABASE_URL: c.databaseUrl, NATS_URL: c.natsUrl }, ...argv);
}

async function cliWith(env: { DATABASE_URL?: string; NATS_URL?: string }, ...argv: string[]) {
  const saved = { DATABASE_URL: process.env.DATABASE_URL, NATS_URL: process.env.NATS_URL };
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  try {
    let out = "";
    let err = "";
    const code = await main(argv, { out: (x) => (out += x), err: (x) => (err += x) });
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("the cluster as SREs see it", () => {
  it("each node process is a NATS micro service reporting its shards and lease epochs", async () => {
    const infos = [];
    for await (const i of await nc.services.client().info(RUNTIME_SERVICE_NAME)) infos.push(i);
    const ids = c.nodes.map((n) => n.info.nodeId).sort();
    expect(infos.map((i) => i.metadata?.node).sort()).toEqual(ids);
    expect(infos[0]!.endpoints.map((e) => e.subject)).toEqual([
      expect.stringMatching(/^linkflow\.node\..+\.status$/),
    ]);
    const reports = await collectNodeReports(nc);
    expect(reports.map((r) => r.nodeId).sort()).toEqual(ids);
    expect(reports.flatMap((r) => r.shards).sort((a, b) => a - b)).toEqual([...Array(SHARDS).keys()]);
    for (const r of reports) {
      expect(
        Object.keys(r.epochs)
          .map(Number)
          .sort((a, b) => a - b),
      ).toEqual(r.shards);
      expect(Object.values(r.epochs).every((e) => e >= 1)).toBe(true);
    }
  });

  it("answers the micro protocol's $SRV discovery subjects in the shape `nats micro ls|info|stats` reads", async () => {
    const json = JSONCodec<Record<string, unknown>>();
    // Stops at the answers expected (or after a generous wait, with fewer): no race with a short timer.
    const ask = async (subject: string, expected: number) => {
      const out: Record<string, unknown>[] = [];
      const it = await nc.requestMany(subject, undefined, {
        strategy: RequestStrategy.Count,
        maxMessages: expected,
        maxWait: POLL.timeout,
      });
      for await (const m of it) out.push(json.decode(m.data));
      return out.filter((r) => r.name === RUNTIME_SERVICE_NAME);
    };
    const ids = c.nodes.map((n) => n.info.nodeId).sort();
    // `nats micro ls`: one answer per node process on the unfiltered subject.
    const pings = await ask("$SRV.PING", 2);
    expect(pings.map((p) => p.type)).toEqual([
      "io.nats.micro.v1.ping_response",
      "io.nats.micro.v1.ping_response",
    ]);
    expect(pings.map((p) => (p.metadata as Record<string, string>).node).sort()).toEqual(ids);
    for (const p of pings)
      expect(p).toMatchObject({ id: expect.any(String), version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    // `nats micro info linkflow-runtime`: endpoints with subject and queue group.
    const infos = await ask(`$SRV.INFO.${RUNTIME_SERVICE_NAME}`, 2);
    expect(infos).toHaveLength(2);
    for (const i of infos) {
      const node = (i.metadata as Record<string, string>).node;
      expect(i).toMatchObject({
        type: "io.nats.micro.v1.info_response",
        description: expect.any(String),
        endpoints: [
          { name: "status", subject: `linkflow.node.${node}.status`, queue_group: expect.any(String) },
        ],
      });
    }
    // `nats micro stats linkflow-runtime <id>`: one instance by id, counting the requests it served.
    const one = pings[0]!;
    const node = (one.metadata as Record<string, string>).node!;
    const statsOf = async () => {
      const answers = await ask(`$SRV.STATS.${RUNTIME_SERVICE_NAME}.${one.id}`, 1);
      expect(answers).toHaveLength(1);
      return answers[0]!;
    };
    const before = await statsOf();
    expect(before).toMatchObject({
      type: "io.nats.micro.v1.stats_response",
      id: one.id,
      started: expect.any(String),
    });
    const served = (s: Record<string, unknown>) =>
      (s.endpoints as { num_requests: number }[])[0]!.num_requests;
    for (let i = 0; i < 3; i++) {
      const reply = json.decode(
        (await nc.request(`linkflow.node.${node}.status`, undefined, { timeout: 5000 })).data,
      );
      expect(reply.nodeId).toBe(node);
    }
    const after = await statsOf();
    expect(served(after) - served(before)).toBe(3);
    // The stats answer carries the node's live report.
    const data = (after.endpoints as { data?: { nodeId?: string; shards?: number[] } }[])[0]!.data;
    expect(data?.nodeId).toBe(node);
    expect(data?.shards?.length).toBeGreaterThan(0);
  });

  it("linkflow cluster status lists both nodes with their shards, actors, timer lag and leases", async () => {
    const status = await cli("cluster", "status");
    expect(status.err).toBe("");
    expect(status.code).toBe(0);
    expect(status.out).toMatch(new RegExp(`^shards: ${SHARDS} {3}nodes: 2 `));
    let held = 0;
    for (const n of c.nodes) {
      const row = status.out.split("\n").find((l) => l.startsWith(n.info.nodeId)) ?? "";
      // Node, shards held, live active actors and queue, timer lag, then its leases as shard@epoch.
      const m = new RegExp(
        `^${n.info.nodeId}\\s+(\\d+)\\s+\\d+\\s+\\d+\\s+\\d+ ms\\s+((?:\\d+@\\d+ ?)+)$`,
      ).exec(row);
      expect(m, row).not.toBeNull();
      // Its leases are the table's, epochs included.
      const leases = await c.sql<{ shard: number; epoch: string }[]>`
        select shard, epoch::text from runtime.shard_leases
         where owner = ${n.info.nodeId} and expires_at > now() order by shard`;
      expect(m![2]!.trim().split(" ")).toEqual(leases.map((l) => `${l.shard}@${l.epoch}`));
      held += Number(m![1]);
    }
    expect(held).toBe(SHARDS);
  });

  it("linkflow cluster status without NATS still shows the leases, and says why the live columns are empty", async () => {
    const status = await cliWith(
      { DATABASE_URL: c.databaseUrl, NATS_URL: "nats://127.0.0.1:1" },
      "cluster",
      "status",
    );
    expect(status.code).toBe(0);
    expect(status.err).toMatch(/^warning: no live reports from NATS/);
    for (const n of c.nodes) {
      const row = status.out.split("\n").find((l) => l.startsWith(n.info.nodeId)) ?? "";
      expect(row, status.out).toMatch(
        new RegExp(`^${n.info.nodeId}\\s+\\d+\\s+-\\s+-\\s+-\\s+(\\d+@\\d+ ?)+$`),
      );
    }
    expect(status.out).toContain("set NATS_URL for live actor counts");
    const noDb = await cliWith({ DATABASE_URL: "" }, "cluster", "status");
    expect(noDb.code).toBe(2);
    expect(noDb.err).toMatch(/set DATABASE_URL/);
  });

  it("linkflow workflow show prints the journal's timeline without the customer's details", async () => {
    const show = await cli("workflow", "show", workflowId);
    expect(show.code).toBe(0);
    const lines = show.out.split("\n");
    expect(lines[0]).toMatch(new RegExp(`^${workflowId}  kind workflow  shard \\d+  events \\d+`));
    const types = lines
      .slice(2)
      .map((l) => l.split(/\s+/)[4])
      .filter(Boolean);
    expect(types[0]).toBe("workflow.created");
    // (No `link.sent` to expect: the customer may open the link before the SMS's answer is journaled.)
    expect(types, show.out).toEqual(
      expect.arrayContaining(["notification.sent", "link.opened", "step.submitted", "workflow.completed"]),
    );
    expect(show.out).not.toContain("Lovelace");
    expect(show.out).not.toContain(phone);
    const missing = await cli("workflow", "show", "wf_nope");
    expect(missing.code).toBe(1);
  });
});
