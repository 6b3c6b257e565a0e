import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CardType,
  type CreateTransactionRequest,
  CustomerStatus,
  FinancialAccountStatus,
  TransactionDirection,
  TransactionMethod,
  TransactionStatus,
} from "../../proto/index.ts";
import { call, readErrorCode, readFieldViolations } from "../../services/grpc/index.ts";
import { captureLogs, rejected } from "./helpers.ts";
import { startTransactions, type TransactionsStack } from "./stack.ts";

const logs = captureLogs();
const S = TransactionStatus;
const DAY = 86_400_000;

let env: TransactionsStack;

async function setup() {
  const a = env.accounts;
  const biz = await a.business();
  const cus = await a.customer(biz);
  return {
    biz,
    cus,
    bank: await a.bank(biz, cus, "000555666777"),
    r01: await a.bank(biz, cus, "000123459901"),
    debit: await a.card(biz, cus, "4000056655665556"),
    declined: await a.card(biz, cus, "4000000000000002"),
    credit: await a.card(biz, cus, "5105105105105100", CardType.CARD_TYPE_CREDIT),
  };
}

type Setup = Awaited<ReturnType<typeof setup>>;

const req = (s: Setup, over: Partial<CreateTransactionRequest> = {}) => env.request(s, over);
const advance = (ms: number) => env.advance(ms);
const statusOf = async (s: Setup, id: string) =>
  (await call(env.client, "getTransaction", { businessId: s.biz, transactionId: id })).transaction!;

beforeAll(async () => {
  env = await startTransactions();
});

afterAll(async () => {
  await env?.close();
  logs.restore();
});

