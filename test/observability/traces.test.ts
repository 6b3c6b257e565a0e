import { readFile } from "node:fs/promises";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileTemplate } from "../../dsl/index.ts";
import { shardOf } from "../../runtime/index.ts";
import type { ReceivedSpan } from "../infra/index.ts";
import { type Cluster, completeOnboarding, POLL, SHARDS, startCluster } from "./cluster.ts";
import { ancestry, descendants, traceOf, whereEach } from "./spans.ts";

// Each node is its own process exporting over OTLP/HTTP to a loopback receiver, so a trace
// holds together only if its context really crossed gRPC metadata and NATS headers.
let c: Cluster;
let workflowId = "";
let link = "";
let phone = "";
/** The node whose API and page the clients use, and the one owning the workflow's shard. */
let front = 0;
let owner = 1;

/** The `traceparent` header of every shard request, as another NATS subscriber sees it on the wire. */
const shardHeaders: { subject: string; traceparent?: string }[] = [];
let spy: NatsConnection;

beforeAll(async () => {
  c = await startCluster();
  spy = await connect({ servers: c.natsUrl, name: "traces-spy" });
  // A plain (non-queue) subscriber gets a copy of each request and never answers it.
  spy.subscribe("linkflow.shard.>", {
    callback: (_err, msg) =>
      shardHeaders.push({ subject: msg.subject, traceparent: msg.headers?.get("traceparent") || undefined }),
  });
  await spy.flush();
}, 120_000);

afterAll(async () => {
  await spy?.close();
  await c?.stop();
});

const pid = (i: number) => c.nodes[i]!.info.pid;
const frontPid = () => pid(front);
const ownerPid = () => pid(owner);

/**
 * Waits for a span matching `pred` whose trace also holds a span matching
 * `also`, and whose whole chain of parents up to a root has arrived (each
 * process exports its spans in its own batches).
 */
async function waitForSpan(
  pred: (s: ReceivedSpan) => boolean,
  also: (s: ReceivedSpan) => boolean,
): Promise<{ span: ReceivedSpan; trace: ReceivedSpan[] }> {
  let found: { span: ReceivedSpan; trace: ReceivedSpan[] } | undefined;
  await expect
    .poll(() => {
      for (const span of c.otlp.spans.filter(pred)) {
        const trace = traceOf(c.otlp.spans, span.traceId);
        const complete = (s: ReceivedSpan) => ancestry(s, trace).at(-1)?.parentSpanId === "";
        if (trace.some((s) => also(s) && complete(s)) && complete(span)) found = { span, trace };
      }
      return found !== undefined;
    }, POLL)
    .toBe(true);
  return found!;
}

