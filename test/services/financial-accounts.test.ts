import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, ManualClock, type Sql } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  type AddFinancialAccountRequest,
  BankAccountType,
  CardType,
  CustomerStatus,
  FinancialAccountKind,
  FinancialAccountSource,
  FinancialAccountStatus,
} from "../../proto/index.ts";
import {
  createAccountsClient,
  createAccountsService,
  type Keyring,
  migrateAccounts,
  openNumber,
} from "../../services/accounts/index.ts";
import {
  call,
  type ListeningServer,
  listen,
  readErrorCode,
  readFieldViolations,
} from "../../services/grpc/index.ts";
import { createTestDatabase } from "../infra/index.ts";
import { whileHeld } from "./accounts-hold.ts";
import { captureLogs, rejected } from "./helpers.ts";

const logs = captureLogs();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let server: ListeningServer;
let client: AccountsServiceClient;
const clock = new ManualClock(Date.UTC(2025, 5, 15, 12));
const keyring: Keyring = { currentKeyId: "k1", keys: { k1: randomBytes(32) } };

const ACCOUNT_NUMBER = "000123456789";
const CARD_NUMBER = "4000056655665556";
const HASH = `sha256:${"ab".repeat(32)}`;

async function newBusiness(): Promise<string> {
  return (await call(client, "createBusiness", { name: "Acme", parentBusinessId: "", idempotencyKey: "" }))
    .business!.id;
}

async function newCustomer(businessId: string): Promise<string> {
  const res = await call(client, "createCustomer", {
    businessId,
    idempotencyKey: "",
    externalId: "",
    profile: {
      $case: "individual",
      value: {
        firstName: "Ada",
        lastName: "Lovelace",
        email: "ada@example.com",
        phone: "+15551234567",
        addresses: [],
      },
    },
  });
  return res.customer!.id;
}

function bank(
  businessId: string,
  customerId: string,
  over: Partial<AddFinancialAccountRequest> = {},
): AddFinancialAccountRequest {
  return {
    businessId,
    customerId,
    idempotencyKey: "",
    name: "Checking",
    source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
    providerAccountId: "",
    makeDefault: false,
    details: {
      $case: "bankAccount",
      value: {
        routingNumber: "011000015",
        accountNumber: ACCOUNT_NUMBER,
        accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
        nameOnAccount: "Ada Lovelace",
      },
    },
    ...over,
  };
}

function card(businessId: string, customerId: string, over: Partial<AddFinancialAccountRequest> = {}) {
  return bank(businessId, customerId, {
    name: "Debit card",
    details: {
      $case: "card",
      value: { number: CARD_NUMBER, expiry: "12/27", cardType: CardType.CARD_TYPE_DEBIT },
    },
    ...over,
  });
}

/** A terms-of-service acceptance by `customerId`, without an idempotency key. */
function acceptance(businessId: string, customerId: string) {
  return {
    businessId,
    customerId,
    documentId: "terms-of-service",
    version: "1",
    contentHash: HASH,
    scope: "",
    acceptedAt: new Date(clock.now() - 60_000),
    ip: "203.0.113.9",
    userAgent: "test",
    idempotencyKey: "",
    workflowId: "",
  };
}

/** Terms of service and an ACH debit authorization accepted together by `customerId`. */
function acceptances(businessId: string, customerId: string, idempotencyKey = "") {
  const {
    documentId: _d,
    version: _v,
    contentHash: _h,
    scope: _s,
    ...session
  } = acceptance(businessId, customerId);
  return {
    ...session,
    idempotencyKey,
    documents: [
      { documentId: "terms-of-service", version: "3", contentHash: HASH, scope: "" },
      {
        documentId: "ach-debit-authorization",
        version: "2024-03",
        contentHash: `sha256:${"cd".repeat(32)}`,
        scope: "ach_debit_authorization",
      },
    ],
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url);
  await migrateAccounts(sql);
  server = await listen([createAccountsService({ sql, clock, keyring })]);
  client = createAccountsClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await sql?.end({ timeout: 5 });
  await db?.drop();
  logs.restore();
});

