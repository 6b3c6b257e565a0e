import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountsServiceClient, AppendEnhancedPiiRequest } from "../../proto/index.ts";
import {
  createAccountsClient,
  createAccountsService,
  type Keyring,
  openNumber,
} from "../../services/accounts/index.ts";
import { call, listen, readErrorCode } from "../../services/grpc/index.ts";
import { rawLogger, recordCalls, rejected } from "./helpers.ts";
import { type AccountsStack, startAccounts } from "./stack.ts";

const DOB = "1984-07-19";
const TAX_ID = "123-45-6789";
const PASSPORT = "X9Q4417726";
const SECRETS = [DOB, TAX_ID, TAX_ID.replace(/-/g, ""), PASSPORT];

const raw = rawLogger();
const rec = recordCalls();
let env: AccountsStack;

beforeAll(async () => {
  env = await startAccounts({ log: raw });
});

afterAll(async () => {
  await env?.close();
});

const append = (
  client: AccountsServiceClient,
  businessId: string,
  customerId: string,
  over: Partial<AppendEnhancedPiiRequest>,
) =>
  rec.call(client, "appendEnhancedPii", {
    businessId,
    customerId,
    dateOfBirth: "",
    taxId: "",
    identityDocument: undefined,
    idempotencyKey: "",
    ...over,
  });

/** A second accounts service on the same database with another keyring. */
async function serviceWith(keyring: Keyring) {
  const server = await listen([createAccountsService({ sql: env.sql, clock: env.clock, keyring })]);
  const client = createAccountsClient(server.address);
  return {
    client,
    async close() {
      client.close();
      await server.close();
    },
  };
}

