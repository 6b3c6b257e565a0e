import { randomBytes } from "node:crypto";
import type { NodeConfig } from "../../gateway/node/index.ts";

/** The real servers a test node talks to. */
export interface TestNodeServers {
  databaseUrl: string;
  /** NATS servers; without them the node runs the local transport. */
  natsUrls?: string[];
  redisUrl?: string;
  /** Where SMS go: a server speaking Twilio's REST API. */
  twilio: { accountSid: string; authToken: string; baseUrl: string };
  /** SMTP server URL; without it email goes to the dev outbox. */
  smtpUrl?: string;
}

/** Timers, polls and retries fast enough for tests that watch whole workflows. */
export const TEST_TUNING: NonNullable<NodeConfig["tuning"]> = {
  heartbeatMs: 150,
  leaseTtlMs: 1500,
  timerPollMs: 50,
  effectPollMs: 100,
  webhookPollMs: 50,
  webhookBaseBackoffMs: 50,
  effectRetry: { baseMs: 50, maxMs: 500, maxAttempts: 5 },
};

/**
 * A node configuration for tests: every listener on a free loopback port, a
 * fresh link secret and keyring (share the result between the nodes of one
 * cluster), SMS through the given Twilio-protocol server, and TEST_TUNING
 * merged under `tuning`.
 */
export function testNodeConfig(
  servers: TestNodeServers,
  more: Partial<Omit<NodeConfig, "tuning">> & { tuning?: NodeConfig["tuning"] } = {},
): NodeConfig {
  const { tuning, ...rest } = more;
  return {
    databaseUrl: servers.databaseUrl,
    transport: servers.natsUrls ? { kind: "nats", servers: servers.natsUrls } : { kind: "local" },
    grpcAddr: "127.0.0.1:0",
    httpAddr: "127.0.0.1:0",
    internalAddr: "127.0.0.1:0",
    ...(servers.redisUrl ? { redisUrl: servers.redisUrl } : {}),
    linkSecret: randomBytes(32).toString("base64url"),
    keyring: { currentKeyId: "k1", keys: { k1: randomBytes(32).toString("base64") } },
    sms: {
      kind: "twilio",
      accountSid: servers.twilio.accountSid,
      authToken: servers.twilio.authToken,
      from: "+15005550006",
      baseUrl: servers.twilio.baseUrl,
    },
    email: servers.smtpUrl
      ? { kind: "smtp", url: servers.smtpUrl, from: "Linkflow <links@linkflow.test>" }
      : { kind: "outbox" },
    shardCount: 16,
    ...rest,
    tuning: { ...TEST_TUNING, ...tuning },
  };
}
