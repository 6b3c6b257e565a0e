import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CreateTransactionRequest,
  TransactionDirection,
  TransactionMethod,
  TransactionsServiceService,
} from "../../proto/index.ts";
import { call, readErrorCode } from "../../services/grpc/index.ts";
import { type Refusal, uncoveredFields } from "./field-coverage.ts";
import { expectViolations, rejected } from "./helpers.ts";
import { startTransactions, type TransactionsStack } from "./stack.ts";

const D = TransactionDirection;
const M = TransactionMethod;

let env: TransactionsStack;
let s: { biz: string; cus: string; debit: string; bank: string };
/** Every refusal the tables below expect, to check that they try every field of every RPC. */
const refusals: Refusal[] = [];

beforeAll(async () => {
  env = await startTransactions();
  const biz = await env.accounts.business();
  const cus = await env.accounts.customer(biz);
  s = {
    biz,
    cus,
    debit: await env.accounts.card(biz, cus, "4000056655665556"),
    bank: await env.accounts.bank(biz, cus, "000555666777"),
  };
});

afterAll(async () => {
  await env?.close();
});

const count = async () =>
  Number((await env.sql`select count(*)::int as n from transactions.transactions`)[0]?.n);

describe("CreateTransaction refuses bad input field by field", () => {
  const money = (amountMinor: number, currency = "USD") => ({ amount: { amountMinor, currency } });
  const rows: [string, () => Partial<CreateTransactionRequest>, string][] = [
    ["empty business id", () => ({ businessId: "" }), "business_id"],
    ["business id of another kind", () => ({ businessId: "cus_1" }), "business_id"],
    ["over-long business id", () => ({ businessId: `biz_${"x".repeat(70)}` }), "business_id"],
    ["empty customer id", () => ({ customerId: "" }), "customer_id"],
    ["customer id of another kind", () => ({ customerId: "fa_1" }), "customer_id"],
    ["empty financial account id", () => ({ financialAccountId: "" }), "financial_account_id"],
    ["financial account id of another kind", () => ({ financialAccountId: "cus_1" }), "financial_account_id"],
    ["unspecified direction", () => ({ direction: D.TRANSACTION_DIRECTION_UNSPECIFIED }), "direction"],
    ["unknown direction", () => ({ direction: 99 as TransactionDirection }), "direction"],
    ["unspecified method", () => ({ method: M.TRANSACTION_METHOD_UNSPECIFIED }), "method"],
    ["unknown method", () => ({ method: 42 as TransactionMethod }), "method"],
    [
      "SEND with ACH_DEBIT",
      () => ({ direction: D.TRANSACTION_DIRECTION_SEND, method: M.TRANSACTION_METHOD_ACH_DEBIT }),
      "method",
    ],
    [
      "REQUEST with PUSH_TO_CARD",
      () => ({ direction: D.TRANSACTION_DIRECTION_REQUEST, method: M.TRANSACTION_METHOD_PUSH_TO_CARD }),
      "method",
    ],
    [
      "REQUEST with ACH_CREDIT",
      () => ({ direction: D.TRANSACTION_DIRECTION_REQUEST, method: M.TRANSACTION_METHOD_ACH_CREDIT }),
      "method",
    ],
    ["no amount", () => ({ amount: undefined }), "amount"],
    ["zero amount", () => money(0), "amount.amount_minor"],
    ["negative amount", () => money(-100), "amount.amount_minor"],
    ["amount over the default limit", () => money(100_000_001), "amount.amount_minor"],
    [
      "amount over the business's own limit",
      () => ({ businessId: env.limitedBiz, ...money(10_001) }),
      "amount.amount_minor",
    ],
    ["empty currency", () => money(100, ""), "amount.currency"],
    ["lower-case currency", () => money(100, "usd"), "amount.currency"],
    ["unknown currency", () => money(100, "XXX"), "amount.currency"],
    ["two-letter currency", () => money(100, "US"), "amount.currency"],
    ["same-day ACH on a push to card", () => ({ sameDayAch: true }), "same_day_ach"],
    ["no idempotency key", () => ({ idempotencyKey: "" }), "idempotency_key"],
    ["5-character idempotency key", () => ({ idempotencyKey: "abcde" }), "idempotency_key"],
    ["256-character idempotency key", () => ({ idempotencyKey: "k".repeat(256) }), "idempotency_key"],
    ["idempotency key with a space", () => ({ idempotencyKey: "key with space" }), "idempotency_key"],
    ["workflow id of another kind", () => ({ workflowId: "txn_1" }), "workflow_id"],
    ["over-long external id", () => ({ externalId: "e".repeat(101) }), "external_id"],
  ];
  refusals.push(...rows.map(([, , field]) => ({ method: "createTransaction", fields: [field] })));
  it.each(rows)("%s → %s", async (label, over, field) => {
    const before = await count();
    await expectViolations(call(env.client, "createTransaction", env.request(s, over())), [field], label);
    expect(await count()).toBe(before);
  });

  it("accepts the limits' edges: the business's own limit and 6- and 255-character keys", async () => {
    const biz = env.limitedBiz;
    const cus = await env.accounts.customer(biz);
    const debit = await env.accounts.card(biz, cus, "4000056655665556");
    const atLimit = await call(
      env.client,
      "createTransaction",
      env.request(
        { biz, cus, debit },
        { amount: { amountMinor: 10_000, currency: "USD" }, idempotencyKey: "k".repeat(6) },
      ),
    );
    expect(atLimit.transaction?.amount).toEqual({ amountMinor: 10_000, currency: "USD" });
    const longKey = await call(
      env.client,
      "createTransaction",
      env.request(s, { idempotencyKey: "k".repeat(255) }),
    );
    expect(longKey.transaction?.id).toMatch(/^txn_/);
  });

  it("answers NOT_FOUND for well-formed ids that name nothing, and creates nothing", async () => {
    const before = await count();
    for (const over of [
      { customerId: "cus_missing" },
      { financialAccountId: "fa_missing" },
      { businessId: "biz_missing" },
    ]) {
      const err = await rejected(call(env.client, "createTransaction", env.request(s, over)));
      expect(err.code, JSON.stringify(over)).toBe(status.NOT_FOUND);
    }
    expect(await count()).toBe(before);
  });
});