describe("financial accounts", () => {
  it("adds bank accounts and cards, masked, with one default, encrypted at rest", async () => {
    const biz = await newBusiness();
    const cus = await newCustomer(biz);
    const a = await call(client, "addFinancialAccount", bank(biz, cus, { idempotencyKey: "add-bank-1" }));
    expect(a.financialAccount).toMatchObject({
      kind: FinancialAccountKind.FINANCIAL_ACCOUNT_KIND_BANK_ACCOUNT,
      status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_ACTIVE,
      numberLast4: "6789",
      numberMasked: "••••6789",
      isDefault: true,
      details: { $case: "bankAccount", value: { routingNumber: "011000015", nameOnAccount: "Ada Lovelace" } },
    });
    expect(a.financialAccount!.id).toMatch(/^fa_/);
    const again = await call(client, "addFinancialAccount", bank(biz, cus, { idempotencyKey: "add-bank-1" }));
    expect(again.financialAccount?.id).toBe(a.financialAccount?.id);
    const reused = await rejected(
      call(
        client,
        "addFinancialAccount",
        bank(biz, cus, {
          idempotencyKey: "add-bank-1",
          details: {
            $case: "bankAccount",
            value: {
              routingNumber: "011000015",
              accountNumber: "99999999",
              accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
              nameOnAccount: "Ada Lovelace",
            },
          },
        }),
      ),
    );
    expect(readErrorCode(reused)).toBe("idempotency_key_reused");

    const c = await call(client, "addFinancialAccount", card(biz, cus, { makeDefault: true }));
    expect(c.financialAccount).toMatchObject({
      kind: FinancialAccountKind.FINANCIAL_ACCOUNT_KIND_CARD,
      numberMasked: "••••5556",
      isDefault: true,
      details: {
        $case: "card",
        value: { cardType: CardType.CARD_TYPE_DEBIT, expiryMonth: 12, expiryYear: 2027, brand: "visa" },
      },
    });
    // Unlimited per customer.
    for (let i = 0; i < 5; i++) await call(client, "addFinancialAccount", bank(biz, cus));
    const list = await call(client, "listFinancialAccounts", { businessId: biz, customerId: cus });
    expect(list.financialAccounts).toHaveLength(7);
    expect(list.financialAccounts.filter((f) => f.isDefault).map((f) => f.id)).toEqual([
      c.financialAccount!.id,
    ]);

    const d = await call(client, "setDefaultFinancialAccount", {
      businessId: biz,
      financialAccountId: a.financialAccount!.id,
    });
    expect(d.financialAccount?.isDefault).toBe(true);
    const got = await call(client, "getFinancialAccount", {
      businessId: biz,
      financialAccountId: c.financialAccount!.id,
    });
    expect(got.financialAccount?.isDefault).toBe(false);

    // At rest: ciphertext under key k1, bound to the row id; the plaintext is nowhere.
    const [row] = await sql<{ number_ciphertext: Buffer; key_id: string }[]>`
      select number_ciphertext, key_id from accounts.financial_accounts where id = ${a.financialAccount!.id}`;
    expect(row!.key_id).toBe("k1");
    expect(row!.number_ciphertext.toString("latin1")).not.toContain(ACCOUNT_NUMBER);
    expect(
      openNumber(keyring, { keyId: row!.key_id, ciphertext: row!.number_ciphertext }, a.financialAccount!.id),
    ).toBe(ACCOUNT_NUMBER);
    expect(() =>
      openNumber(keyring, { keyId: "k1", ciphertext: row!.number_ciphertext }, c.financialAccount!.id),
    ).toThrow();
    const dump = await sql`select * from accounts.financial_accounts`;
    const idem = await sql`select * from accounts.idempotency`;
    expect(JSON.stringify(dump)).not.toContain(ACCOUNT_NUMBER);
    expect(JSON.stringify(idem)).not.toContain(ACCOUNT_NUMBER);
    expect(JSON.stringify([a, c, list])).not.toContain(CARD_NUMBER);
    expect(logs.text()).not.toContain(ACCOUNT_NUMBER);
    expect(logs.text()).not.toContain(CARD_NUMBER);
  });

  it("gives a customer one default when first accounts are added concurrently", async () => {
    const biz = await newBusiness();
    const cus = await newCustomer(biz);
    const added = await whileHeld(
      sql,
      (tx) => tx`select from accounts.customers where id = ${cus} for update`,
      3,
      () => Promise.all([1, 2, 3].map(() => call(client, "addFinancialAccount", bank(biz, cus)))),
    );
    const list = await call(client, "listFinancialAccounts", { businessId: biz, customerId: cus });
    expect(list.financialAccounts).toHaveLength(3);
    const defaults = list.financialAccounts.filter((f) => f.isDefault).map((f) => f.id);
    expect(defaults).toHaveLength(1);
    expect(added.filter((a) => a.financialAccount?.isDefault).map((a) => a.financialAccount!.id)).toEqual(
      defaults,
    );

    // One asked to be the default while the others are added: it ends up the only default.
    const more = await whileHeld(
      sql,
      (tx) => tx`select from accounts.customers where id = ${cus} for update`,
      3,
      () =>
        Promise.all([
          call(client, "addFinancialAccount", bank(biz, cus)),
          call(client, "addFinancialAccount", card(biz, cus, { makeDefault: true })),
          call(client, "addFinancialAccount", bank(biz, cus)),
        ]),
    );
    const after = await call(client, "listFinancialAccounts", { businessId: biz, customerId: cus });
    expect(after.financialAccounts.filter((f) => f.isDefault).map((f) => f.id)).toEqual([
      more[1].financialAccount!.id,
    ]);
    expect(more.map((a) => a.financialAccount?.isDefault)).toEqual([false, true, false]);
  });

  it("rotates keys: new rows use the new key, old rows stay readable", async () => {
    const rotated: Keyring = { currentKeyId: "k2", keys: { ...keyring.keys, k2: randomBytes(32) } };
    const s2 = await listen([createAccountsService({ sql, clock, keyring: rotated })]);
    const c2 = createAccountsClient(s2.address);
    try {
      const biz = await newBusiness();
      const cus = await newCustomer(biz);
      const res = await call(c2, "addFinancialAccount", card(biz, cus));
      const rows = await sql<{ id: string; number_ciphertext: Buffer; key_id: string }[]>`
        select id, number_ciphertext, key_id from accounts.financial_accounts where number_ciphertext is not null`;
      expect(rows.find((r) => r.id === res.financialAccount!.id)?.key_id).toBe("k2");
      for (const r of rows) {
        expect(openNumber(rotated, { keyId: r.key_id, ciphertext: r.number_ciphertext }, r.id)).toMatch(
          /^\d+$/,
        );
      }
    } finally {
      c2.close();
      await s2.close();
    }
  });

  it("rejects bad input field by field", async () => {
    const biz = await newBusiness();
    const cus = await newCustomer(biz);
    const badBank = await rejected(
      call(client, "addFinancialAccount", {
        ...bank("nope", "x"),
        source: 0,
        providerAccountId: "p",
        name: "n".repeat(101),
        details: {
          $case: "bankAccount",
          value: { routingNumber: "011000016", accountNumber: "12a", accountType: 0, nameOnAccount: "" },
        },
      }),
    );
    expect(badBank.code).toBe(status.INVALID_ARGUMENT);
    expect(readFieldViolations(badBank).map((v) => v.field)).toEqual([
      "business_id",
      "customer_id",
      "name",
      "source",
      "provider_account_id",
      "bank_account.routing_number",
      "bank_account.account_number",
      "bank_account.account_type",
      "bank_account.name_on_account",
    ]);
    const badCard = await rejected(
      call(
        client,
        "addFinancialAccount",
        card(biz, cus, {
          source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_PLAID,
          details: { $case: "card", value: { number: "4000056655665557", expiry: "05/25", cardType: 0 } },
        }),
      ),
    );
    expect(readFieldViolations(badCard).map((v) => v.field)).toEqual([
      "provider_account_id",
      "card.number",
      "card.expiry",
      "card.card_type",
    ]);
    expect(badCard.details).toContain("expired");
    const noDetails = await rejected(
      call(client, "addFinancialAccount", { ...bank(biz, cus), details: undefined }),
    );
    expect(readFieldViolations(noDetails).map((v) => v.field)).toEqual(["details"]);
    const badMonth = await rejected(
      call(
        client,
        "addFinancialAccount",
        card(biz, cus, {
          details: { $case: "card", value: { number: CARD_NUMBER, expiry: "13/30", cardType: 1 } },
        }),
      ),
    );
    expect(readFieldViolations(badMonth).map((v) => v.field)).toEqual(["card.expiry"]);
    const plaid = await call(
      client,
      "addFinancialAccount",
      bank(biz, cus, {
        source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_PLAID,
        providerAccountId: "plaid-acc-1",
      }),
    );
    expect(plaid.financialAccount?.source).toBe(FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_PLAID);
    for (const [method, req, fields] of [
      [
        "getFinancialAccount",
        { businessId: "", financialAccountId: "cus_1" },
        ["business_id", "financial_account_id"],
      ],
      ["listFinancialAccounts", { businessId: "x", customerId: "" }, ["business_id", "customer_id"]],
      [
        "setFinancialAccountStatus",
        { businessId: biz, financialAccountId: "fa_1", status: 3, reason: "", idempotencyKey: "" },
        ["status"],
      ],
      ["setDefaultFinancialAccount", { businessId: biz, financialAccountId: "" }, ["financial_account_id"]],
      [
        "checkTransactable",
        { businessId: "", customerId: "", financialAccountId: "" },
        ["business_id", "customer_id", "financial_account_id"],
      ],
      [
        "disconnectFinancialData",
        { businessId: biz, customerId: "fa_1", idempotencyKey: "" },
        ["customer_id"],
      ],
      ["deleteCustomer", { businessId: "", customerId: cus, idempotencyKey: "" }, ["business_id"]],
    ] as const) {
      const err = await rejected(call(client, method as "getFinancialAccount", req as never));
      expect(err.code, method).toBe(status.INVALID_ARGUMENT);
      expect(
        readFieldViolations(err).map((v) => v.field),
        method,
      ).toEqual(fields);
    }
  });

  it("keeps tenants apart", async () => {
    const biz = await newBusiness();
    const other = await newBusiness();
    const cus = await newCustomer(biz);
    const fa = (await call(client, "addFinancialAccount", bank(biz, cus))).financialAccount!;
    const errors = await Promise.all(
      [
        call(client, "getFinancialAccount", { businessId: other, financialAccountId: fa.id }),
        call(client, "listFinancialAccounts", { businessId: other, customerId: cus }),
        call(client, "addFinancialAccount", bank(other, cus)),
        call(client, "setDefaultFinancialAccount", { businessId: other, financialAccountId: fa.id }),
        call(client, "setFinancialAccountStatus", {
          businessId: other,
          financialAccountId: fa.id,
          status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED,
          reason: "x",
          idempotencyKey: "",
        }),
        call(client, "checkTransactable", { businessId: other, customerId: cus, financialAccountId: fa.id }),
        call(client, "disconnectFinancialData", { businessId: other, customerId: cus, idempotencyKey: "" }),
        call(client, "deleteCustomer", { businessId: other, customerId: cus, idempotencyKey: "" }),
        call(client, "listDocumentAcceptances", { businessId: other, customerId: cus, documentId: "" }),
        call(client, "recordDocumentAcceptance", acceptance(other, cus)),
        call(client, "recordDocumentAcceptances", acceptances(other, cus)),
      ].map((p) => rejected(p)),
    );
    expect(errors.map((e) => e.code)).toEqual(errors.map(() => status.NOT_FOUND));
  });

  it("says who may transact: suspended customers and accounts may not", async () => {
    const biz = await newBusiness();
    const cus = await newCustomer(biz);
    const fa = (await call(client, "addFinancialAccount", bank(biz, cus))).financialAccount!;
    const check = () =>
      call(client, "checkTransactable", { businessId: biz, customerId: cus, financialAccountId: fa.id });
    expect(await check()).toMatchObject({ ok: true, reason: "", achDebitAuthorized: false });
    const suspended = await call(client, "setFinancialAccountStatus", {
      businessId: biz,
      financialAccountId: fa.id,
      status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED,
      reason: "fraud review",
      idempotencyKey: "",
    });
    expect(suspended.financialAccount?.statusHistory.map((h) => h.reason)).toEqual(["added", "fraud review"]);
    expect(await check()).toMatchObject({ ok: false, reason: "financial_account_suspended" });
    await call(client, "setFinancialAccountStatus", {
      businessId: biz,
      financialAccountId: fa.id,
      status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_ACTIVE,
      reason: "",
      idempotencyKey: "",
    });
    await call(client, "setCustomerStatus", {
      businessId: biz,
      customerId: cus,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: "kyc",
      idempotencyKey: "",
    });
    expect(await check()).toMatchObject({ ok: false, reason: "customer_suspended" });
    const otherCus = await newCustomer(biz);
    const mismatch = await rejected(
      call(client, "checkTransactable", { businessId: biz, customerId: otherCus, financialAccountId: fa.id }),
    );
    expect(mismatch.code).toBe(status.NOT_FOUND);
  });
});

