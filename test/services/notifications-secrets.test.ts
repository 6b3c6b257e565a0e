/**
 * Webhook signing secrets at rest: sealed under the encryption keyring in the
 * subscription's row and in the idempotency record of the request that showed
 * them, still signing after the keyring rotates, and refused on replay by a
 * node that has no keyring (nothing usable was kept).
 */
import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Keyring } from "../../core/index.ts";
import { call, listen, readErrorCode } from "../../services/grpc/index.ts";
import {
  createNotificationsClient,
  createNotificationsService,
  OutboxEmailSender,
  OutboxSmsSender,
} from "../../services/notifications/index.ts";
import { rejected } from "./helpers.ts";
import {
  type NotificationsHarness,
  startNotificationsHarness,
  TEST_KEYRING,
} from "./notifications-harness.ts";

const BIZ = "biz_secrets";
let h: NotificationsHarness;

beforeAll(async () => {
  h = await startNotificationsHarness({
    webhooks: { pollIntervalMs: 25, baseBackoffMs: 20, maxBackoffMs: 80 },
  });
});

afterAll(async () => {
  await h?.stop();
});

/** Every stored byte of the notifications schema's subscriptions and idempotency records, as text. */
async function storedText(): Promise<string> {
  const subs = await h.sql`select secret, previous_secret from notifications.webhook_subscriptions`;
  const replays = await h.sql<{ response: Buffer | null }[]>`select response from notifications.idempotency`;
  return JSON.stringify(subs) + replays.map((r) => r.response?.toString("latin1") ?? "").join("\n");
}

/** A second service on the same database, as another node with its own keyring would run it. */
async function nodeWith(keyring: Keyring | undefined) {
  const service = createNotificationsService({
    sql: h.sql,
    sms: new OutboxSmsSender(h.sql),
    email: new OutboxEmailSender(h.sql),
    ...(keyring ? { keyring } : {}),
    webhooks: { pollIntervalMs: 25, baseBackoffMs: 20, maxBackoffMs: 80 },
  });
  const server = await listen([service]);
  const client = createNotificationsClient(server.address);
  return {
    client,
    async stop() {
      client.close();
      await service.close();
      await server.close();
    },
  };
}

describe("webhook signing secrets at rest", () => {
  it("are sealed in the subscription row and the replay record, and a replay shows the same secret", async () => {
    const secrets: string[] = [];
    const receiver = await h.receiver(() => secrets);
    const create = {
      businessId: BIZ,
      url: receiver.url,
      eventTypes: ["customer.created"],
      idempotencyKey: "create-sealed-1",
    };
    const made = await call(h.client, "createWebhookSubscription", create);
    expect(made.secret).toMatch(/^whsec_/);
    const replay = await call(h.client, "createWebhookSubscription", create);
    expect(replay.secret).toBe(made.secret);
    expect(replay.subscription?.id).toBe(made.subscription?.id);

    const rotated = await call(h.client, "rotateWebhookSecret", {
      businessId: BIZ,
      subscriptionId: made.subscription!.id,
      overlapSeconds: 3600,
      idempotencyKey: "rotate-sealed-1",
    });
    expect(rotated.secret).not.toBe(made.secret);

    const stored = await storedText();
    expect(stored).toContain("sealed:k1:");
    for (const secret of [made.secret, rotated.secret]) {
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(secret.slice("whsec_".length));
    }

    // The dispatcher opens both to sign: during the overlap either secret verifies.
    secrets.push(made.secret);
    const published = await call(h.client, "publishEvent", {
      businessId: BIZ,
      type: "customer.created",
      workflowId: "",
      payloadJson: JSON.stringify({ customer_id: "cus_sealed" }),
      idempotencyKey: "",
    });
    const first = await receiver.waitForDelivery((d) => d.eventId === published.eventId && d.status === 200);
    expect(first.verified).toBe(true);
  });

  it("keep signing after the keyring rotates, for rows sealed under the old key", async () => {
    const secrets: string[] = [];
    const receiver = await h.receiver(() => secrets);
    const made = await call(h.client, "createWebhookSubscription", {
      businessId: "biz_rotated_keys",
      url: receiver.url,
      eventTypes: ["customer.created"],
      idempotencyKey: "create-old-key",
    });
    secrets.push(made.secret);
    await h.service.dispatcher.close();
    const rotatedKeys: Keyring = { currentKeyId: "k2", keys: { ...TEST_KEYRING.keys, k2: randomBytes(32) } };
    const other = await nodeWith(rotatedKeys);
    try {
      const published = await call(other.client, "publishEvent", {
        businessId: "biz_rotated_keys",
        type: "customer.created",
        workflowId: "",
        payloadJson: "{}",
        idempotencyKey: "",
      });
      const got = await receiver.waitForDelivery((d) => d.eventId === published.eventId && d.status === 200);
      expect(got.verified).toBe(true);
      // The replay record sealed under k1 still opens under the rotated keyring.
      const replay = await call(other.client, "createWebhookSubscription", {
        businessId: "biz_rotated_keys",
        url: receiver.url,
        eventTypes: ["customer.created"],
        idempotencyKey: "create-old-key",
      });
      expect(replay.secret).toBe(made.secret);
    } finally {
      await other.stop();
    }
  });

  it("a node without the keyring refuses to replay a secret it cannot open", async () => {
    const create = {
      businessId: BIZ,
      url: "https://hooks.example.com/linkflow",
      eventTypes: ["customer.created"],
      idempotencyKey: "create-for-bare-node",
    };
    await call(h.client, "createWebhookSubscription", create);
    const bare = await nodeWith(undefined);
    try {
      const err = await rejected(call(bare.client, "createWebhookSubscription", create));
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(readErrorCode(err)).toBe("webhook_secret_shown_once");
    } finally {
      await bare.stop();
    }
  });
});
