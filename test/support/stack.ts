import { credentials, Metadata } from "@grpc/grpc-js";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { type Clock, setupTracing } from "../../core/index.ts";
import { bootstrapBusiness, type LinkflowNode, loadTemplates, startNode } from "../../gateway/node/index.ts";
import { WorkflowServiceClient } from "../../proto/index.ts";
import {
  createTestDatabase,
  type SmtpServerHandle,
  startNats,
  startRedis,
  startSmtpServer,
  startTwilioServer,
  startWebhookReceiver,
  type TwilioServerHandle,
  type WebhookReceiverHandle,
} from "../infra/index.ts";
import { testNodeConfig } from "./node-config.ts";

export interface Stack {
  nodes: LinkflowNode[];
  node: LinkflowNode;
  twilio: TwilioServerHandle;
  webhooks: WebhookReceiverHandle;
  smtp?: SmtpServerHandle;
  spans: InMemorySpanExporter;
  business: { businessId: string; apiKey: string };
  api: WorkflowServiceClient;
  auth(key?: string): Metadata;
  databaseUrl: string;
  /** The redis-server the nodes share, when the stack runs one. */
  redisUrl?: string;
  startNode(): Promise<LinkflowNode>;
  stop(): Promise<void>;
}

/**
 * A whole Linkflow deployment on real parts: a fresh database, a Twilio-protocol
 * server, a webhook receiver, `nodes` runtime nodes (local transport for one
 * node unless `transport: "nats"`, which also brings a shared redis-server), the example templates and a business with
 * an API key subscribed to webhooks. `stop()` tears everything down.
 */
export async function startStack(
  opts: {
    transport?: "local" | "nats";
    nodes?: number;
    clock?: Clock;
    tracing?: boolean;
    /** Send email through a loopback SMTP server (default: the dev outbox). */
    smtp?: boolean;
    /**
     * Keep the customer page's sessions and the API's rate limits in a real
     * redis-server, as a cluster does (default: with the NATS transport).
     */
    redis?: boolean;
    /** Connections of each node's main Postgres pool (default: the node's). */
    poolSize?: number;
    /** The nodes' per-API-key limit on the public API (default: the node's). */
    apiRateLimit?: { burst: number; perSecond: number };
    rails?: {
      pendingMs?: number;
      pushToCardSettleMs?: number;
      achSettleMs?: number;
      achReturnMs?: number;
      pollIntervalMs?: number;
    };
  } = {},
): Promise<Stack> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => {});
  };
  try {
    const spans = new InMemorySpanExporter();
    if (opts.tracing !== false) {
      const t = setupTracing({ exporter: spans });
      stops.push(() => t.shutdown());
    }
    const db = await createTestDatabase();
    stops.push(() => db.drop());
    const twilio = await startTwilioServer();
    stops.push(() => twilio.stop());
    const secrets: string[] = [];
    const webhooks = await startWebhookReceiver({ secrets: () => secrets });
    stops.push(() => webhooks.stop());
    let smtp: SmtpServerHandle | undefined;
    if (opts.smtp) {
      smtp = await startSmtpServer();
      stops.push(() => smtp!.stop());
    }
    const transport = opts.transport ?? "local";
    let natsUrls: string[] = [];
    if (transport === "nats") {
      const nats = await startNats();
      stops.push(() => nats.stop());
      natsUrls = nats.urls;
    }
    let redisUrl: string | undefined;
    if (opts.redis ?? transport === "nats") {
      const redis = await startRedis();
      stops.push(() => redis.stop());
      redisUrl = redis.url;
    }
    const config = testNodeConfig(
      {
        databaseUrl: db.url,
        ...(transport === "nats" ? { natsUrls } : {}),
        ...(redisUrl ? { redisUrl } : {}),
        twilio,
        ...(smtp ? { smtpUrl: smtp.url } : {}),
      },
      {
        clock: opts.clock,
        tuning: { rails: opts.rails },
        ...(opts.apiRateLimit ? { apiRateLimit: opts.apiRateLimit } : {}),
        ...(opts.poolSize ? { poolSize: opts.poolSize } : {}),
      },
    );
    const nodes: LinkflowNode[] = [];
    const launch = async () => {
      const n = await startNode(config);
      nodes.push(n);
      stops.push(() => n.stop());
      return n;
    };
    for (let i = 0; i < (opts.nodes ?? 1); i++) await launch();
    const node = nodes[0]!;
    await loadTemplates(node.templates, new URL("../../examples/", import.meta.url).pathname);
    const b = await bootstrapBusiness(node.internalAddress, {
      name: "Acme Payroll",
      webhookUrl: webhooks.url,
    });
    secrets.push(b.webhookSecret!);
    const api = new WorkflowServiceClient(node.grpcAddress, credentials.createInsecure());
    stops.push(async () => api.close());
    return {
      nodes,
      node,
      twilio,
      smtp,
      webhooks,
      spans,
      business: b,
      api,
      auth(key = b.apiKey) {
        const md = new Metadata();
        if (key) md.set("authorization", `Bearer ${key}`);
        return md;
      },
      databaseUrl: db.url,
      redisUrl,
      startNode: launch,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The customer's link in an SMS body. */
export function linkIn(body: string): string {
  const m = /(https?:\/\/\S+\/l\/[A-Za-z0-9_-]+)/.exec(body);
  if (!m?.[1]) throw new Error(`no link in: ${body}`);
  return m[1];
}
