import { randomBytes } from "node:crypto";
import { type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, ManualClock, type Sql } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  BankAccountType,
  CardType,
  type CreateTransactionRequest,
  CustomerStatus,
  FinancialAccountSource,
  TransactionDirection,
  TransactionMethod,
  TransactionStatus,
  type TransactionsServiceClient,
} from "../../proto/index.ts";
import {
  createAccountsClient,
  createAccountsService,
  migrateAccounts,
} from "../../services/accounts/index.ts";
import {
  call,
  type ListeningServer,
  listen,
  readErrorCode,
  readFieldViolations,
} from "../../services/grpc/index.ts";
import {
  createNotificationsClient,
  createNotificationsService,
  migrateNotifications,
  type NotificationsServiceHandle,
  OutboxEmailSender,
  OutboxSmsSender,
} from "../../services/notifications/index.ts";
import {
  createTransactionsClient,
  createTransactionsService,
  migrateTransactions,
  type TransactionStatusChangeEvent,
  type TransactionsServiceHandle,
} from "../../services/transactions/index.ts";
import { createTestDatabase } from "../infra/index.ts";
import { captureLogs } from "./helpers.ts";

const logs = captureLogs();
const S = TransactionStatus;
const DAY = 86_400_000;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let server: ListeningServer;
let client: TransactionsServiceClient;
let accounts: AccountsServiceClient;
let txns: TransactionsServiceHandle;
let notifications: NotificationsServiceHandle;
const clock = new ManualClock(Date.UTC(2025, 5, 16, 15));
const heard: TransactionStatusChangeEvent[] = [];

async function rejected(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected the call to fail");
}

const NUMBERS = ["000123459901", "4000056655665556", "4000000000000002", "5105105105105100", "000555666777"];

async function setup(limit?: number) {
  const biz = (
    await call(accounts, "createBusiness", { name: "Acme", parentBusinessId: "", idempotencyKey: "" })
  ).business!.id;
  const cus = (
    await call(accounts, "createCustomer", {
      businessId: biz,
      idempotencyKey: "",
      externalId: "",
      profile: {
        $case: "individual",
        value: {
          firstName: "Ada",
          lastName: "L",
          email: "ada@example.com",
          phone: "+15551234567",
          addresses: [],
        },
      },
    })
  ).customer!.id;
  const add = async (details: never) =>
    (
      await call(accounts, "addFinancialAccount", {
        businessId: biz,
        customerId: cus,
        idempotencyKey: "",
        name: "",
        source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
        providerAccountId: "",
        makeDefault: false,
        details,
      })
    ).financialAccount!.id;
  const bankOf = (accountNumber: string) =>
    add({
      $case: "bankAccount",
      value: {
        routingNumber: "011000015",
        accountNumber,
        accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
        nameOnAccount: "Ada L",
      },
    } as never);
  const cardOf = (number: string, cardType = CardType.CARD_TYPE_DEBIT) =>
    add({ $case: "card", value: { number, expiry: "12/29", cardType } } as never);
  void limit;
  return {
    biz,
    cus,
    bank: await bankOf("000555666777"),
    r01: await bankOf("000123459901"),
    debit: await cardOf("4000056655665556"),
    declined: await cardOf("4000000000000002"),
    credit: await cardOf("5105105105105100", CardType.CARD_TYPE_CREDIT),
  };
}

type Setup = Awaited<ReturnType<typeof setup>>;

function req(s: Setup, over: Partial<CreateTransactionRequest> = {}): CreateTransactionRequest {
  return {
    businessId: s.biz,
    customerId: s.cus,
    financialAccountId: s.debit,
    direction: TransactionDirection.TRANSACTION_DIRECTION_SEND,
    method: TransactionMethod.TRANSACTION_METHOD_PUSH_TO_CARD,
    amount: { amountMinor: 25_000, currency: "USD" },
    idempotencyKey: `key-${randomBytes(6).toString("hex")}`,
    workflowId: "",
    externalId: "",
    ...over,
  };
}

async function advance(ms: number): Promise<void> {
  clock.advance(ms);
  await txns.runDue();
}

const statusOf = async (s: Setup, id: string) =>
  (await call(client, "getTransaction", { businessId: s.biz, transactionId: id })).transaction!;

