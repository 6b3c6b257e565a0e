import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../bin/linkflow.ts";
import { createLogger, logSink, parseMetrics } from "../../core/index.ts";
import { collectNodeReports, type NatsTransport, RUNTIME_SERVICE_NAME } from "../../runtime/index.ts";
import { call } from "../../services/grpc/index.ts";
import { HttpCustomer } from "../support/http-customer.ts";
import { linkIn, type Stack, startStack } from "../support/stack.ts";

// Two nodes over a real nats-server, in one process: every span still crosses the NATS
// transport (the `traceparent` travels in the message headers), and each node's metrics
// are its own registry.
let stack: Stack;
const logs: string[] = [];
const realWrite = logSink.write;
const phone = "+14155550188";
let workflowId = "";
let link = "";
let customerPhone = "";

beforeAll(async () => {
  logSink.write = (line) => logs.push(line);
  stack = await startStack({ transport: "nats", nodes: 2 });
  // Both nodes hold shards before we pick a workflow the second node owns.
  for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
    // Rendezvous hashing does not split 16 shards exactly in half: wait until both hold some and none is unowned.
    const owned = stack.nodes.map((n) => n.runtime.status().shards.length);
    if (owned.every((k) => k > 0) && owned.reduce((a, b) => a + b, 0) === 16) break;
    if (Date.now() - t0 > 15_000) throw new Error("the two nodes did not share the shards");
  }
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  logSink.write = realWrite;
});

const spansOf = (traceId: string) =>
  stack.spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);

/** The chain of span names from `span` up to the root of its trace. */
function ancestry(span: ReadableSpan, trace: ReadableSpan[]): string[] {
  const byId = new Map(trace.map((s) => [s.spanContext().spanId, s]));
  const out: string[] = [];
  for (let s: ReadableSpan | undefined = span; s; s = byId.get(s.parentSpanContext?.spanId ?? "")) {
    out.push(s.name);
  }
  return out;
}

