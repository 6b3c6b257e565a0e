import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountsServiceClient,
  BankAccountType,
  CustomerStatus,
  FinancialAccountSource,
  FinancialAccountStatus,
} from "../../proto/index.ts";
import { call, readErrorCode, type UnaryMethod } from "../../services/grpc/index.ts";
import { whileHeld } from "./accounts-hold.ts";
import { captureLogs, expectViolations, rejected } from "./helpers.ts";
import { type AccountsStack, person, startAccounts } from "./stack.ts";

let env: AccountsStack;

beforeAll(async () => {
  env = await startAccounts();
});

afterAll(async () => {
  await env?.close();
});

interface Ctx {
  biz: string;
  cus: string;
  cus2: string;
  fa: string;
}

async function context(): Promise<Ctx> {
  const biz = await env.business();
  const cus = await env.customer(biz);
  return { biz, cus, cus2: await env.customer(biz), fa: await env.bank(biz, cus, "000555666777") };
}

const one = async (q: Promise<{ n: number }[]>) => Number((await q)[0]?.n);

/** Who accepted documents, when and where (the variant-free part of an acceptance request). */
const acceptanceSession = (c: Ctx, key: string) => ({
  businessId: c.biz,
  customerId: c.cus,
  acceptedAt: new Date(Date.UTC(2025, 5, 16, 14)),
  ip: "198.51.100.7",
  userAgent: "test",
  idempotencyKey: key,
  workflowId: "",
});
const termsOfService = (v: 0 | 1) => ({
  documentId: "terms-of-service",
  version: v ? "2" : "1",
  contentHash: `sha256:${"ab".repeat(32)}`,
  scope: "",
});
const acceptancesOf = (c: Ctx) =>
  one(env.sql`select count(*)::int as n from accounts.document_acceptances where customer_id = ${c.cus}`);

/**
 * Every mutating accounts RPC with an idempotency key: a valid request
 * (variant 0) and a different one (variant 1), and a count that changes when
 * the mutation acts, so a replay that acts again is caught.
 */