describe("transactions service", () => {
  it("pushes to a debit card: NEW → PENDING → PROCESSING → SETTLED, once per key, with events", async () => {
    const s = await setup();
    const r = req(s, { idempotencyKey: "wf_1:3", workflowId: "wf_1", externalId: "inv-1" });
    const [a, b] = await Promise.all([
      call(env.client, "createTransaction", r),
      call(env.client, "createTransaction", r),
    ]);
    expect(a.transaction?.id).toBe(b.transaction?.id);
    expect(a.transaction).toMatchObject({
      status: S.TRANSACTION_STATUS_PENDING,
      externalId: "inv-1",
      workflowId: "wf_1",
      accountNumberMasked: "••••5556",
    });
    expect(a.transaction!.statusHistory.map((h) => h.status)).toEqual([
      S.TRANSACTION_STATUS_NEW,
      S.TRANSACTION_STATUS_PENDING,
    ]);
    const reused = await rejected(
      call(env.client, "createTransaction", { ...r, amount: { amountMinor: 1, currency: "USD" } }),
    );
    expect(readErrorCode(reused)).toBe("idempotency_key_reused");
    expect(await env.sql`select 1 from transactions.transactions where customer_id = ${s.cus}`).toHaveLength(
      1,
    );
    const id = a.transaction!.id;
    // The create's answer is what was stored, field for field.
    expect(await statusOf(s, id)).toEqual(a.transaction);
    await advance(30_000);
    expect((await statusOf(s, id)).status).toBe(S.TRANSACTION_STATUS_PROCESSING);
    await advance(5_000);
    const done = await statusOf(s, id);
    expect(done.status).toBe(S.TRANSACTION_STATUS_SETTLED);
    expect(done.statusHistory.map((h) => h.status)).toEqual([
      S.TRANSACTION_STATUS_NEW,
      S.TRANSACTION_STATUS_PENDING,
      S.TRANSACTION_STATUS_PROCESSING,
      S.TRANSACTION_STATUS_SETTLED,
    ]);
    expect(
      env.heard.filter((e) => e.transactionId === id).map((e) => [e.status, e.workflowId, e.businessId]),
    ).toEqual([
      ["pending", "wf_1", s.biz],
      ["processing", "wf_1", s.biz],
      ["settled", "wf_1", s.biz],
    ]);
    const events = await env.sql<
      { type: string; workflow_id: string; payload: { status: string; transaction_id: string } }[]
    >`
      select type, workflow_id, payload from notifications.events where business_id = ${s.biz} order by id`;
    expect(events.map((e) => [e.type, e.workflow_id, e.payload.status])).toEqual([
      ["transaction.status_changed", "wf_1", "pending"],
      ["transaction.status_changed", "wf_1", "processing"],
      ["transaction.status_changed", "wf_1", "settled"],
    ]);
  });

  it("settles ACH next day and returns R01 for the magic account number", async () => {
    const s = await setup();
    const t = (
      await call(
        env.client,
        "createTransaction",
        req(s, { financialAccountId: s.r01, method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT }),
      )
    ).transaction!;
    await advance(30_000);
    await advance(DAY - 1);
    expect((await statusOf(s, t.id)).status).toBe(S.TRANSACTION_STATUS_PROCESSING);
    await advance(1);
    expect((await statusOf(s, t.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
    await advance(DAY);
    expect(await statusOf(s, t.id)).toMatchObject({
      status: S.TRANSACTION_STATUS_RETURNED,
      returnCode: "R01",
    });
    expect(env.heard.find((e) => e.transactionId === t.id && e.status === "returned")?.returnCode).toBe(
      "R01",
    );
    // A good account stays settled.
    const ok = (
      await call(
        env.client,
        "createTransaction",
        req(s, { financialAccountId: s.bank, method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT }),
      )
    ).transaction!;
    await advance(3 * DAY);
    expect((await statusOf(s, ok.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
  });

  it("settles same-day ACH hours after submission, returns included, while next-day ACH still waits", async () => {
    const s = await setup();
    const ach = { method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT };
    const sameDay = (
      await call(
        env.client,
        "createTransaction",
        req(s, { ...ach, financialAccountId: s.bank, sameDayAch: true }),
      )
    ).transaction!;
    expect(sameDay.sameDayAch).toBe(true);
    const sameDayR01 = (
      await call(
        env.client,
        "createTransaction",
        req(s, { ...ach, financialAccountId: s.r01, sameDayAch: true }),
      )
    ).transaction!;
    const nextDay = (
      await call(env.client, "createTransaction", req(s, { ...ach, financialAccountId: s.bank }))
    ).transaction!;
    expect(nextDay.sameDayAch).toBe(false);
    await advance(30_000);
    await advance(4 * 3_600_000 - 1);
    expect((await statusOf(s, sameDay.id)).status).toBe(S.TRANSACTION_STATUS_PROCESSING);
    await advance(1);
    expect((await statusOf(s, sameDay.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
    expect((await statusOf(s, sameDayR01.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
    expect((await statusOf(s, nextDay.id)).status).toBe(S.TRANSACTION_STATUS_PROCESSING);
    await advance(DAY);
    expect(await statusOf(s, sameDayR01.id)).toMatchObject({
      status: S.TRANSACTION_STATUS_RETURNED,
      returnCode: "R01",
    });
    expect((await statusOf(s, nextDay.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
    expect((await statusOf(s, sameDay.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
  });

  it("enforces each business's own limits: per transaction, and per day even under concurrent requests", async () => {
    const s = await setup();
    const defaults = await call(env.client, "getBusinessLimits", { businessId: s.biz });
    expect(defaults.limits).toMatchObject({
      maxAmountMinor: 100_000_000,
      dailyAmountMinor: 0,
      custom: false,
    });
    const set = await call(env.client, "setBusinessLimits", {
      businessId: s.biz,
      maxAmountMinor: 50_000,
      dailyAmountMinor: 100_000,
    });
    expect(set.limits).toEqual({
      businessId: s.biz,
      maxAmountMinor: 50_000,
      dailyAmountMinor: 100_000,
      custom: true,
    });
    expect((await call(env.client, "getBusinessLimits", { businessId: s.biz })).limits).toEqual(set.limits);
    const amount = (amountMinor: number) => ({ amount: { amountMinor, currency: "USD" } });
    const created = () => env.sql`select id from transactions.transactions where business_id = ${s.biz}`;

    const over = await rejected(call(env.client, "createTransaction", req(s, amount(50_001))));
    expect(readFieldViolations(over).map((v) => v.field)).toEqual(["amount.amount_minor"]);
    // Five concurrent 30,000s against a day of 100,000: three fit, two are refused.
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => call(env.client, "createTransaction", req(s, amount(30_000)))),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(ok).toHaveLength(3);
    expect(refused.map((e) => [e.code, readErrorCode(e)])).toEqual([
      [status.FAILED_PRECONDITION, "daily_limit_exceeded"],
      [status.FAILED_PRECONDITION, "daily_limit_exceeded"],
    ]);
    expect(await created()).toHaveLength(3);
    const tenThousand = await rejected(call(env.client, "createTransaction", req(s, amount(10_001))));
    expect(readErrorCode(tenThousand)).toBe("daily_limit_exceeded");
    // A cancelled transaction no longer counts.
    const first = (ok[0] as PromiseFulfilledResult<{ transaction?: { id: string } }>).value.transaction!.id;
    await call(env.client, "cancelTransaction", { businessId: s.biz, transactionId: first, reason: "" });
    await call(env.client, "createTransaction", req(s, amount(30_000)));
    // Another business is not held by this one's limits.
    const other = await setup();
    await call(env.client, "createTransaction", req(other, amount(60_000)));
    // The next UTC day starts afresh.
    await advance(DAY);
    await call(env.client, "createTransaction", req(s, amount(50_000)));
    expect(await created()).toHaveLength(5);
  });

  it("creates once per key under a daily limit too: concurrent retries make one transaction, counted once", async () => {
    const s = await setup();
    await call(env.client, "setBusinessLimits", {
      businessId: s.biz,
      maxAmountMinor: 50_000,
      dailyAmountMinor: 100_000,
    });
    const amount = { amount: { amountMinor: 30_000, currency: "USD" } };
    const r = req(s, amount);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => call(env.client, "createTransaction", r)),
    );
    expect(new Set(results.map((x) => x.transaction!.id)).size).toBe(1);
    expect(results.map((x) => x.transaction)).toEqual(results.map(() => results[0]!.transaction));
    expect(await env.sql`select 1 from transactions.transactions where business_id = ${s.biz}`).toHaveLength(
      1,
    );
    // Counted once: two more fit the day's 100,000, a third does not.
    await call(env.client, "createTransaction", req(s, amount));
    await call(env.client, "createTransaction", req(s, amount));
    const over = await rejected(call(env.client, "createTransaction", req(s, amount)));
    expect(readErrorCode(over)).toBe("daily_limit_exceeded");
  });

  it("requests funds by ACH debit only with a recorded authorization, then clears", async () => {
    const s = await setup();
    const debit = req(s, {
      financialAccountId: s.bank,
      direction: TransactionDirection.TRANSACTION_DIRECTION_REQUEST,
      method: TransactionMethod.TRANSACTION_METHOD_ACH_DEBIT,
    });
    const refused = await rejected(call(env.client, "createTransaction", debit));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(readErrorCode(refused)).toBe("ach_debit_not_authorized");
    await call(env.accounts.client, "recordDocumentAcceptance", {
      businessId: s.biz,
      customerId: s.cus,
      documentId: "ach-authorization",
      version: "1",
      contentHash: `sha256:${"0".repeat(64)}`,
      scope: "ach_debit_authorization",
      acceptedAt: new Date(env.clock.now()),
      ip: "198.51.100.7",
      userAgent: "test",
      idempotencyKey: "",
      workflowId: "",
    });
    const t = (await call(env.client, "createTransaction", debit)).transaction!;
    await advance(30_000 + DAY);
    expect((await statusOf(s, t.id)).status).toBe(S.TRANSACTION_STATUS_CLEARED);
  });

  it("declines magic cards, cancels while pending only", async () => {
    const s = await setup();
    const d = (await call(env.client, "createTransaction", req(s, { financialAccountId: s.declined })))
      .transaction!;
    const c = (await call(env.client, "createTransaction", req(s))).transaction!;
    const cancelled = await call(env.client, "cancelTransaction", {
      businessId: s.biz,
      transactionId: c.id,
      reason: "",
    });
    expect(cancelled.transaction?.status).toBe(S.TRANSACTION_STATUS_CANCELLED);
    const p = (await call(env.client, "createTransaction", req(s))).transaction!;
    await advance(30_000);
    expect(await statusOf(s, d.id)).toMatchObject({
      status: S.TRANSACTION_STATUS_DECLINED,
      failureReason: "card_declined",
    });
    expect((await statusOf(s, c.id)).status).toBe(S.TRANSACTION_STATUS_CANCELLED);
    const late = await rejected(
      call(env.client, "cancelTransaction", { businessId: s.biz, transactionId: p.id, reason: "" }),
    );
    expect(readErrorCode(late)).toBe("not_cancellable");
    const listed = await call(env.client, "listTransactions", { businessId: s.biz, customerId: s.cus });
    expect(listed.transactions.map((t) => t.id).sort()).toEqual([c.id, d.id, p.id].sort());
  });

  it("lists a customer's transactions a page at a time, newest id first, each with its history", async () => {
    const s = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await call(env.client, "createTransaction", req(s))).transaction!.id);
    await call(env.client, "cancelTransaction", { businessId: s.biz, transactionId: ids[0]!, reason: "" });
    const desc = [...ids].sort().reverse();
    const list = (pageToken: string) =>
      call(env.client, "listTransactions", {
        businessId: s.biz,
        customerId: s.cus,
        page: { pageSize: 2, pageToken },
      });
    const first = await list("");
    expect(first.transactions.map((t) => t.id)).toEqual(desc.slice(0, 2));
    expect(first.nextPageToken).toBe(desc[1]);
    const second = await list(first.nextPageToken);
    expect(second.transactions.map((t) => t.id)).toEqual(desc.slice(2));
    expect(second.nextPageToken).toBe("");
    const listed = [...first.transactions, ...second.transactions];
    expect(listed).toEqual(await Promise.all(desc.map((id) => statusOf(s, id))));
    expect(listed.find((t) => t.id === ids[0])?.statusHistory.map((h) => h.status)).toEqual([
      S.TRANSACTION_STATUS_NEW,
      S.TRANSACTION_STATUS_PENDING,
      S.TRANSACTION_STATUS_CANCELLED,
    ]);
  });

  it("refuses what the account or the customer does not allow", async () => {
    const s = await setup();
    const code = async (over: Partial<CreateTransactionRequest>) =>
      readErrorCode(await rejected(call(env.client, "createTransaction", req(s, over))));
    expect(await code({ financialAccountId: s.bank })).toBe("debit_card_required");
    expect(await code({ financialAccountId: s.credit })).toBe("debit_card_required");
    expect(await code({ method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT })).toBe(
      "bank_account_required",
    );
    await call(env.accounts.client, "setCustomerStatus", {
      businessId: s.biz,
      customerId: s.cus,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: "review",
      idempotencyKey: "",
    });
    expect(await code({})).toBe("customer_suspended");
    expect(
      await code({ financialAccountId: s.bank, method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT }),
    ).toBe("customer_suspended");
    expect(await env.sql`select 1 from transactions.transactions where customer_id = ${s.cus}`).toHaveLength(
      0,
    );
  });

  it("refuses a suspended financial account, and takes it again once reactivated", async () => {
    const s = await setup();
    const setStatus = (st: FinancialAccountStatus, reason: string) =>
      call(env.accounts.client, "setFinancialAccountStatus", {
        businessId: s.biz,
        financialAccountId: s.debit,
        status: st,
        reason,
        idempotencyKey: "",
      });
    await setStatus(FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_SUSPENDED, "card reported lost");
    const refused = await rejected(call(env.client, "createTransaction", req(s)));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(readErrorCode(refused)).toBe("financial_account_suspended");
    // Another account of the same (active) customer still works.
    const ach = await call(
      env.client,
      "createTransaction",
      req(s, { financialAccountId: s.bank, method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT }),
    );
    expect(ach.transaction?.status).toBe(S.TRANSACTION_STATUS_PENDING);
    expect(
      await env.sql`select 1 from transactions.transactions where financial_account_id = ${s.debit}`,
    ).toHaveLength(0);
    await setStatus(FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_ACTIVE, "");
    const ok = await call(env.client, "createTransaction", req(s));
    expect(ok.transaction?.status).toBe(S.TRANSACTION_STATUS_PENDING);
    // Disconnected financial data can no longer move money either.
    await call(env.accounts.client, "disconnectFinancialData", {
      businessId: s.biz,
      customerId: s.cus,
      idempotencyKey: "",
    });
    const gone = await rejected(call(env.client, "createTransaction", req(s)));
    expect(readErrorCode(gone)).toBe("financial_account_disconnected");
  });

  it("validates every field and keeps tenants apart", async () => {
    const s = await setup();
    const err = await rejected(
      call(env.client, "createTransaction", {
        businessId: "x",
        customerId: "y",
        financialAccountId: "z",
        direction: TransactionDirection.TRANSACTION_DIRECTION_REQUEST,
        method: TransactionMethod.TRANSACTION_METHOD_PUSH_TO_CARD,
        amount: { amountMinor: -5, currency: "usd" },
        idempotencyKey: "abc",
        workflowId: "nope",
        externalId: "e".repeat(101),
      }),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(readFieldViolations(err).map((v) => v.field)).toEqual([
      "business_id",
      "customer_id",
      "financial_account_id",
      "method",
      "amount.amount_minor",
      "amount.currency",
      "idempotency_key",
      "workflow_id",
      "external_id",
    ]);
    const noAmount = await rejected(
      call(env.client, "createTransaction", req(s, { amount: undefined, direction: 0, method: 0 })),
    );
    expect(readFieldViolations(noAmount).map((v) => v.field)).toEqual(["direction", "method", "amount"]);
    const badCancel = await rejected(
      call(env.client, "cancelTransaction", { businessId: "", transactionId: "fa_1", reason: "" }),
    );
    expect(readFieldViolations(badCancel).map((v) => v.field)).toEqual(["business_id", "transaction_id"]);
    const badList = await rejected(
      call(env.client, "listTransactions", {
        businessId: s.biz,
        customerId: "x",
        page: { pageSize: -1, pageToken: "zz" },
      }),
    );
    expect(readFieldViolations(badList).map((v) => v.field)).toEqual([
      "customer_id",
      "page.page_size",
      "page.page_token",
    ]);

    const other = await setup();
    const t = (await call(env.client, "createTransaction", req(s))).transaction!;
    const errors = await Promise.all(
      [
        call(env.client, "getTransaction", { businessId: other.biz, transactionId: t.id }),
        call(env.client, "cancelTransaction", { businessId: other.biz, transactionId: t.id, reason: "" }),
        call(env.client, "createTransaction", req(other, { customerId: s.cus, financialAccountId: s.debit })),
        call(env.client, "createTransaction", req(s, { financialAccountId: other.debit })),
      ].map((p) => rejected(p)),
    );
    expect(errors.map((e) => e.code)).toEqual([
      status.NOT_FOUND,
      status.NOT_FOUND,
      status.NOT_FOUND,
      status.NOT_FOUND,
    ]);
    const list = await call(env.client, "listTransactions", { businessId: other.biz, customerId: "" });
    expect(list.transactions.map((x) => x.id)).not.toContain(t.id);
  });
});