describe("observability on two nodes over NATS", () => {
  it("one trace covers CreateWorkflow → actor (other node, over NATS) → notifications → Twilio", async () => {
    // The API is node 0; create until the workflow lives on node 1 (each takes one SMS).
    for (let i = 0; i < 12 && !workflowId; i++) {
      const to = i === 0 ? phone : `+1415555${String(1000 + i).padStart(4, "0")}`;
      const res = await call(
        stack.api,
        "createWorkflow",
        {
          templateName: "welcome",
          templateVersion: 0,
          inputs: {},
          customerPhone: to,
          customerEmail: "",
          customerId: "",
          channel: 0,
          externalId: `obs-${i}`,
          memo: "",
          idempotencyKey: `observability-${i}`,
        },
        { metadata: stack.auth() },
      );
      const id = res.workflow!.id;
      if (stack.nodes[1]!.runtime.owns(id)) {
        workflowId = id;
        customerPhone = to;
        const sms = await stack.twilio
          .waitForMessage((m) => m.to === customerPhone)
          .catch((err) => {
            throw new Error(`${err}: ${JSON.stringify(stack.twilio.messages)} ${JSON.stringify(res)}`);
          });
        link = linkIn(sms.body);
      }
    }
    expect(workflowId).toMatch(/^wf_/);

    const findTurn = () =>
      stack.spans
        .getFinishedSpans()
        .find(
          (s) =>
            s.name === "actor.turn" &&
            s.attributes["linkflow.actor_id"] === workflowId &&
            s.attributes["linkflow.command"] === "create",
        );
    await expect
      .poll(() => {
        const t = findTurn();
        return t !== undefined && spansOf(t.spanContext().traceId).some((s) => s.name === "sms.send twilio");
      })
      .toBe(true);
    const turn = findTurn();
    expect(turn).toBeDefined();
    const trace = spansOf(turn!.spanContext().traceId);
    expect(turn!.attributes).toMatchObject({
      "linkflow.node": stack.nodes[1]!.nodeId,
      "linkflow.transport": "nats",
      "linkflow.template": "welcome",
      "linkflow.template_version": 1,
      "linkflow.shard": expect.any(Number),
    });
    expect(Number(turn!.attributes["linkflow.events"])).toBeGreaterThan(0);
    expect(ancestry(turn!, trace)).toEqual(["actor.turn", "actor.ask", "grpc.server CreateWorkflow"]);
    // The NATS round trip is its own CLIENT span under the ask.
    const nats = trace.find((s) => s.name === "nats.request linkflow.shard");
    expect(ancestry(nats!, trace)).toEqual([
      "nats.request linkflow.shard",
      "actor.ask",
      "grpc.server CreateWorkflow",
    ]);
    expect(nats!.attributes["messaging.destination.name"]).toMatch(/^linkflow\.shard\.\d+$/);
    const sms = trace.find((s) => s.name === "sms.send twilio");
    expect(sms).toBeDefined();
    expect(ancestry(sms!, trace)).toEqual([
      "sms.send twilio",
      "grpc.server /linkflow.v1.NotificationsService/SendSms",
      "grpc.client /linkflow.v1.NotificationsService/SendSms",
      "actor.effect",
      "actor.turn",
      "actor.ask",
      "grpc.server CreateWorkflow",
    ]);
    // The effect's result comes back to the actor as a turn of the same trace.
    const resultTurn = trace.find(
      (s) => s.name === "actor.turn" && s.attributes["linkflow.command"] === "effect.result",
    );
    expect(resultTurn && ancestry(resultTurn, trace).slice(0, 2)).toEqual(["actor.turn", "actor.effect"]);
  });

  it("one trace covers a customer step on the page (node 0) → actor (node 1) → accounts", async () => {
    expect(link).not.toBe("");
    const customer = new HttpCustomer(link, stack.twilio, customerPhone);
    await customer.waitFor("Confirm your details");
    await customer.submit({ first_name: "Ada", last_name: "Lovelace" });
    await customer.waitFor("All done");

    let create: ReadableSpan | undefined;
    await expect
      .poll(() => {
        create = stack.spans
          .getFinishedSpans()
          .find(
            (s) =>
              s.name === "grpc.server /linkflow.v1.AccountsService/CreateCustomer" &&
              spansOf(s.spanContext().traceId).some(
                (x) => x.name === "actor.turn" && x.attributes["linkflow.actor_id"] === workflowId,
              ),
          );
        return create !== undefined;
      })
      .toBe(true);
    const trace = spansOf(create!.spanContext().traceId);
    const chain = ancestry(create!, trace);
    expect(chain.slice(0, 5)).toEqual([
      "grpc.server /linkflow.v1.AccountsService/CreateCustomer",
      "grpc.client /linkflow.v1.AccountsService/CreateCustomer",
      "actor.effect",
      "actor.turn",
      "actor.ask",
    ]);
    // Rooted at the customer's request (an `http.server` span once the node wraps its HTTP
    // handler with instrumentHttp), never at the workflow's creation.
    expect(chain.slice(5)).toEqual(["http.server POST /l/:token"]);
    expect(trace.some((s) => s.name === "grpc.server CreateWorkflow")).toBe(false);
    const turn = trace.find(
      (s) => s.name === "actor.turn" && s.attributes["linkflow.actor_id"] === workflowId,
    );
    expect(turn!.attributes["linkflow.node"]).toBe(stack.nodes[1]!.nodeId);
  });

  it("/metrics on every node reports the runtime, gRPC and notification metrics with sensible values", async () => {
    // The completion webhook has gone out.
    await stack.webhooks.waitForDelivery(
      (d) => (d.json as { data?: { workflow_id?: string } }).data?.workflow_id === workflowId,
    );
    const scrape = async (i: number) => {
      const res = await fetch(`http://${stack.nodes[i]!.httpAddress}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      const text = await res.text();
      return { text, samples: parseMetrics(text) };
    };
    const [m0, m1] = [await scrape(0), await scrape(1)];
    const value = (m: typeof m0, name: string, labels: Record<string, string> = {}) =>
      m.samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((a, s) => a + s.value, 0);
    const has = (m: typeof m0, name: string) => m.samples.some((s) => s.name === name);

    for (const m of [m0, m1]) {
      for (const name of [
        "linkflow_runtime_actor_activations_total",
        "linkflow_runtime_actor_passivations_total",
        "linkflow_runtime_actors_active",
        "linkflow_runtime_mailbox_queued",
        "linkflow_runtime_mailbox_depth_max",
        "linkflow_runtime_timer_lag_seconds",
        "linkflow_runtime_effects_in_flight",
        "linkflow_runtime_effects_retried_total",
        "linkflow_runtime_shards_owned",
        "linkflow_runtime_rebalances_total",
        "linkflow_nats_reconnects_total",
      ]) {
        expect(has(m, name), name).toBe(true);
      }
    }
    // Node 1 ran the workflow's turns.
    expect(m1.text).toMatch(/# TYPE linkflow_runtime_turn_duration_seconds histogram/);
    expect(value(m1, "linkflow_runtime_actor_activations_total")).toBeGreaterThanOrEqual(1);
    expect(value(m1, "linkflow_runtime_actors_active")).toBeGreaterThanOrEqual(1);
    expect(value(m1, "linkflow_runtime_turn_duration_seconds_count")).toBeGreaterThanOrEqual(4);
    expect(value(m1, "linkflow_runtime_turn_duration_seconds_sum")).toBeGreaterThan(0);
    expect(value(m1, "linkflow_runtime_turn_duration_seconds_bucket", { le: "+Inf" })).toBe(
      value(m1, "linkflow_runtime_turn_duration_seconds_count"),
    );
    expect(value(m1, "linkflow_runtime_journal_batch_size_count")).toBeGreaterThanOrEqual(1);
    expect(value(m1, "linkflow_runtime_journal_commit_duration_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(value(m1, "linkflow_runtime_effects_total", { outcome: "ok" })).toBeGreaterThanOrEqual(2);
    expect(value(m1, "linkflow_runtime_mailbox_queued")).toBe(0);
    expect(value(m1, "linkflow_runtime_timer_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(value(m1, "linkflow_runtime_timer_lag_seconds")).toBeLessThan(60);
    // Shards: every one owned exactly once; each node rebalanced at least when it took its share.
    expect(value(m0, "linkflow_runtime_shards_owned") + value(m1, "linkflow_runtime_shards_owned")).toBe(16);
    expect(value(m0, "linkflow_runtime_rebalances_total")).toBeGreaterThanOrEqual(1);
    expect(value(m1, "linkflow_runtime_cluster_members")).toBe(2);
    expect(value(m1, "linkflow_nats_reconnects_total")).toBe(0);
    // Series are labelled with their node.
    expect(m1.samples.find((s) => s.name === "linkflow_runtime_shards_owned")?.labels.node).toBe(
      stack.nodes[1]!.nodeId,
    );
    // Process-wide: gRPC servers, SMS and webhooks.
    expect(
      value(m1, "linkflow_grpc_server_handled_total", {
        method: "/linkflow.v1.NotificationsService/SendSms",
        code: "OK",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value(m1, "linkflow_grpc_server_handling_seconds_count", {
        method: "/linkflow.v1.AccountsService/CreateCustomer",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(value(m1, "linkflow_notifications_sent_total", { channel: "sms" })).toBeGreaterThanOrEqual(1);
    expect(value(m1, "linkflow_webhook_deliveries_total", { outcome: "delivered" })).toBeGreaterThanOrEqual(
      1,
    );
  });

  it("each node is a NATS micro service reporting its shards and lease epochs", async () => {
    const nc = (stack.nodes[0]!.runtime.transport as NatsTransport).nc;
    const infos = [];
    for await (const i of await nc.services.client().info(RUNTIME_SERVICE_NAME)) infos.push(i);
    expect(infos.map((i) => i.metadata?.node).sort()).toEqual(stack.nodes.map((n) => n.nodeId).sort());
    expect(infos[0]!.endpoints.map((e) => e.subject)).toEqual([
      expect.stringMatching(/^linkflow\.node\..+\.status$/),
    ]);
    const reports = await collectNodeReports(nc);
    expect(reports.map((r) => r.nodeId).sort()).toEqual(stack.nodes.map((n) => n.nodeId).sort());
    const owned = reports.flatMap((r) => r.shards).sort((a, b) => a - b);
    expect(owned).toEqual([...Array(16).keys()]);
    for (const r of reports) {
      expect(
        Object.keys(r.epochs)
          .map(Number)
          .sort((a, b) => a - b),
      ).toEqual(r.shards);
      expect(Object.values(r.epochs).every((e) => e >= 1)).toBe(true);
    }
  });

  it("linkflow cluster status and linkflow workflow show read the cluster and the journal", async () => {
    const env = { DATABASE_URL: process.env.DATABASE_URL, NATS_URL: process.env.NATS_URL };
    process.env.DATABASE_URL = stack.databaseUrl;
    process.env.NATS_URL = `nats://${(stack.nodes[0]!.runtime.transport as NatsTransport).nc.getServer()}`;
    try {
      const run = async (...argv: string[]) => {
        let out = "";
        let err = "";
        const code = await main(argv, { out: (x) => (out += x), err: (x) => (err += x) });
        return { code, out, err };
      };
      const status = await run("cluster", "status");
      expect(status.err).toBe("");
      expect(status.code).toBe(0);
      expect(status.out).toMatch(/^shards: 16 {3}nodes: 2 /);
      let total = 0;
      for (const n of stack.nodes) {
        const row = status.out.split("\n").find((l) => l.startsWith(n.nodeId)) ?? "";
        // Node, shards held, live active actors and queue, timer lag, then its leases as shard@epoch.
        const m = new RegExp(`^${n.nodeId}\\s+(\\d+)\\s+\\d+\\s+\\d+\\s+\\d+ ms\\s+((?:\\d+@\\d+ ?)+)$`).exec(
          row,
        );
        expect(m, row).not.toBeNull();
        expect(m![2]!.trim().split(" ")).toHaveLength(Number(m![1]));
        total += Number(m![1]);
      }
      expect(total).toBe(16);

      const show = await run("workflow", "show", workflowId);
      expect(show.code).toBe(0);
      const lines = show.out.split("\n");
      expect(lines[0]).toMatch(new RegExp(`^${workflowId}  kind workflow  shard \\d+  events \\d+`));
      const types = lines
        .slice(2)
        .map((l) => l.split(/\s+/)[4])
        .filter(Boolean);
      expect(types[0]).toBe("workflow.created");
      expect(types, show.out).toEqual(expect.arrayContaining(["link.sent", "workflow.completed"]));
      expect(show.out).not.toContain("Lovelace");
      expect(show.out).not.toContain(customerPhone);

      expect((await run("workflow", "show", "wf_nope")).code).toBe(1);
    } finally {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("logs are JSON with trace ids, and never hold a phone number, an account number, an API key or a link token", () => {
    // Direct: every kind of secret, in fields, nested, in messages and in errors.
    const account = "000123456789";
    const log = createLogger({ component: "test" });
    log.info(`texted ${phone} the link ${link}`, {
      phone,
      to: phone,
      account_number: account,
      details: { accountNumber: account, api_key: stack.business.apiKey, note: `acct ${account}` },
      err: new Error(`account ${account} refused for key ${stack.business.apiKey}`),
      authorization: `Bearer ${stack.business.apiKey}`,
      url: link,
    });

    const token = link.split("/l/")[1]!;
    expect(token.length).toBeGreaterThan(20);
    expect(logs.length).toBeGreaterThan(3);
    const all = logs.join("\n");
    for (const secret of [phone, phone.slice(2), account, stack.business.apiKey, token]) {
      expect(all, `a log line holds ${secret.slice(0, 4)}…`).not.toContain(secret);
    }
    const parsed = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    // Lines written inside a span carry its ids: the SMS of the workflow's creation trace.
    const smsLine = parsed.find((l) => l.msg === "sms sent" && l.workflow_id === workflowId);
    expect(smsLine?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(smsLine?.span_id).toMatch(/^[0-9a-f]{16}$/);
    const createTurn = stack.spans
      .getFinishedSpans()
      .find(
        (s) =>
          s.name === "actor.turn" &&
          s.attributes["linkflow.command"] === "create" &&
          s.attributes["linkflow.actor_id"] === workflowId,
      );
    expect(smsLine?.trace_id).toBe(createTurn?.spanContext().traceId);
  });
});