const MUTATIONS: {
  method: UnaryMethod<AccountsServiceClient>;
  request(c: Ctx, key: string, variant: 0 | 1): object;
  effect(c: Ctx): Promise<number>;
}[] = [
  {
    method: "createBusiness",
    request: (c, key, v) => ({ name: v ? "Other" : "Child", parentBusinessId: c.biz, idempotencyKey: key }),
    effect: (c) =>
      one(env.sql`select count(*)::int as n from accounts.businesses where parent_business_id = ${c.biz}`),
  },
  {
    method: "createApiKey",
    request: (c, key, v) => ({ businessId: c.biz, name: v ? "other" : "server", idempotencyKey: key }),
    effect: (c) =>
      one(env.sql`select count(*)::int as n from accounts.api_keys where business_id = ${c.biz}`),
  },
  {
    method: "createCustomer",
    request: (c, key, v) => ({
      businessId: c.biz,
      idempotencyKey: key,
      externalId: "",
      profile: { $case: "individual", value: person(v ? { firstName: "Bob" } : {}) },
    }),
    effect: (c) =>
      one(env.sql`select count(*)::int as n from accounts.customers where business_id = ${c.biz}`),
  },
  {
    method: "updateCustomer",
    request: (c, key, v) => ({
      businessId: c.biz,
      customerId: c.cus,
      idempotencyKey: key,
      externalId: "",
      profile: { $case: "individual", value: person({ lastName: v ? "Byron" : "King" }) },
    }),
    effect: (c) =>
      one(
        env.sql`select (extract(epoch from updated_at) * 1000)::bigint as n from accounts.customers where id = ${c.cus}`,
      ),
  },
  {
    method: "setCustomerStatus",
    request: (c, key, v) => ({
      businessId: c.biz,
      customerId: c.cus,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: v ? "other reason" : "fraud review",
      idempotencyKey: key,
    }),
    effect: (c) =>
      one(
        env.sql`select count(*)::int as n from accounts.customer_status_history where customer_id = ${c.cus}`,
      ),
  },
  {
    method: "deleteCustomer",
    request: (c, key, v) => ({ businessId: c.biz, customerId: v ? c.cus2 : c.cus, idempotencyKey: key }),
    effect: (c) =>
      one(
        env.sql`select count(*)::int as n from accounts.customers where business_id = ${c.biz} and deleted_at is not null`,
      ),
  },
  {
    method: "addFinancialAccount",
    request: (c, key, v) => ({
      businessId: c.biz,
      customerId: c.cus,
      idempotencyKey: key,
      name: "",
      source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
      providerAccountId: "",
      makeDefault: false,
      details: {
        $case: "bankAccount",
        value: {
          routingNumber: "011000015",
          accountNumber: v ? "22223333" : "11112222",
          accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
          nameOnAccount: "Ada Lovelace",
        },
      },
    }),
    effect: (c) =>
      one(env.sql`select count(*)::int as n from accounts.financial_accounts where customer_id = ${c.cus}`),
  },
  {
    method: "setFinancialAccountStatus",
    request: (c, key, v) => ({
      businessId: c.biz,
      financialAccountId: c.fa,
      status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED,
      reason: v ? "other reason" : "card lost",
      idempotencyKey: key,
    }),
    effect: (c) =>
      one(
        env.sql`select count(*)::int as n from accounts.financial_account_status_history where financial_account_id = ${c.fa}`,
      ),
  },
  {
    method: "disconnectFinancialData",
    request: (c, key, v) => ({ businessId: c.biz, customerId: v ? c.cus2 : c.cus, idempotencyKey: key }),
    effect: (c) =>
      one(
        env.sql`select count(*)::int as n from accounts.financial_account_status_history h
          join accounts.financial_accounts f on f.id = h.financial_account_id where f.business_id = ${c.biz}`,
      ),
  },
  {
    method: "recordDocumentAcceptance",
    request: (c, key, v) => ({ ...acceptanceSession(c, key), ...termsOfService(v) }),
    effect: acceptancesOf,
  },
  {
    method: "recordDocumentAcceptances",
    request: (c, key, v) => ({
      ...acceptanceSession(c, key),
      documents: [
        termsOfService(v),
        { documentId: "privacy-notice", version: "1", contentHash: `sha256:${"cd".repeat(32)}`, scope: "" },
      ],
    }),
    effect: acceptancesOf,
  },
  {
    method: "appendEnhancedPii",
    request: (c, key, v) => ({
      businessId: c.biz,
      customerId: c.cus,
      dateOfBirth: "1984-07-19",
      taxId: v ? "123-45-6788" : "123-45-6789",
      identityDocument: undefined,
      idempotencyKey: key,
    }),
    effect: (c) =>
      one(
        env.sql`select coalesce((select (extract(epoch from updated_at) * 1000)::bigint
          from accounts.customer_enhanced_pii where customer_id = ${c.cus}), 0) as n`,
      ),
  },
];

const rpc = (method: UnaryMethod<AccountsServiceClient>, request: object) =>
  call(env.client, method as "createBusiness", request as never);