describe("traces across two node processes, exported over OTLP", () => {
  it("CreateWorkflow on one process → actor turn on the other (over NATS) → notifications → Twilio is one trace", async () => {
    // Create through each node's API in turn until a workflow lands on the other node's shards
    // (alternating, so an uneven split of the shards cannot keep us from crossing).
    for (let i = 0; i < 16 && !workflowId; i++) {
      const to = `+1415555${String(2100 + i)}`;
      const via = i % 2;
      const w = await c.createWorkflow({
        via,
        template: "onboard_and_pay",
        phone: to,
        email: "grace@example.com",
        inputs: { amount: "40.00 USD" },
        key: `traces-${i}`,
      });
      if ((await c.ownerOf(w.id)) !== c.nodes[via]) {
        front = via;
        owner = 1 - via;
        workflowId = w.id;
        link = w.link;
        phone = to;
      }
    }
    expect(workflowId).toMatch(/^wf_/);

    const { span: turn, trace } = await waitForSpan(
      (s) =>
        s.name === "actor.turn" &&
        s.attributes["linkflow.actor_id"] === workflowId &&
        s.attributes["linkflow.command"] === "create",
      (s) => s.name === "sms.send twilio",
    );
    const template = compileTemplate(
      await readFile(new URL("../../examples/onboard_and_pay.flow", import.meta.url), "utf8"),
    ).program!.template;
    expect(turn.attributes).toMatchObject({
      "linkflow.node": c.nodes[owner]!.info.nodeId,
      "linkflow.transport": "nats",
      "linkflow.template": template.name,
      "linkflow.template_version": template.version,
      "linkflow.shard": shardOf(workflowId, SHARDS),
    });
    // The create turn journaled the workflow's first events.
    expect(turn.attributes["linkflow.events"]).toBeGreaterThanOrEqual(1);
    expect(whereEach(ancestry(turn, trace))).toEqual([
      `actor.turn@${ownerPid()}`,
      `actor.ask@${frontPid()}`,
      `grpc.server CreateWorkflow@${frontPid()}`,
    ]);
    const root = trace.find((s) => s.name === "grpc.server CreateWorkflow")!;
    expect(root.parentSpanId).toBe("");
    expect(root.kind).toBe(2);
    // The NATS round trip is the asking process's CLIENT span.
    const nats = trace.find((s) => s.name === "nats.request linkflow.shard")!;
    expect(whereEach(ancestry(nats, trace))).toEqual([
      `nats.request linkflow.shard@${frontPid()}`,
      `actor.ask@${frontPid()}`,
      `grpc.server CreateWorkflow@${frontPid()}`,
    ]);
    expect(nats.kind).toBe(3);
    // On the wire the command carried the asking span's context as a W3C header on the shard's subject.
    const ask = trace.find((s) => s.spanId === turn.parentSpanId)!;
    expect(shardHeaders).toContainEqual({
      subject: `linkflow.shard.${shardOf(workflowId, SHARDS)}`,
      traceparent: `00-${ask.traceId}-${ask.spanId}-01`,
    });
    const sms = trace.find((s) => s.name === "sms.send twilio")!;
    expect(ancestry(sms, trace).map((s) => s.name)).toEqual([
      "sms.send twilio",
      "grpc.server /linkflow.v1.NotificationsService/SendSms",
      "grpc.client /linkflow.v1.NotificationsService/SendSms",
      "actor.effect",
      "actor.turn",
      "actor.ask",
      "grpc.server CreateWorkflow",
    ]);
    // The effect ran where the actor lives; the SMS went out once.
    expect(ancestry(sms, trace)[3]!.resource["process.pid"]).toBe(ownerPid());
    expect(c.twilio.messages.filter((m) => m.to === phone && m.body.includes("/l/"))).toHaveLength(1);
    // Two processes, each with its own service instance, same service.
    expect(new Set(trace.map((s) => s.resource["service.instance.id"])).size).toBe(2);
    expect(new Set(trace.map((s) => s.resource["service.name"]))).toEqual(new Set(["linkflow-test"]));
  });

  it("a customer's payout approval on one process's page → actor on the other → accounts and transactions → Postgres is one trace", async () => {
    expect(link).not.toBe("");
    // The page is served by the process that does not own the workflow.
    await completeOnboarding(c, {
      link,
      phone,
      email: "grace@example.com",
      bank: { routing_number: "011000015", account_number: "000123456789" },
      baseUrl: `http://${c.nodes[front]!.info.httpAddress}`,
    });

    const { span: create, trace } = await waitForSpan(
      (s) => s.name === "grpc.server /linkflow.v1.TransactionsService/CreateTransaction",
      (s) => s.name === "actor.turn" && s.attributes["linkflow.actor_id"] === workflowId,
    );
    const chain = ancestry(create, trace);
    expect(whereEach(chain)).toEqual([
      `grpc.server /linkflow.v1.TransactionsService/CreateTransaction@${ownerPid()}`,
      `grpc.client /linkflow.v1.TransactionsService/CreateTransaction@${ownerPid()}`,
      `actor.effect@${ownerPid()}`,
      `actor.turn@${ownerPid()}`,
      `actor.ask@${frontPid()}`,
      `http.server POST /l/:token@${frontPid()}`,
    ]);
    expect(chain.at(-1)!.parentSpanId).toBe("");
    expect(trace.some((s) => s.name === "grpc.server CreateWorkflow")).toBe(false);
    // The transactions service asks the accounts service whether the customer may transact.
    const check = trace.find((s) => s.name === "grpc.server /linkflow.v1.AccountsService/CheckTransactable");
    expect(check).toBeDefined();
    expect(ancestry(check!, trace).map((s) => s.name)).toContain(
      "grpc.server /linkflow.v1.TransactionsService/CreateTransaction",
    );
    // Both services' statements are spans of the same trace, with placeholders, never values.
    for (const service of [create, check!]) {
      const statements = descendants(service, trace).filter((s) => s.name === "pg.query");
      expect(statements.length, service.name).toBeGreaterThan(0);
      expect(statements.every((s) => s.attributes["db.system"] === "postgresql")).toBe(true);
    }
    const all = trace
      .filter((s) => s.name === "pg.query")
      .map((s) => String(s.attributes["db.statement"]))
      .join("\n");
    expect(all).toMatch(/\$1/);
    expect(all).not.toContain("000123456789");
    // The page's rate limits are Redis commands under the page's span, without their keys (ids).
    const page = chain.at(-1)!;
    const redis = descendants(page, trace).filter((s) => s.name.startsWith("redis."));
    expect(redis.length).toBeGreaterThan(0);
    expect(redis.every((s) => s.kind === 3 && s.attributes["db.system"] === "redis")).toBe(true);
    expect(JSON.stringify(redis.map((s) => s.attributes))).not.toContain(workflowId);
  });

  it("the completion email is a client span of the workflow's trace; each webhook attempt is a client span with the receiver's status", async () => {
    const { span: email, trace } = await waitForSpan(
      (s) => s.name === "email.send smtp",
      (s) => s.name === "actor.turn" && s.attributes["linkflow.actor_id"] === workflowId,
    );
    expect(email.kind).toBe(3);
    expect(whereEach(ancestry(email, trace).slice(0, 5))).toEqual([
      `email.send smtp@${ownerPid()}`,
      `grpc.server /linkflow.v1.NotificationsService/SendEmail@${ownerPid()}`,
      `grpc.client /linkflow.v1.NotificationsService/SendEmail@${ownerPid()}`,
      `actor.effect@${ownerPid()}`,
      `actor.turn@${ownerPid()}`,
    ]);
    expect(c.smtp.messages.filter((m) => JSON.stringify(m).includes("grace@example.com"))).toHaveLength(1);
    // Each delivery attempt is a span carrying the receiver's answer.
    await expect
      .poll(
        () =>
          c.otlp.spans.filter(
            (s) =>
              s.name === "webhook.send" &&
              s.kind === 3 &&
              s.attributes["linkflow.event_type"] === "workflow.completed" &&
              s.attributes["http.response.status_code"] === 200,
          ).length,
        POLL,
      )
      .toBe(1);
  });

  it("no exported span names the customer's phone, email, account number or link token, or the API key", () => {
    expect(link).toContain("/l/");
    const exported = JSON.stringify(c.otlp.spans.map((s) => [s.name, s.attributes]));
    expect(exported).toContain(workflowId);
    for (const secret of [
      phone,
      phone.slice(2),
      "grace@example.com",
      "000123456789",
      link.split("/l/")[1]!,
      c.business.apiKey,
    ]) {
      expect(exported).not.toContain(secret);
    }
  });

  it("a node stopped with SIGTERM flushes the spans it still batched", async () => {
    // Its batch never fills and its timer never fires: only the flush on shutdown can export.
    const quiet = await c.addNode({
      OTEL_BSP_SCHEDULE_DELAY: "3600000",
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "100000",
    });
    const from = (s: ReceivedSpan) => s.resource["process.pid"] === quiet.info.pid;
    // Joining the cluster ran statements (leases, membership), all still batched.
    const index = c.nodes.indexOf(quiet);
    await expect
      .poll(
        async () => (await c.scrape(index)).find((s) => s.name === "linkflow_runtime_cluster_members")?.value,
        POLL,
      )
      .toBe(3);
    expect(c.otlp.spans.some(from)).toBe(false);
    await quiet.stop();
    expect(quiet.child.exitCode).toBe(0);
    const flushed = c.otlp.spans.filter(from);
    expect(flushed.some((s) => s.name === "pg.query")).toBe(true);
  });
});