describe("document acceptances, deletion and disconnection", () => {
  it("records acceptances once per key and lists them; the debit authorization counts", async () => {
    const biz = await newBusiness();
    const cus = await newCustomer(biz);
    const fa = (await call(client, "addFinancialAccount", bank(biz, cus))).financialAccount!;
    const acceptedAt = new Date(clock.now() - 60_000);
    const req = {
      businessId: biz,
      customerId: cus,
      documentId: "ach-debit-authorization",
      version: "2024-03",
      contentHash: HASH,
      scope: "ach_debit_authorization",
      acceptedAt,
      ip: "203.0.113.9",
      userAgent: "Mozilla/5.0 (iPhone)",
      idempotencyKey: "wf_1:7",
      workflowId: "wf_1",
    };
    const [a, b] = await Promise.all([
      call(client, "recordDocumentAcceptance", req),
      call(client, "recordDocumentAcceptance", req),
    ]);
    expect(a.acceptance?.id).toBe(b.acceptance?.id);
    expect(a.acceptance).toMatchObject({
      documentId: "ach-debit-authorization",
      version: "2024-03",
      acceptedAt,
      ip: "203.0.113.9",
    });
    await call(client, "recordDocumentAcceptance", {
      ...req,
      documentId: "terms-of-service",
      scope: "",
      idempotencyKey: "",
    });
    const all = await call(client, "listDocumentAcceptances", {
      businessId: biz,
      customerId: cus,
      documentId: "",
    });
    expect(all.acceptances.map((x) => x.documentId)).toEqual(["ach-debit-authorization", "terms-of-service"]);
    const one = await call(client, "listDocumentAcceptances", {
      businessId: biz,
      customerId: cus,
      documentId: "terms-of-service",
    });
    expect(one.acceptances).toHaveLength(1);
    const check = await call(client, "checkTransactable", {
      businessId: biz,
      customerId: cus,
      financialAccountId: fa.id,
    });
    expect(check.achDebitAuthorized).toBe(true);

    const bad = await rejected(
      call(client, "recordDocumentAcceptance", {
        businessId: "b",
        customerId: "c",
        documentId: "no spaces",
        version: "",
        contentHash: "abc",
        scope: "Bad Scope",
        acceptedAt: new Date(clock.now() + 3_600_000),
        ip: "300.1.1.1",
        userAgent: "",
        idempotencyKey: "",
        workflowId: "x",
      }),
    );
    expect(readFieldViolations(bad).map((v) => v.field)).toEqual([
      "business_id",
      "customer_id",
      "document_id",
      "version",
      "content_hash",
      "scope",
      "accepted_at",
      "ip",
      "user_agent",
      "workflow_id",
    ]);
    const noTime = await rejected(
      call(client, "recordDocumentAcceptance", { ...req, acceptedAt: undefined }),
    );
    expect(readFieldViolations(noTime).map((v) => v.field)).toEqual(["accepted_at"]);
    const badList = await rejected(
      call(client, "listDocumentAcceptances", { businessId: "", customerId: "", documentId: "a b" }),
    );
    expect(readFieldViolations(badList).map((v) => v.field)).toEqual([
      "business_id",
      "customer_id",
      "document_id",
    ]);
  });

  it("records several documents accepted in one session at once, all or none", async () => {
    const biz = await newBusiness();
    const cus = await newCustomer(biz);
    const fa = (await call(client, "addFinancialAccount", bank(biz, cus))).financialAccount!;
    const list = async () =>
      (await call(client, "listDocumentAcceptances", { businessId: biz, customerId: cus, documentId: "" }))
        .acceptances;
    // A bad second document: nothing is recorded, not even the first.
    const req = acceptances(biz, cus, "wf_2:4");
    const bad = await rejected(
      call(client, "recordDocumentAcceptances", {
        ...req,
        documents: [req.documents[0]!, { ...req.documents[1]!, contentHash: "sha256:short" }],
      }),
    );
    expect(readFieldViolations(bad).map((v) => v.field)).toEqual(["documents[1].content_hash"]);
    expect(await list()).toEqual([]);

    const res = await call(client, "recordDocumentAcceptances", req);
    expect(res.acceptances.map((a) => [a.documentId, a.version, a.scope])).toEqual([
      ["terms-of-service", "3", ""],
      ["ach-debit-authorization", "2024-03", "ach_debit_authorization"],
    ]);
    for (const a of res.acceptances)
      expect(a).toMatchObject({ businessId: biz, customerId: cus, ip: req.ip, userAgent: req.userAgent });
    expect(new Set(res.acceptances.map((a) => a.id)).size).toBe(2);
    expect((await list()).map((a) => a.id).sort()).toEqual(res.acceptances.map((a) => a.id).sort());
    const check = await call(client, "checkTransactable", {
      businessId: biz,
      customerId: cus,
      financialAccountId: fa.id,
    });
    expect(check.achDebitAuthorized).toBe(true);

    await call(client, "deleteCustomer", { businessId: biz, customerId: cus, idempotencyKey: "" });
    const gone = await rejected(call(client, "recordDocumentAcceptances", acceptances(biz, cus, "wf_2:5")));
    expect(gone.code).toBe(status.NOT_FOUND);
    const rows =
      await sql`select count(*)::int as n from accounts.document_acceptances where customer_id = ${cus}`;
    expect(rows[0]?.n).toBe(2);
  });

  it("disconnects financial data, keeping the customer", async () => {
    const biz = await newBusiness();
    const cus = await newCustomer(biz);
    const fa = (await call(client, "addFinancialAccount", bank(biz, cus))).financialAccount!;
    await call(client, "addFinancialAccount", card(biz, cus));
    const res = await call(client, "disconnectFinancialData", {
      businessId: biz,
      customerId: cus,
      idempotencyKey: "disc-1",
    });
    expect(res.disconnected).toBe(2);
    const again = await call(client, "disconnectFinancialData", {
      businessId: biz,
      customerId: cus,
      idempotencyKey: "disc-1",
    });
    expect(again.disconnected).toBe(2);
    const rows =
      await sql`select number_ciphertext, key_id, name_on_account from accounts.financial_accounts where customer_id = ${cus}`;
    expect(
      rows.every((r) => r.number_ciphertext === null && r.key_id === null && r.name_on_account === ""),
    ).toBe(true);
    const list = await call(client, "listFinancialAccounts", { businessId: biz, customerId: cus });
    expect(list.financialAccounts.map((f) => f.status)).toEqual([
      FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_DISCONNECTED,
      FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_DISCONNECTED,
    ]);
    const check = await call(client, "checkTransactable", {
      businessId: biz,
      customerId: cus,
      financialAccountId: fa.id,
    });
    expect(check).toMatchObject({ ok: false, reason: "financial_account_disconnected" });
    const reactivate = await rejected(
      call(client, "setFinancialAccountStatus", {
        businessId: biz,
        financialAccountId: fa.id,
        status: FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_ACTIVE,
        reason: "",
        idempotencyKey: "",
      }),
    );
    expect(readErrorCode(reactivate)).toBe("financial_account_disconnected");
    expect((await call(client, "getCustomer", { businessId: biz, customerId: cus })).customer?.id).toBe(cus);
  });

  it("deletes a customer: NOT_FOUND afterwards everywhere", async () => {
    const biz = await newBusiness();
    const cus = await newCustomer(biz);
    const fa = (await call(client, "addFinancialAccount", bank(biz, cus))).financialAccount!;
    await call(client, "deleteCustomer", { businessId: biz, customerId: cus, idempotencyKey: "delete-1" });
    await call(client, "deleteCustomer", { businessId: biz, customerId: cus, idempotencyKey: "delete-1" });
    const errors = await Promise.all(
      [
        call(client, "getCustomer", { businessId: biz, customerId: cus }),
        call(client, "getFinancialAccount", { businessId: biz, financialAccountId: fa.id }),
        call(client, "listFinancialAccounts", { businessId: biz, customerId: cus }),
        call(client, "setCustomerStatus", {
          businessId: biz,
          customerId: cus,
          status: 1,
          reason: "",
          idempotencyKey: "",
        }),
        call(client, "deleteCustomer", { businessId: biz, customerId: cus, idempotencyKey: "" }),
        call(client, "checkTransactable", { businessId: biz, customerId: cus, financialAccountId: fa.id }),
        call(client, "addFinancialAccount", bank(biz, cus)),
        call(client, "recordDocumentAcceptance", acceptance(biz, cus)),
      ].map((p) => rejected(p)),
    );
    expect(errors.map((e) => e.code)).toEqual(errors.map(() => status.NOT_FOUND));
    const [written] = await sql<{ accounts: number; acceptances: number }[]>`
      select (select count(*)::int from accounts.financial_accounts where customer_id = ${cus}) as accounts,
             (select count(*)::int from accounts.document_acceptances where customer_id = ${cus}) as acceptances`;
    expect(written, "the refused calls wrote nothing").toEqual({ accounts: 1, acceptances: 0 });
    const listed = await call(client, "listCustomers", { businessId: biz, status: 0 });
    expect(listed.customers.map((c) => c.id)).not.toContain(cus);
    const [row] = await sql`select number_ciphertext from accounts.financial_accounts where id = ${fa.id}`;
    expect(row?.number_ciphertext).toBeNull();
  });

  it("refuses financial accounts without a keyring", async () => {
    const s2 = await listen([createAccountsService({ sql, clock })]);
    const c2 = createAccountsClient(s2.address);
    try {
      const biz = await newBusiness();
      const cus = await newCustomer(biz);
      const err = await rejected(call(c2, "addFinancialAccount", bank(biz, cus)));
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(readErrorCode(err)).toBe("encryption_not_configured");
    } finally {
      c2.close();
      await s2.close();
    }
  });
});
