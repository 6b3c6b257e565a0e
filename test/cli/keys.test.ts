import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Keyring, openNumber, type Sql } from "../../core/index.ts";
import { FinancialAccountSource } from "../../proto/index.ts";
import { migrateAccounts } from "../../services/accounts/index.ts";
import { call, readErrorCode } from "../../services/grpc/index.ts";
import { migrateNotifications } from "../../services/notifications/index.ts";
import {
  createTestDatabase,
  SIGNATURE_HEADER,
  startWebhookReceiver,
  verifyWebhookSignature,
  type WebhookReceiverHandle,
} from "../infra/index.ts";
import { captureLogs, rejected } from "../services/helpers.ts";
import { addBankAccount, createHolder, keyringOf, keysCli, servicesWith } from "./keys-harness.ts";

// Key ids a LIKE pattern would confuse: the new id's "_" matches the old id's "-".
const K1 = "k-1";
const K2 = "k_1";
const k1 = randomBytes(32).toString("base64");
const k2 = randomBytes(32).toString("base64");
const OLD: Keyring = { currentKeyId: K1, keys: { [K1]: k1 } };
const ROTATED: Keyring = { currentKeyId: K2, keys: { [K1]: k1, [K2]: k2 } };
const RETIRED: Keyring = { currentKeyId: K2, keys: { [K2]: k2 } };
const ACCOUNT_NUMBER = "000123456789";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let receiver: WebhookReceiverHandle;

const cli = (args: string[], keyring: Keyring | undefined) => keysCli(db.url, args, keyring);

/** The business and customer every value below belongs to. */
const holder = () => ({ businessId: biz, customerId: customer });

const sealedRows = () =>
  sql<{ id: string; key_id: string; ct: Buffer }[]>`
    select id, key_id, number_ciphertext as ct from accounts.financial_accounts order by id`;

/** Every sealed value at rest, as text, to compare one moment with another. */
async function everythingSealed(): Promise<string> {
  const accounts =
    await sql`select id, key_id, encode(number_ciphertext, 'hex') as ct from accounts.financial_accounts`;
  const pii =
    await sql`select customer_id, key_id, encode(ciphertext, 'hex') as ct from accounts.customer_enhanced_pii`;
  const hooks = await sql`select id, secret, previous_secret from notifications.webhook_subscriptions`;
  const replays = await sql`
    select key, encode(response, 'hex') as r from accounts.idempotency
    union all select key, encode(response, 'hex') from notifications.idempotency order by 1`;
  return JSON.stringify([accounts, pii, hooks, replays]);
}

const createHook = (idempotencyKey: string, eventType = "workflow.completed") => ({
  businessId: biz,
  url: receiver.url,
  eventTypes: [eventType],
  idempotencyKey,
});
const rotateHook = () => ({
  businessId: biz,
  subscriptionId: subscription,
  overlapSeconds: 3600,
  idempotencyKey: "rotate-hook-1",
});
const createKey = () => ({ businessId: biz, name: "ci", idempotencyKey: "create-key-1" });

let biz = "";
let customer = "";
let account = "";
/** An account added once the keyring had rotated: already under the current key. */
let fresh = "";
let subscription = "";
let apiKey = "";
const secrets = { first: "", second: "" };

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url);
  await migrateAccounts(sql);
  await migrateNotifications(sql);
  receiver = await startWebhookReceiver({ secrets: () => [secrets.second] });
  // Everything below is written under the old key.
  const node = await servicesWith(sql, OLD);
  try {
    ({ businessId: biz, customerId: customer } = await createHolder(node.accounts));
    account = await addBankAccount(node.accounts, holder(), ACCOUNT_NUMBER);
    await call(node.accounts, "appendEnhancedPii", {
      businessId: biz,
      customerId: customer,
      dateOfBirth: "1984-07-19",
      taxId: "123-45-6789",
      identityDocument: undefined,
      idempotencyKey: "",
    });
    apiKey = (await call(node.accounts, "createApiKey", createKey())).apiKey;
    const created = await call(node.notifications, "createWebhookSubscription", createHook("create-hook-1"));
    subscription = created.subscription!.id;
    secrets.first = created.secret;
    secrets.second = (await call(node.notifications, "rotateWebhookSecret", rotateHook())).secret;
  } finally {
    await node.stop();
  }
  const rotated = await servicesWith(sql, ROTATED);
  try {
    fresh = await addBankAccount(rotated.accounts, holder(), "000555000111");
  } finally {
    await rotated.stop();
  }
});