describe("enhanced PII appended to a customer", () => {
  it("is kept encrypted, merged with what is on file, and only ever shown masked", async () => {
    const biz = await env.business();
    const cus = await env.customer(biz);
    const before = (await call(env.client, "getCustomer", { businessId: biz, customerId: cus })).customer!;
    expect(before.enhancedPii).toBeUndefined();

    env.clock.advance(60_000);
    const first = await append(env.client, biz, cus, {
      dateOfBirth: DOB,
      taxId: TAX_ID,
      idempotencyKey: "pii-key-1",
    });
    expect(first.customer?.enhancedPii).toEqual({
      dateOfBirthOnFile: true,
      taxIdLast4: "6789",
      identityDocumentType: "",
      identityDocumentCountry: "",
      identityDocumentLast4: "",
      updatedAt: new Date(env.clock.now()),
    });
    expect(first.customer?.updatedAt?.getTime()).toBe(env.clock.now());

    // Appended later: the identity document joins what is on file.
    env.clock.advance(60_000);
    const second = await append(env.client, biz, cus, {
      identityDocument: { type: "passport", number: PASSPORT, country: "GB" },
    });
    expect(second.customer?.enhancedPii).toMatchObject({
      dateOfBirthOnFile: true,
      taxIdLast4: "6789",
      identityDocumentType: "passport",
      identityDocumentCountry: "GB",
      identityDocumentLast4: "7726",
    });
    const got = await rec.call(env.client, "getCustomer", { businessId: biz, customerId: cus });
    expect(got.customer?.enhancedPii).toEqual(second.customer?.enhancedPii);
    // The customer's status and profile are untouched.
    expect(got.customer?.profile).toEqual(before.profile);
    expect(got.customer?.statusHistory).toEqual(before.statusHistory);

    // A replay answers the first result and stores nothing new; another request under the key is refused.
    const again = await append(env.client, biz, cus, {
      dateOfBirth: DOB,
      taxId: TAX_ID,
      idempotencyKey: "pii-key-1",
    });
    expect(again).toEqual(first);
    const reused = await rejected(
      append(env.client, biz, cus, { dateOfBirth: DOB, taxId: "123-45-6788", idempotencyKey: "pii-key-1" }),
    );
    expect(readErrorCode(reused)).toBe("idempotency_key_reused");

    // At rest: one ciphertext under the current key, bound to the customer; the values are in no column.
    const [row] = await env.sql<{ key_id: string; ciphertext: Buffer }[]>`
      select key_id, ciphertext from accounts.customer_enhanced_pii where customer_id = ${cus}`;
    expect(
      JSON.parse(openNumber(env.keyring, { keyId: row!.key_id, ciphertext: row!.ciphertext }, cus)),
    ).toEqual({
      date_of_birth: DOB,
      tax_id: "123456789",
      identity_document: { type: "passport", number: PASSPORT, country: "GB" },
    });
    const stored = JSON.stringify({
      pii: await env.sql`select * from accounts.customer_enhanced_pii`,
      customers: await env.sql`select * from accounts.customers`,
      claims: await env.sql`select * from accounts.idempotency`,
    });
    expect(raw.lines.some((l) => l.includes("enhanced pii appended") && l.includes(cus))).toBe(true);
    for (const secret of SECRETS) {
      expect(stored.includes(secret), `stored ${secret}`).toBe(false);
      expect(rec.text().includes(secret), `answered ${secret}`).toBe(false);
      expect(
        raw.lines.filter((l) => l.includes(secret)),
        `logged ${secret}`,
      ).toEqual([]);
    }
  });

  it("appended after a key rotation keeps what the old key sealed, and is sealed anew under the new key", async () => {
    const biz = await env.business();
    const cus = await env.customer(biz);
    await append(env.client, biz, cus, { taxId: TAX_ID });
    const rotated: Keyring = { currentKeyId: "k2", keys: { ...env.keyring.keys, k2: randomBytes(32) } };
    const next = await serviceWith(rotated);
    // Without the old key the earlier data cannot be opened: the old key id is what makes the append work.
    const newOnly = await serviceWith({ currentKeyId: "k2", keys: { k2: rotated.keys.k2! } });
    try {
      const lost = await rejected(append(newOnly.client, biz, cus, { dateOfBirth: DOB }));
      expect(lost.code).toBe(status.INTERNAL);
      const res = await append(next.client, biz, cus, { dateOfBirth: DOB });
      expect(res.customer?.enhancedPii).toMatchObject({ dateOfBirthOnFile: true, taxIdLast4: "6789" });
      const [row] = await env.sql<{ key_id: string; ciphertext: Buffer }[]>`
        select key_id, ciphertext from accounts.customer_enhanced_pii where customer_id = ${cus}`;
      expect(row!.key_id).toBe("k2");
      expect(JSON.parse(openNumber(rotated, { keyId: "k2", ciphertext: row!.ciphertext }, cus))).toEqual({
        tax_id: "123456789",
        date_of_birth: DOB,
      });
    } finally {
      await next.close();
      await newOnly.close();
    }
  });

  it("is erased with the customer, and kept apart between businesses", async () => {
    const biz = await env.business();
    const other = await env.business();
    const cus = await env.customer(biz);
    await append(env.client, biz, cus, { taxId: TAX_ID });
    const foreign = await rejected(append(env.client, other, cus, { dateOfBirth: DOB }));
    expect(foreign.code).toBe(status.NOT_FOUND);
    await call(env.client, "deleteCustomer", { businessId: biz, customerId: cus, idempotencyKey: "" });
    expect(
      await env.sql`select 1 from accounts.customer_enhanced_pii where customer_id = ${cus}`,
    ).toHaveLength(0);
    const gone = await rejected(append(env.client, biz, cus, { taxId: TAX_ID }));
    expect(gone.code).toBe(status.NOT_FOUND);
  });

  it("is refused without an encryption keyring", async () => {
    const biz = await env.business();
    const cus = await env.customer(biz);
    const server = await listen([createAccountsService({ sql: env.sql, clock: env.clock })]);
    const client = createAccountsClient(server.address);
    try {
      const err = await rejected(append(client, biz, cus, { taxId: TAX_ID }));
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(readErrorCode(err)).toBe("encryption_not_configured");
    } finally {
      client.close();
      await server.close();
    }
  });
});
