import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../bin/linkflow.ts";
import { connect, type Keyring, openNumber, openText, type Sql } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  BankAccountType,
  FinancialAccountSource,
  type NotificationsServiceClient,
} from "../../proto/index.ts";
import {
  createAccountsClient,
  createAccountsService,
  migrateAccounts,
} from "../../services/accounts/index.ts";
import { call, type ListeningServer, listen } from "../../services/grpc/index.ts";
import {
  createNotificationsClient,
  createNotificationsService,
  migrateNotifications,
  OutboxEmailSender,
  OutboxSmsSender,
} from "../../services/notifications/index.ts";
import { createTestDatabase } from "../infra/index.ts";
import { rejected } from "../services/helpers.ts";
import { person } from "../services/stack.ts";

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

/** The accounts and notifications services under `keyring`, as a node configured with it runs them. */
async function servicesWith(keyring: Keyring) {
  const accounts = createAccountsService({ sql, keyring });
  const notifications = createNotificationsService({
    sql,
    keyring,
    sms: new OutboxSmsSender(sql),
    email: new OutboxEmailSender(sql),
  });
  const server: ListeningServer = await listen([accounts, notifications]);
  const a: AccountsServiceClient = createAccountsClient(server.address);
  const n: NotificationsServiceClient = createNotificationsClient(server.address);
  return {
    accounts: a,
    notifications: n,
    async stop() {
      a.close();
      n.close();
      await server.close();
      await notifications.close();
    },
  };
}

/** Runs `linkflow keys …` in process with `keyring` in the environment; returns its exit code and output. */
async function cli(args: string[], keyring: Keyring) {
  const saved = { ...process.env };
  process.env.DATABASE_URL = db.url;
  process.env.LINKFLOW_ENCRYPTION_KEYS = Object.entries(keyring.keys)
    .map(([id, key]) => `${id}:${key as string}`)
    .join(",");
  process.env.LINKFLOW_ENCRYPTION_KEY_ID = keyring.currentKeyId;
  let out = "";
  let err = "";
  try {
    const code = await main(["keys", ...args], { out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  } finally {
    process.env = saved;
  }
}

/** Adds a checking account with `accountNumber` to the customer; returns its id. */
async function addBankAccount(client: AccountsServiceClient, accountNumber: string): Promise<string> {
  const res = await call(client, "addFinancialAccount", {
    businessId: biz,
    customerId: customer,
    idempotencyKey: "",
    name: "Checking",
    source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
    providerAccountId: "",
    makeDefault: false,
    details: {
      $case: "bankAccount",
      value: {
        routingNumber: "011000015",
        accountNumber,
        accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
        nameOnAccount: "Ada Lovelace",
      },
    },
  });
  return res.financialAccount!.id;
}

const sealedRows = () =>
  sql<{ id: string; key_id: string; ct: Buffer }[]>`
    select id, key_id, number_ciphertext as ct from accounts.financial_accounts order by id`;

let biz = "";
let customer = "";
let account = "";
let subscription = "";
const secrets = { first: "", second: "" };

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url);
  await migrateAccounts(sql);
  await migrateNotifications(sql);
  // Everything below is written under the old key.
  const node = await servicesWith(OLD);
  try {
    biz = (
      await call(node.accounts, "createBusiness", { name: "Acme", parentBusinessId: "", idempotencyKey: "" })
    ).business!.id;
    customer = (
      await call(node.accounts, "createCustomer", {
        businessId: biz,
        profile: { $case: "individual", value: person() },
        idempotencyKey: "",
        externalId: "",
      })
    ).customer!.id;
    account = await addBankAccount(node.accounts, ACCOUNT_NUMBER);
    await call(node.accounts, "appendEnhancedPii", {
      businessId: biz,
      customerId: customer,
      dateOfBirth: "1984-07-19",
      taxId: "123-45-6789",
      identityDocument: undefined,
      idempotencyKey: "",
    });
    const created = await call(node.notifications, "createWebhookSubscription", {
      businessId: biz,
      url: "https://hooks.example.com/linkflow",
      eventTypes: ["workflow.completed"],
      idempotencyKey: "create-hook-1",
    });
    subscription = created.subscription!.id;
    secrets.first = created.secret;
    secrets.second = (
      await call(node.notifications, "rotateWebhookSecret", {
        businessId: biz,
        subscriptionId: subscription,
        overlapSeconds: 3600,
        idempotencyKey: "",
      })
    ).secret;
  } finally {
    await node.stop();
  }
});

afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await db?.drop();
});

