import { credentials, Metadata } from "@grpc/grpc-js";
import { connect, parseMetrics, type Sql } from "../../core/index.ts";
import { bootstrapBusiness, loadTemplates, type NodeConfig } from "../../gateway/node/index.ts";
import { WorkflowServiceClient } from "../../proto/index.ts";
import { shardOf } from "../../runtime/index.ts";
import { call } from "../../services/grpc/index.ts";
import { TemplateStore } from "../../services/workflows/index.ts";
import {
  createTestDatabase,
  type OtlpReceiverHandle,
  type SmtpServerHandle,
  startNats,
  startOtlpReceiver,
  startRedis,
  startSmtpServer,
  startTwilioServer,
  startWebhookReceiver,
  type TwilioServerHandle,
  type WebhookReceiverHandle,
} from "../infra/index.ts";
import { HttpCustomer } from "../support/http-customer.ts";
import { type NodeChild, spawnNode } from "../support/node-child.ts";
import { testNodeConfig } from "../support/node-config.ts";
import { linkIn } from "../support/stack.ts";
import { type Gate, startGate } from "./gate.ts";

export const SHARDS = 16;

/** For `expect.poll`: the nodes share two cores with everything else, so give conditions time. */
export const POLL = { timeout: 30_000, interval: 100 };

export interface WorkflowRequest {
  via: number;
  template: string;
  phone: string;
  /** Where `email customer` notifications go. */
  email?: string;
  inputs?: Record<string, string>;
  key: string;
}