describe("the other transaction RPCs refuse bad input field by field", () => {
  const rows: [
    string,
    "getTransaction" | "cancelTransaction" | "listTransactions" | "setBusinessLimits" | "getBusinessLimits",
    () => object,
    string[],
  ][] = [
    [
      "get: empty ids",
      "getTransaction",
      () => ({ businessId: "", transactionId: "" }),
      ["business_id", "transaction_id"],
    ],
    [
      "get: transaction id of another kind",
      "getTransaction",
      () => ({ businessId: s.biz, transactionId: "fa_1" }),
      ["transaction_id"],
    ],
    [
      "get: business id of another kind",
      "getTransaction",
      () => ({ businessId: "txn_1", transactionId: "txn_1" }),
      ["business_id"],
    ],
    [
      "cancel: empty ids",
      "cancelTransaction",
      () => ({ businessId: "", transactionId: "", reason: "" }),
      ["business_id", "transaction_id"],
    ],
    [
      "cancel: over-long reason",
      "cancelTransaction",
      () => ({ businessId: s.biz, transactionId: "txn_1", reason: "r".repeat(501) }),
      ["reason"],
    ],
    [
      "cancel: transaction id of another kind",
      "cancelTransaction",
      () => ({ businessId: s.biz, transactionId: "cus_1", reason: "" }),
      ["transaction_id"],
    ],
    [
      "list: empty business id",
      "listTransactions",
      () => ({ businessId: "", customerId: "" }),
      ["business_id"],
    ],
    [
      "list: customer id of another kind",
      "listTransactions",
      () => ({ businessId: s.biz, customerId: "fa_1" }),
      ["customer_id"],
    ],
    [
      "list: negative page size",
      "listTransactions",
      () => ({ businessId: s.biz, customerId: "", page: { pageSize: -1, pageToken: "" } }),
      ["page.page_size"],
    ],
    [
      "list: page size over 500",
      "listTransactions",
      () => ({ businessId: s.biz, customerId: "", page: { pageSize: 501, pageToken: "" } }),
      ["page.page_size"],
    ],
    [
      "list: foreign page token",
      "listTransactions",
      () => ({ businessId: s.biz, customerId: "", page: { pageSize: 0, pageToken: "cus_1" } }),
      ["page.page_token"],
    ],
    [
      "list: garbage page token",
      "listTransactions",
      () => ({ businessId: s.biz, customerId: "", page: { pageSize: 0, pageToken: "txn_'; --" } }),
      ["page.page_token"],
    ],
    [
      "limits: business id of another kind",
      "setBusinessLimits",
      () => ({ businessId: "cus_1", maxAmountMinor: 100, dailyAmountMinor: 0 }),
      ["business_id"],
    ],
    [
      "limits: negative per-transaction limit",
      "setBusinessLimits",
      () => ({ businessId: s.biz, maxAmountMinor: -1, dailyAmountMinor: 0 }),
      ["max_amount_minor"],
    ],
    [
      "limits: per-transaction limit over the ceiling",
      "setBusinessLimits",
      () => ({ businessId: s.biz, maxAmountMinor: 100_000_000_001, dailyAmountMinor: 0 }),
      ["max_amount_minor"],
    ],
    [
      "limits: negative daily limit",
      "setBusinessLimits",
      () => ({ businessId: s.biz, maxAmountMinor: 100, dailyAmountMinor: -5 }),
      ["daily_amount_minor"],
    ],
    [
      "limits: daily limit under the per-transaction one",
      "setBusinessLimits",
      () => ({ businessId: s.biz, maxAmountMinor: 5_000, dailyAmountMinor: 4_999 }),
      ["daily_amount_minor"],
    ],
    ["limits: empty business id", "getBusinessLimits", () => ({ businessId: "" }), ["business_id"]],
  ];
  refusals.push(...rows.map(([, method, , fields]) => ({ method, fields })));
  it.each(rows)("%s", async (label, method, request, fields) => {
    await expectViolations(call(env.client, method as "getTransaction", request() as never), fields, label);
  });

  it("pages through a customer's transactions with the largest page size and the returned token", async () => {
    const biz = await env.accounts.business();
    const cus = await env.accounts.customer(biz);
    const debit = await env.accounts.card(biz, cus, "4000056655665556");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (await call(env.client, "createTransaction", env.request({ biz, cus, debit }))).transaction!.id,
      );
    const first = await call(env.client, "listTransactions", {
      businessId: biz,
      customerId: cus,
      page: { pageSize: 2, pageToken: "" },
    });
    const second = await call(env.client, "listTransactions", {
      businessId: biz,
      customerId: cus,
      page: { pageSize: 500, pageToken: first.nextPageToken },
    });
    expect([...first.transactions, ...second.transactions].map((x) => x.id)).toEqual([...ids].reverse());
    expect(second.nextPageToken).toBe("");
    expect(
      readErrorCode(
        await rejected(call(env.client, "getTransaction", { businessId: biz, transactionId: "txn_nope" })),
      ),
    ).toBe("not_found");
  });
});

describe("the tables above", () => {
  it("try bad input on every request field of every transactions RPC", () => {
    expect(uncoveredFields(TransactionsServiceService, refusals)).toEqual([]);
  });
});