describe("linkflow keys", () => {
  it("says which keys seal what, and that the old key is still needed", async () => {
    const r = await cli(["status"], ROTATED);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`current key: ${K2}`);
    expect(r.out).toContain(`accounts.financial_accounts.number_ciphertext  ${K1}  1`);
    expect(r.out).toContain(`accounts.customer_enhanced_pii.ciphertext  ${K1}  1`);
    expect(r.out).toContain(`notifications.webhook_subscriptions.secret  ${K1}  1`);
    expect(r.out).toContain(`notifications.webhook_subscriptions.previous_secret  ${K1}  1`);
    expect(r.out).toContain(`notifications.idempotency  ${K1}  1`);
    expect(r.out).toContain("4 values are under other keys");
    expect(r.out).not.toContain(ACCOUNT_NUMBER);
  });

  it("refuses to run without a keyring, or with a batch that is not a count", async () => {
    const saved = { ...process.env };
    delete process.env.LINKFLOW_ENCRYPTION_KEYS;
    process.env.DATABASE_URL = db.url;
    let err = "";
    try {
      expect(await main(["keys", "status"], { out: () => {}, err: (s) => (err += s) })).toBe(2);
    } finally {
      process.env = saved;
    }
    expect(err).toContain("LINKFLOW_ENCRYPTION_KEYS");
    expect((await cli(["reencrypt", "--batch", "0"], ROTATED)).code).toBe(2);
  });

  it("seals everything again under the current key; the old key can then be retired", async () => {
    const before = await sealedRows();
    const r = await cli(["reencrypt", "--batch", "1"], ROTATED);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      "accounts.financial_accounts.number_ciphertext: 1 sealed again, 0 changed meanwhile, 0 failed",
    );
    expect(r.out).toContain("notifications.webhook_subscriptions.previous_secret: 1 sealed again");
    const after = await sealedRows();
    expect(after.map((x) => x.key_id)).toEqual([K2]);
    expect(after[0]!.ct.equals(before[0]!.ct)).toBe(false);

    // Only the new key from here on.
    expect(openNumber(RETIRED, { keyId: K2, ciphertext: after[0]!.ct }, account)).toBe(ACCOUNT_NUMBER);
    const [hook] = await sql<{ secret: string; previous_secret: string }[]>`
      select secret, previous_secret from notifications.webhook_subscriptions where id = ${subscription}`;
    expect(openText(RETIRED, hook!.secret, `whsec:${subscription}`)).toBe(secrets.second);
    expect(openText(RETIRED, hook!.previous_secret, `whsec:${subscription}`)).toBe(secrets.first);
    const now = await cli(["status"], RETIRED);
    expect(now.out).toContain("every sealed value is under the current key");
    expect(now.out).not.toMatch(new RegExp(`(secret|ciphertext) {2}${K1} `));

    // A node with only the new key reads what it needs: enhanced PII is merged on append.
    const node = await servicesWith(RETIRED);
    try {
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
      // A replay record of a secret shown once is not sealed again: with its key gone it says so, typed.
      const replay = await rejected(
        call(node.notifications, "createWebhookSubscription", {
          businessId: biz,
          url: "https://hooks.example.com/linkflow",
          eventTypes: ["workflow.completed"],
          idempotencyKey: "create-hook-1",
        }),
      );
      expect(replay.code).toBe(status.FAILED_PRECONDITION);
      expect(replay.details).toContain("shown only once");
    } finally {
      await node.stop();
    }

    // A second pass has nothing to do and leaves the new ciphertexts as they are.
    const again = await cli(["reencrypt"], ROTATED);
    expect(again.out).toContain("accounts.financial_accounts.number_ciphertext: 0 sealed again");
    expect((await sealedRows())[0]!.ct.equals(after[0]!.ct)).toBe(true);
  });

  it("reports a value that does not open by its row, exits non-zero, and goes on with the rest", async () => {
    // Two values under k1 again: one intact, one altered at rest.
    const node = await servicesWith(OLD);
    let second = "";
    try {
      second = await addBankAccount(node.accounts, "000987654321");
    } finally {
      await node.stop();
    }
    await sql`update accounts.financial_accounts set number_ciphertext = ${(await sealedRows()).find((r) => r.id === second)!.ct},
      key_id = ${K1} where id = ${account}`;
    const r = await cli(["reencrypt"], ROTATED);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "accounts.financial_accounts.number_ciphertext: 1 sealed again, 0 changed meanwhile, 1 failed",
    );
    expect(r.out).toContain(`${account}: does not open under its key`);
    expect(r.out).not.toContain("000987654321");
    const rows = await sealedRows();
    expect(rows.find((x) => x.id === second)?.key_id).toBe(K2);
    expect(rows.find((x) => x.id === account)?.key_id).toBe(K1);
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
    const before = await servicesWith({ currentKeyId: K1, keys: { [K1]: k1, [K2]: k2 } });
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
    const after = await servicesWith(ROTATED);
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
