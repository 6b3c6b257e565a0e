import type { Clock, Logger } from "../../core/index.ts";
import { type Keyring, keyringFromEnv } from "../../services/accounts/index.ts";

export type SmsConfig =
  | { kind: "twilio"; accountSid: string; authToken: string; from: string; baseUrl?: string }
  | { kind: "outbox" };
export type EmailConfig = { kind: "smtp"; url: string; from: string } | { kind: "outbox" };
export type TransportConfig = { kind: "local" } | { kind: "nats"; servers: string[] };

/** Everything one Linkflow node needs; `configFromEnv` reads it from the environment. */
export interface NodeConfig {
  databaseUrl: string;
  transport: TransportConfig;
  /** Public gRPC API, e.g. 127.0.0.1:50051 (port 0 picks a free one). */
  grpcAddr: string;
  /** Customer page, dev outbox and metrics, e.g. 127.0.0.1:8080. */
  httpAddr: string;
  /** Internal services (accounts, notifications, transactions) on this node. */
  internalAddr: string;
  /** Base URL customers' links start with; defaults to http://<httpAddr>. */
  publicBaseUrl?: string;
  linkSecret: string;
  /** Secret of the console's CSRF tokens and stored API keys (16+ characters); default: the link secret. */
  consoleSecret?: string;
  /** Keys encrypting account and card numbers at rest (AES-256-GCM); key ids let keys rotate. */
  keyring?: Keyring;
  sms: SmsConfig;
  email: EmailConfig;
  nodeId?: string;
  shardCount?: number;
  clock?: Clock;
  log?: Logger;
  /** Connections of the runtime's Postgres pool (each service gets half as many of its own); default 20. */
  poolSize?: number;
  /** Redis for sessions, one-time codes and rate limits; unset = in memory. */
  redisUrl?: string;
  /** Customer-page requests per minute per client IP and per link. */
  portalRateLimits?: { perIp: number; perLink: number };
  /** Public API calls per API key: a burst, then a steady rate a second. Default 100, then 50 a second. */
  apiRateLimit?: { burst: number; perSecond: number };
  /** Serve /dev/outbox (the embedded default). */
  devOutbox?: boolean;
  /** Faster polling for tests. */
  tuning?: {
    heartbeatMs?: number;
    leaseTtlMs?: number;
    timerPollMs?: number;
    effectPollMs?: number;
    webhookPollMs?: number;
    webhookBaseBackoffMs?: number;
    /** Payment-rails simulator timings (ms). */
    rails?: {
      pendingMs?: number;
      pushToCardSettleMs?: number;
      achSettleMs?: number;
      achReturnMs?: number;
      pollIntervalMs?: number;
    };
    effectRetry?: { baseMs: number; maxMs: number; maxAttempts: number };
    /** Actors idle this long are passivated (default 60 s). */
    idleMs?: number;
  };
}

function req(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

/** Reads a NodeConfig from LINKFLOW_*, DATABASE_URL, NATS_URL, TWILIO_*, SMTP_URL (see .env.example). */
export function configFromEnv(env: NodeJS.ProcessEnv, defaults: Partial<NodeConfig> = {}): NodeConfig {
  const sms: SmsConfig = env.TWILIO_ACCOUNT_SID
    ? {
        kind: "twilio",
        accountSid: env.TWILIO_ACCOUNT_SID,
        authToken: req(env, "TWILIO_AUTH_TOKEN"),
        from: req(env, "TWILIO_FROM"),
        baseUrl: env.TWILIO_API_BASE_URL || undefined,
      }
    : { kind: "outbox" };
  const email: EmailConfig = env.SMTP_URL
    ? {
        kind: "smtp",
        url: env.SMTP_URL,
        from: env.LINKFLOW_EMAIL_FROM || "Linkflow <no-reply@linkflow.invalid>",
      }
    : { kind: "outbox" };
  return {
    ...defaults,
    databaseUrl: env.DATABASE_URL || defaults.databaseUrl || "",
    transport: env.NATS_URL ? { kind: "nats", servers: env.NATS_URL.split(",") } : { kind: "local" },
    grpcAddr: env.LINKFLOW_GRPC_ADDR || "127.0.0.1:50051",
    httpAddr: env.LINKFLOW_HTTP_ADDR || "127.0.0.1:8080",
    internalAddr: env.LINKFLOW_INTERNAL_ADDR || "127.0.0.1:0",
    publicBaseUrl: env.LINKFLOW_PUBLIC_URL || undefined,
    linkSecret: env.LINKFLOW_LINK_SECRET || defaults.linkSecret || "",
    keyring: keyringFromEnv(env) ?? defaults.keyring,
    consoleSecret: env.LINKFLOW_CONSOLE_SECRET || defaults.consoleSecret,
    sms,
    email,
    nodeId: env.LINKFLOW_NODE_ID || undefined,
    redisUrl: env.REDIS_URL || defaults.redisUrl,
    poolSize: env.LINKFLOW_PG_POOL ? Number(env.LINKFLOW_PG_POOL) : defaults.poolSize,
    shardCount: env.LINKFLOW_SHARDS ? Number(env.LINKFLOW_SHARDS) : undefined,
    devOutbox: env.LINKFLOW_DEV_OUTBOX ? env.LINKFLOW_DEV_OUTBOX === "1" : sms.kind === "outbox",
  };
}