let accountsServer: ListeningServer;
let notificationsServer: ListeningServer;
let limitedBiz = "";

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url);
  await migrateAccounts(sql);
  await migrateNotifications(sql);
  await migrateTransactions(sql);
  accountsServer = await listen([
    createAccountsService({ sql, clock, keyring: { currentKeyId: "k", keys: { k: randomBytes(32) } } }),
  ]);
  accounts = createAccountsClient(accountsServer.address);
  notifications = createNotificationsService({
    sql,
    clock,
    sms: new OutboxSmsSender(sql),
    email: new OutboxEmailSender(sql),
  });
  notificationsServer = await listen([notifications]);
  limitedBiz = (
    await call(accounts, "createBusiness", { name: "Small", parentBusinessId: "", idempotencyKey: "" })
  ).business!.id;
  txns = createTransactionsService({
    sql,
    clock,
    accounts,
    notifications: createNotificationsClient(notificationsServer.address),
    limits: { perBusiness: { [limitedBiz]: 10_000 } },
  });
  txns.onStatusChange((e) => heard.push(e));
  server = await listen([txns]);
  client = createTransactionsClient(server.address);
});

afterAll(async () => {
  client?.close();
  accounts?.close();
  await server?.close();
  await txns?.close();
  await notifications?.close();
  await notificationsServer?.close();
  await accountsServer?.close();
  await sql?.end({ timeout: 5 });
  await db?.drop();
  logs.restore();
});