describe("idempotency keys on every accounts mutation", () => {
  it.each(MUTATIONS.map((m) => [m.method, m] as const))(
    "%s: refuses keys under 6 or over 255 characters, without acting",
    async (_name, m) => {
      const c = await context();
      const before = await m.effect(c);
      for (const key of ["abcde", "k".repeat(256)]) {
        await expectViolations(
          rpc(m.method, m.request(c, key, 0)),
          ["idempotency_key"],
          `${m.method} ${key.length}`,
        );
      }
      expect(await m.effect(c)).toBe(before);
    },
  );

  it.each(MUTATIONS.map((m) => [m.method, m] as const))(
    "%s: same key and request → the same result, acting once; a different request → a clear error",
    async (_name, m) => {
      const c = await context();
      const before = await m.effect(c);
      const key = `idem-${randomBytes(4).toString("hex")}`;
      env.clock.advance(1_000);
      const first = await rpc(m.method, m.request(c, key, 0));
      const acted = await m.effect(c);
      expect(acted, "the first call acts").not.toBe(before);
      env.clock.advance(60_000); // a replay that acted again would carry a later time
      const again = await rpc(m.method, m.request(c, key, 0));
      expect(again).toEqual(first);
      expect(await m.effect(c)).toBe(acted);

      const reused = await rejected(rpc(m.method, m.request(c, key, 1)));
      expect(reused.code).toBe(status.FAILED_PRECONDITION);
      expect(readErrorCode(reused)).toBe("idempotency_key_reused");
      expect(reused.details).toBe("this idempotency key was already used with a different request");
      expect(await m.effect(c)).toBe(acted);
    },
  );

  it.each(MUTATIONS.map((m) => [m.method, m] as const))(
    "%s: concurrent calls with one key act once and all get the same answer",
    async (_name, m) => {
      // A control context takes the same request once, at the same clock time, to say what one effect is.
      const [c, control] = [await context(), await context()];
      const [before, controlBefore] = [await m.effect(c), await m.effect(control)];
      const key = `idem-${randomBytes(4).toString("hex")}`;
      env.clock.advance(1_000);
      // Holding the context's rows makes the three calls meet: one waits on these rows, the others on its key.
      const answers = await whileHeld(
        env.sql,
        async (tx) => {
          await tx`select from accounts.businesses where id = ${c.biz} for update`;
          await tx`select from accounts.customers where business_id = ${c.biz} for update`;
          await tx`select from accounts.financial_accounts where business_id = ${c.biz} for update`;
        },
        3,
        () => Promise.all([1, 2, 3].map(() => rpc(m.method, m.request(c, key, 0)))),
      );
      expect(answers[1]).toEqual(answers[0]);
      expect(answers[2]).toEqual(answers[0]);
      await rpc(m.method, m.request(control, `${key}-control`, 0));
      const once = (await m.effect(control)) - controlBefore;
      expect(once, "one call acts").not.toBe(0);
      expect((await m.effect(c)) - before).toBe(once);
    },
  );

  it("replays a recorded acceptance to a retry after the customer was deleted; a new key is refused", async () => {
    const c = await context();
    const m = MUTATIONS.find((x) => x.method === "recordDocumentAcceptance")!;
    const key = `idem-${randomBytes(4).toString("hex")}`;
    const first = await rpc(m.method, m.request(c, key, 0));
    await call(env.client, "deleteCustomer", { businessId: c.biz, customerId: c.cus, idempotencyKey: "" });
    expect(await rpc(m.method, m.request(c, key, 0))).toEqual(first);
    const gone = await rejected(rpc(m.method, m.request(c, `${key}-new`, 0)));
    expect(gone.code).toBe(status.NOT_FOUND);
    expect(await m.effect(c)).toBe(1);
  });

  it("logs a mutation once: a replay or a refused reuse of its key logs nothing", async () => {
    const c = await context();
    const m = MUTATIONS.find((x) => x.method === "updateCustomer")!;
    const key = `idem-${randomBytes(4).toString("hex")}`;
    const logs = captureLogs();
    try {
      const first = await rpc(m.method, m.request(c, key, 0));
      env.clock.advance(60_000);
      expect(await rpc(m.method, m.request(c, key, 0))).toEqual(first);
      await rejected(rpc(m.method, m.request(c, key, 1)));
      const updates = logs.lines.filter((l) => l.includes("customer updated") && l.includes(c.cus));
      expect(updates).toHaveLength(1);
    } finally {
      logs.restore();
    }
  });

  it("keeps a replayable API key only sealed: the stored response holds no usable key", async () => {
    const c = await context();
    const req = { businessId: c.biz, name: "server", idempotencyKey: "api-key-sealed-1" };
    const first = await call(env.client, "createApiKey", req);
    const [row] = await env.sql<{ response: Buffer }[]>`
      select response from accounts.idempotency where business_id = ${c.biz} and key = ${req.idempotencyKey}`;
    expect(row!.response.includes(first.apiKey)).toBe(false);
    expect(row!.response.includes(first.apiKey.slice(12))).toBe(false);
    const again = await call(env.client, "createApiKey", req);
    expect(again.apiKey).toBe(first.apiKey);
    expect(await call(env.client, "authenticateApiKey", { apiKey: again.apiKey })).toEqual({
      businessId: c.biz,
      keyId: first.key!.id,
    });
  });

  it("refuses one key reused for another RPC of the same business", async () => {
    const c = await context();
    const key = `idem-${randomBytes(4).toString("hex")}`;
    await call(env.client, "createApiKey", { businessId: c.biz, name: "server", idempotencyKey: key });
    const customers = await one(
      env.sql`select count(*)::int as n from accounts.customers where business_id = ${c.biz}`,
    );
    const err = await rejected(
      call(env.client, "createCustomer", {
        businessId: c.biz,
        idempotencyKey: key,
        externalId: "",
        profile: { $case: "individual", value: person() },
      }),
    );
    expect(readErrorCode(err)).toBe("idempotency_key_reused");
    expect(
      await one(env.sql`select count(*)::int as n from accounts.customers where business_id = ${c.biz}`),
    ).toBe(customers);
  });
});