afterAll(async () => {
  await receiver?.stop();
  await sql?.end({ timeout: 5 });
  await db?.drop();
});

describe("linkflow keys", () => {
  it("says which keys seal what, and that the old key is still needed", async () => {
    const r = await cli(["status"], ROTATED);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`current key: ${K2}`);
    expect(r.out).toContain(`accounts.financial_accounts.number_ciphertext  ${K1}  1`);
    expect(r.out).toContain(`accounts.financial_accounts.number_ciphertext  ${K2}  1`);
    expect(r.out).toContain(`accounts.customer_enhanced_pii.ciphertext  ${K1}  1`);
    expect(r.out).toContain(`accounts.idempotency.response[CreateApiKey]  ${K1}  1`);
    expect(r.out).toContain(`notifications.webhook_subscriptions.secret  ${K1}  1`);
    expect(r.out).toContain(`notifications.webhook_subscriptions.previous_secret  ${K1}  1`);
    expect(r.out).toContain(`notifications.idempotency.response[CreateWebhookSubscription]  ${K1}  1`);
    expect(r.out).toContain(`notifications.idempotency.response[RotateWebhookSecret]  ${K1}  1`);
    expect(r.out).toContain("7 values are under other keys");
    expect(r.out).not.toContain("no sealed value needs");
    expect(r.out).not.toContain(ACCOUNT_NUMBER);
  });

  it("refuses to run without a keyring, or with a batch that is not a count", async () => {
    const none = await cli(["status"], undefined);
    expect(none.code).toBe(2);
    expect(none.err).toContain("LINKFLOW_ENCRYPTION_KEYS");
    expect((await cli(["reencrypt"], undefined)).code).toBe(2);
    expect((await cli(["reencrypt", "--batch", "0"], ROTATED)).code).toBe(2);
    expect((await cli(["reencrypt", "--batch", "many"], ROTATED)).code).toBe(2);
  });

  it("seals everything again under the current key; the old key can then be retired", async () => {
    const before = await sealedRows();
    const logs = captureLogs();
    let r: Awaited<ReturnType<typeof cli>>;
    try {
      r = await cli(["reencrypt", "--batch", "1"], ROTATED);
    } finally {
      logs.restore();
    }
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    for (const column of [
      "accounts.financial_accounts.number_ciphertext",
      "accounts.customer_enhanced_pii.ciphertext",
      "accounts.idempotency.response[CreateApiKey]",
      "notifications.webhook_subscriptions.secret",
      "notifications.webhook_subscriptions.previous_secret",
      "notifications.idempotency.response[CreateWebhookSubscription]",
      "notifications.idempotency.response[RotateWebhookSecret]",
    ])
      expect(r.out).toContain(`${column}: 1 sealed again, 0 changed meanwhile, 0 failed`);
    for (const secret of [ACCOUNT_NUMBER, apiKey, secrets.first, secrets.second, k1, k2]) {
      expect(r.out).not.toContain(secret);
      expect(logs.text()).not.toContain(secret);
    }

    const after = await sealedRows();
    expect(after.map((x) => x.key_id)).toEqual([K2, K2]);
    const ct = (rows: typeof after, id: string) => rows.find((x) => x.id === id)!.ct;
    expect(ct(after, account).equals(ct(before, account))).toBe(false);
    // A value already under the current key is left as it was, byte for byte.
    expect(ct(after, fresh).equals(ct(before, fresh))).toBe(true);

    const now = await cli(["status"], ROTATED);
    expect(now.out).toContain("every sealed value is under the current key");
    expect(now.out).toContain(`no sealed value needs: ${K1}`);
    expect(now.out).not.toContain(`  ${K1}  `);
  });

  it("a node with only the new key then serves everything the old key sealed", async () => {
    // The account number is never shown by the API (last four only): it opens under the new key alone.
    const [row] = await sealedRows().then((rows) => rows.filter((x) => x.id === account));
    expect(openNumber(RETIRED, { keyId: row!.key_id, ciphertext: row!.ct }, account)).toBe(ACCOUNT_NUMBER);

    const node = await servicesWith(sql, RETIRED);
    try {
      // Enhanced PII is merged on append: what was on file opens.
      const appended = await call(node.accounts, "appendEnhancedPii", {
        businessId: biz,
        customerId: customer,
        dateOfBirth: "",
        taxId: "",
        identityDocument: { type: "passport", number: "X9Q4417726", country: "GB" },
        idempotencyKey: "",
      });
      expect(appended.customer?.enhancedPii).toMatchObject({
        dateOfBirthOnFile: true,
        taxIdLast4: "6789",
        identityDocumentType: "passport",
      });
      // Replays of a secret shown once still show it.
      expect((await call(node.accounts, "createApiKey", createKey())).apiKey).toBe(apiKey);
      const replayed = await call(
        node.notifications,
        "createWebhookSubscription",
        createHook("create-hook-1"),
      );
      expect(replayed.secret).toBe(secrets.first);
      expect((await call(node.notifications, "rotateWebhookSecret", rotateHook())).secret).toBe(
        secrets.second,
      );

      // Deliveries are signed with both secrets of the overlap, each opened under the new key.
      const published = await call(node.notifications, "publishEvent", {
        businessId: biz,
        type: "workflow.completed",
        workflowId: "",
        payloadJson: JSON.stringify({ workflow_id: "wf_rotated" }),
        idempotencyKey: "",
      });
      const d = await receiver.waitForDelivery((x) => x.eventId === published.eventId && x.status === 200);
      const header = d.headers[SIGNATURE_HEADER.toLowerCase()];
      expect(verifyWebhookSignature(header, d.body, [secrets.second])).toBeUndefined();
      expect(verifyWebhookSignature(header, d.body, [secrets.first])).toBeUndefined();
      expect(verifyWebhookSignature(header, d.body, ["whsec_not_the_secret"])).toBeDefined();
    } finally {
      await node.stop();
    }
  });

  it("a second pass has nothing to do and changes no byte", async () => {
    const before = await everythingSealed();
    const again = await cli(["reencrypt"], ROTATED);
    expect(again.code).toBe(0);
    expect(again.out).not.toMatch(/: [1-9]\d* sealed again/);
    expect(again.out).toContain("accounts.financial_accounts.number_ciphertext: 0 sealed again");
    expect(await everythingSealed()).toBe(before);
  });

  it("reports a value that does not open by its row, exits non-zero, and goes on with the rest", async () => {
    // Two account numbers under k1 again: one intact, one altered at rest (another row's ciphertext).
    const node = await servicesWith(sql, OLD);
    let second = "";
    try {
      second = await addBankAccount(node.accounts, holder(), "000987654321");
    } finally {
      await node.stop();
    }
    await sql`update accounts.financial_accounts set number_ciphertext = ${(await sealedRows()).find((r) => r.id === second)!.ct},
      key_id = ${K1} where id = ${account}`;
    // A webhook secret and its replay sealed under a key the keyring no longer has.
    const gone = await servicesWith(sql, keyringOf("k0"));
    let orphan = "";
    try {
      orphan = (
        await call(
          gone.notifications,
          "createWebhookSubscription",
          createHook("hook-gone-key", "customer.created"),
        )
      ).subscription!.id;
    } finally {
      await gone.stop();
    }

    const r = await cli(["reencrypt"], ROTATED);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "accounts.financial_accounts.number_ciphertext: 1 sealed again, 0 changed meanwhile, 1 failed",
    );
    expect(r.out).toContain(`  ${account}: does not open under its key`);
    expect(r.out).toContain(
      "notifications.webhook_subscriptions.secret: 0 sealed again, 0 changed meanwhile, 1 failed",
    );
    expect(r.out).toContain(`  ${orphan}: sealed under key k0, which the keyring does not have`);
    expect(r.out).toContain(
      "notifications.idempotency.response[CreateWebhookSubscription]: 0 sealed again, 0 changed meanwhile, 1 failed",
    );
    expect(r.out).toContain(`  ${biz}/hook-gone-key: sealed under key k0, which the keyring does not have`);
    expect(r.out).not.toContain("000987654321");
    const rows = await sealedRows();
    expect(rows.find((x) => x.id === second)?.key_id).toBe(K2);
    expect(rows.find((x) => x.id === account)?.key_id).toBe(K1);
    expect((await cli(["status"], ROTATED)).out).toContain(
      `notifications.webhook_subscriptions.secret  k0  1`,
    );

    // A replay whose key is gone answers that the secret was shown once, typed.
    const retired = await servicesWith(sql, RETIRED);
    try {
      const replay = await rejected(
        call(
          retired.notifications,
          "createWebhookSubscription",
          createHook("hook-gone-key", "customer.created"),
        ),
      );
      expect(replay.code).toBe(status.FAILED_PRECONDITION);
      expect(readErrorCode(replay)).toBe("webhook_secret_shown_once");
    } finally {
      await retired.stop();
    }
  });

  it("a retry that spans the rotation replays its first attempt (fingerprints under the older key still match)", async () => {
    const request = (key: string) => ({
      businessId: biz,
      customerId: customer,
      idempotencyKey: key,
      name: "Card",
      source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
      providerAccountId: "",
      makeDefault: false,
      details: {
        $case: "card" as const,
        value: { number: "4000056655665556", expiry: "12/29", cardType: 1 },
      },
    });
    const pii = {
      businessId: biz,
      customerId: customer,
      dateOfBirth: "",
      taxId: "987-65-4321",
      identityDocument: undefined,
    };
    // The first attempt hashes under k1 (current then), the retry under k2.
    const before = await servicesWith(sql, { currentKeyId: K1, keys: { [K1]: k1, [K2]: k2 } });
    let first: string;
    let firstPii: unknown;
    try {
      first = (await call(before.accounts, "addFinancialAccount", request("card-across-rotation")))
        .financialAccount!.id;
      firstPii = await call(before.accounts, "appendEnhancedPii", {
        ...pii,
        idempotencyKey: "pii-across-rotation",
      });
    } finally {
      await before.stop();
    }
    const after = await servicesWith(sql, ROTATED);
    try {
      const again = await call(after.accounts, "addFinancialAccount", request("card-across-rotation"));
      expect(again.financialAccount!.id).toBe(first);
      expect(
        await call(after.accounts, "appendEnhancedPii", { ...pii, idempotencyKey: "pii-across-rotation" }),
      ).toEqual(firstPii);
      // Another number under the same key is still another request.
      const other = await rejected(
        call(after.accounts, "addFinancialAccount", {
          ...request("card-across-rotation"),
          details: { $case: "card", value: { number: "4000056655665564", expiry: "12/29", cardType: 1 } },
        }),
      );
      expect(other.code).toBe(status.FAILED_PRECONDITION);
    } finally {
      await after.stop();
    }
    const cards = await sql`select id from accounts.financial_accounts where name = 'Card'`;
    expect(cards.map((r) => r.id)).toEqual([first]);
  });
});