describe("transactions service", () => {
  it("pushes to a debit card: NEW → PENDING → PROCESSING → SETTLED, once per key, with events", async () => {
    const s = await setup();
    const r = req(s, { idempotencyKey: "wf_1:3", workflowId: "wf_1", externalId: "inv-1" });
    const [a, b] = await Promise.all([
      call(client, "createTransaction", r),
      call(client, "createTransaction", r),
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
      call(client, "createTransaction", { ...r, amount: { amountMinor: 1, currency: "USD" } }),
    );
    expect(readErrorCode(reused)).toBe("idempotency_key_reused");
    expect(await sql`select 1 from transactions.transactions where customer_id = ${s.cus}`).toHaveLength(1);
    const id = a.transaction!.id;
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
      heard.filter((e) => e.transactionId === id).map((e) => [e.status, e.workflowId, e.businessId]),
    ).toEqual([
      ["pending", "wf_1", s.biz],
      ["processing", "wf_1", s.biz],
      ["settled", "wf_1", s.biz],
    ]);
    const events = await sql<
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
        client,
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
    expect(heard.find((e) => e.transactionId === t.id && e.status === "returned")?.returnCode).toBe("R01");
    // A good account stays settled.
    const ok = (
      await call(
        client,
        "createTransaction",
        req(s, { financialAccountId: s.bank, method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT }),
      )
    ).transaction!;
    await advance(3 * DAY);
    expect((await statusOf(s, ok.id)).status).toBe(S.TRANSACTION_STATUS_SETTLED);
  });

  it("requests funds by ACH debit only with a recorded authorization, then clears", async () => {
    const s = await setup();
    const debit = req(s, {
      financialAccountId: s.bank,
      direction: TransactionDirection.TRANSACTION_DIRECTION_REQUEST,
      method: TransactionMethod.TRANSACTION_METHOD_ACH_DEBIT,
    });
    const refused = await rejected(call(client, "createTransaction", debit));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(readErrorCode(refused)).toBe("ach_debit_not_authorized");
    await call(accounts, "recordDocumentAcceptance", {
      businessId: s.biz,
      customerId: s.cus,
      documentId: "ach-authorization",
      version: "1",
      contentHash: `sha256:${"0".repeat(64)}`,
      scope: "ach_debit_authorization",
      acceptedAt: new Date(clock.now()),
      ip: "198.51.100.7",
      userAgent: "test",
      idempotencyKey: "",
      workflowId: "",
    });
    const t = (await call(client, "createTransaction", debit)).transaction!;
    await advance(30_000 + DAY);
    expect((await statusOf(s, t.id)).status).toBe(S.TRANSACTION_STATUS_CLEARED);
  });

  it("declines magic cards, cancels while pending only", async () => {
    const s = await setup();
    const d = (await call(client, "createTransaction", req(s, { financialAccountId: s.declined })))
      .transaction!;
    const c = (await call(client, "createTransaction", req(s))).transaction!;
    const cancelled = await call(client, "cancelTransaction", {
      businessId: s.biz,
      transactionId: c.id,
      reason: "",
    });
    expect(cancelled.transaction?.status).toBe(S.TRANSACTION_STATUS_CANCELLED);
    const p = (await call(client, "createTransaction", req(s))).transaction!;
    await advance(30_000);
    expect(await statusOf(s, d.id)).toMatchObject({
      status: S.TRANSACTION_STATUS_DECLINED,
      failureReason: "card_declined",
    });
    expect((await statusOf(s, c.id)).status).toBe(S.TRANSACTION_STATUS_CANCELLED);
    const late = await rejected(
      call(client, "cancelTransaction", { businessId: s.biz, transactionId: p.id, reason: "" }),
    );
    expect(readErrorCode(late)).toBe("not_cancellable");
    const listed = await call(client, "listTransactions", { businessId: s.biz, customerId: s.cus });
    expect(listed.transactions.map((t) => t.id).sort()).toEqual([c.id, d.id, p.id].sort());
  });

  it("refuses what the account, the customer or the limit does not allow", async () => {
    const s = await setup();
    const code = async (over: Partial<CreateTransactionRequest>) =>
      readErrorCode(await rejected(call(client, "createTransaction", req(s, over))));
    expect(await code({ financialAccountId: s.bank })).toBe("debit_card_required");
    expect(await code({ financialAccountId: s.credit })).toBe("debit_card_required");
    expect(await code({ method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT })).toBe(
      "bank_account_required",
    );
    await call(accounts, "setCustomerStatus", {
      businessId: s.biz,
      customerId: s.cus,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: "review",
      idempotencyKey: "",
    });
    expect(await code({})).toBe("customer_suspended");
    const small = await rejected(
      call(
        client,
        "createTransaction",
        req(s, { businessId: limitedBiz, amount: { amountMinor: 10_001, currency: "USD" } }),
      ),
    );
    expect(small.code).toBe(status.FAILED_PRECONDITION);
    expect(readErrorCode(small)).toBe("limit_exceeded");
  });

  it("validates every field and keeps tenants apart", async () => {
    const s = await setup();
    const err = await rejected(
      call(client, "createTransaction", {
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
      call(client, "createTransaction", req(s, { amount: undefined, direction: 0, method: 0 })),
    );
    expect(readFieldViolations(noAmount).map((v) => v.field)).toEqual(["direction", "method", "amount"]);
    const badCancel = await rejected(
      call(client, "cancelTransaction", { businessId: "", transactionId: "fa_1", reason: "" }),
    );
    expect(readFieldViolations(badCancel).map((v) => v.field)).toEqual(["business_id", "transaction_id"]);
    const badList = await rejected(
      call(client, "listTransactions", {
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
    const t = (await call(client, "createTransaction", req(s))).transaction!;
    const errors = await Promise.all(
      [
        call(client, "getTransaction", { businessId: other.biz, transactionId: t.id }),
        call(client, "cancelTransaction", { businessId: other.biz, transactionId: t.id, reason: "" }),
        call(client, "createTransaction", req(other, { customerId: s.cus, financialAccountId: s.debit })),
        call(client, "createTransaction", req(s, { financialAccountId: other.debit })),
      ].map((p) => rejected(p)),
    );
    expect(errors.map((e) => e.code)).toEqual([
      status.NOT_FOUND,
      status.NOT_FOUND,
      status.NOT_FOUND,
      status.NOT_FOUND,
    ]);
    const list = await call(client, "listTransactions", { businessId: other.biz, customerId: "" });
    expect(list.transactions.map((x) => x.id)).not.toContain(t.id);
  });

  it("never logs or returns an account or card number", async () => {
    const text = logs.text();
    const events = JSON.stringify(await sql`select payload from notifications.events`);
    const txnRows = JSON.stringify(await sql`select * from transactions.transactions`, (_k, v) =>
      typeof v === "bigint" ? String(v) : v,
    );
    for (const n of NUMBERS) {
      expect(text).not.toContain(n);
      expect(events).not.toContain(n);
      expect(txnRows).not.toContain(n);
    }
  });
});