/** Two Linkflow nodes, each in its own process, over a real nats-server, exporting spans over OTLP. */
export interface Cluster {
  nodes: NodeChild[];
  otlp: OtlpReceiverHandle;
  twilio: TwilioServerHandle;
  /** Sits between the nodes and Twilio: `hold()` makes the SMS provider stop answering. */
  smsGate: Gate;
  smtp: SmtpServerHandle;
  webhooks: WebhookReceiverHandle;
  business: { businessId: string; apiKey: string };
  databaseUrl: string;
  natsUrl: string;
  sql: Sql;
  /** Each node's public gRPC API. */
  apis: WorkflowServiceClient[];
  auth(): Metadata;
  /** The node holding the lease of the workflow's shard now. */
  ownerOf(workflowId: string): Promise<NodeChild>;
  /** Creates a workflow through node `via`'s gRPC API; its id, without waiting for its SMS. */
  startWorkflow(opts: WorkflowRequest): Promise<string>;
  /** Creates a workflow and returns it with the link texted to the customer. */
  createWorkflow(opts: WorkflowRequest): Promise<{ id: string; link: string }>;
  /** Starts one more node process with these variables, and this configuration, on top of the cluster's. */
  addNode(env?: NodeJS.ProcessEnv, config?: Partial<NodeConfig>): Promise<NodeChild>;
  /** The samples of node `i`'s `/metrics`. */
  scrape(i: number): Promise<ReturnType<typeof parseMetrics>>;
  /** SIGTERM to every node (their batched spans are flushed), then the servers. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the cluster the observability tests watch from outside: a fresh
 * database, nats-server, Twilio and SMTP loopbacks, a webhook receiver, an
 * OTLP receiver the nodes export to through the standard `OTEL_*` variables,
 * the example templates and a business subscribed to webhooks. Returns once
 * the two nodes share the shards.
 */
export async function startCluster(
  opts: { tuning?: NodeConfig["tuning"]; env?: NodeJS.ProcessEnv; captureOutput?: boolean } = {},
): Promise<Cluster> {
  const stops: Array<() => Promise<unknown>> = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const s of stops.splice(0).reverse()) await s().catch(() => {});
    })();
    return stopped;
  };
  try {
    const db = await createTestDatabase();
    stops.push(() => db.drop());
    const nats = await startNats();
    stops.push(() => nats.stop());
    // Sessions, one-time codes and rate limits live in Redis, as in a real cluster.
    const redis = await startRedis();
    stops.push(() => redis.stop());
    const otlp = await startOtlpReceiver();
    stops.push(() => otlp.stop());
    const twilio = await startTwilioServer();
    stops.push(() => twilio.stop());
    const smsGate = await startGate(twilio.baseUrl);
    stops.push(() => smsGate.stop());
    const smtp = await startSmtpServer();
    stops.push(() => smtp.stop());
    const secrets: string[] = [];
    const webhooks = await startWebhookReceiver({ secrets: () => secrets });
    stops.push(() => webhooks.stop());
    const cfg = testNodeConfig(
      {
        databaseUrl: db.url,
        natsUrls: nats.urls,
        redisUrl: redis.url,
        // SMS pass through a gate the metrics test can hold.
        twilio: { ...twilio, baseUrl: smsGate.url },
        smtpUrl: smtp.url,
      },
      { shardCount: SHARDS, tuning: { ...opts.tuning } },
    );
    const env: NodeJS.ProcessEnv = {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "linkflow-test",
      OTEL_BSP_SCHEDULE_DELAY: "200",
      // A workflow makes thousands of spans (every statement); none may be dropped.
      OTEL_BSP_MAX_QUEUE_SIZE: "100000",
      ...opts.env,
    };
    const nodes: NodeChild[] = [];
    const launch = async (more: NodeJS.ProcessEnv = {}, config: Partial<NodeConfig> = {}) => {
      const n = await spawnNode(
        { ...cfg, ...config },
        { env: { ...env, ...more }, captureOutput: opts.captureOutput },
      );
      nodes.push(n);
      stops.push(() => n.stop());
      return n;
    };
    // One first so the migrations run once.
    await launch();
    await launch();
    const sql = connect(db.url, { max: 2 });
    stops.push(() => sql.end());
    await loadTemplates(new TemplateStore(sql), new URL("../../examples/", import.meta.url).pathname);
    const b = await bootstrapBusiness(nodes[0]!.info.internalAddress, {
      name: "Observed Inc",
      idempotencyKey: "bootstrap-observed",
      webhookUrl: webhooks.url,
    });
    secrets.push(b.webhookSecret!);
    for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
      // Rendezvous hashing does not split the shards in half: both must hold some and none be free.
      const [row] = await sql<{ owners: number; owned: number }[]>`
        select count(distinct owner)::int as owners, count(*)::int as owned
          from runtime.shard_leases where owner is not null and expires_at > now()`;
      if (row?.owners === 2 && row.owned === SHARDS) break;
      if (Date.now() - t0 > 15_000) throw new Error("the two nodes did not share the shards");
    }
    const apis = nodes.map(
      (n) => new WorkflowServiceClient(n.info.grpcAddress, credentials.createInsecure()),
    );
    stops.push(async () => {
      for (const a of apis) a.close();
    });
    const auth = () => {
      const md = new Metadata();
      md.set("authorization", `Bearer ${b.apiKey}`);
      return md;
    };
    const startWorkflow = async (o: WorkflowRequest) => {
      const res = await call(
        apis[o.via]!,
        "createWorkflow",
        {
          templateName: o.template,
          templateVersion: 0,
          inputs: o.inputs ?? {},
          customerPhone: o.phone,
          customerEmail: o.email ?? "",
          customerId: "",
          channel: 0,
          externalId: "",
          memo: "",
          idempotencyKey: o.key,
        },
        { metadata: auth() },
      );
      return res.workflow!.id;
    };
    return {
      nodes,
      otlp,
      twilio,
      smsGate,
      smtp,
      webhooks,
      business: { businessId: b.businessId, apiKey: b.apiKey },
      databaseUrl: db.url,
      natsUrl: nats.urls[0]!,
      sql,
      apis,
      auth,
      async ownerOf(workflowId) {
        const [lease] = await sql<{ owner: string }[]>`
          select owner from runtime.shard_leases
           where shard = ${shardOf(workflowId, SHARDS)} and expires_at > now()`;
        const owner = nodes.find((n) => n.info.nodeId === lease?.owner);
        if (!owner) throw new Error(`no live owner for ${workflowId}`);
        return owner;
      },
      startWorkflow,
      async createWorkflow(o) {
        const id = await startWorkflow(o);
        const sms = await twilio.waitForMessage(
          (m) => m.to === o.phone && m.body.includes("/l/"),
          POLL.timeout,
        );
        return { id, link: linkIn(sms.body) };
      },
      async scrape(i) {
        const res = await fetch(`http://${nodes[i]!.info.httpAddress}/metrics`);
        if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
        return parseMetrics(await res.text());
      },
      addNode: launch,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The bank account the customer adds on the page (a real account-number format, 4 to 17 digits). */
export interface BankAccount {
  routing_number: string;
  account_number: string;
}

/**
 * Walks a customer through every step of `onboard_and_pay` on the page of
 * the node at `baseUrl`: one-time code, profile (with `email`), the bank
 * account, the terms, and approving the payout.
 */
export async function completeOnboarding(
  c: Cluster,
  opts: { link: string; phone: string; email: string; bank: BankAccount; baseUrl: string },
): Promise<void> {
  const customer = new HttpCustomer(opts.link, c.twilio, opts.phone).on(opts.baseUrl);
  await customer.verify();
  await customer.waitFor("Confirm your details", POLL.timeout);
  await customer.submit({ first_name: "Grace", last_name: "Hopper", email: opts.email });
  await customer.waitFor("Where should we send the money?", POLL.timeout);
  await customer.submit({
    kind: "bank_account",
    ...opts.bank,
    account_type: "checking",
    name_on_account: "Grace Hopper",
  });
  await customer.waitFor("Terms", POLL.timeout);
  await customer.submit({ accept_0: "on", accept_1: "on" });
  await customer.waitFor("Review your payment", POLL.timeout);
  await customer.submit({ decision: "approve" });
  await customer.waitFor("All done", POLL.timeout);
}

/** Waits until the business has received (and accepted) the workflow's `workflow.completed` webhook. */
export async function waitForCompletedWebhook(c: Cluster, workflowId: string): Promise<void> {
  await c.webhooks.waitForDelivery((d) => {
    const event = d.json as { type?: string; data?: { workflow_id?: string } } | undefined;
    return d.status === 200 && event?.type === "workflow.completed" && event.data?.workflow_id === workflowId;
  }, POLL.timeout);
}
