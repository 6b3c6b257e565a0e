import { type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Sql } from "../../core/index.ts";
import {
  TransactionDirection,
  TransactionMethod,
  TransactionStatus,
  type TransactionsServiceClient,
} from "../../proto/index.ts";
import {
  call,
  type ListeningServer,
  listen,
  readErrorCode,
  readFieldViolations,
} from "../../services/grpc/index.ts";
import {
  createTransactionsClient,
  createTransactionsService,
  migrateTransactions,
} from "../../services/transactions/index.ts";
import { createTestDatabase } from "../infra/index.ts";
import { captureLogs } from "./helpers.ts";

const logs = captureLogs();

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let server: ListeningServer;
let client: TransactionsServiceClient;

async function rejected(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected the call to fail");
}

const req = {
  businessId: "biz_a",
  customerId: "cus_a",
  financialAccountId: "fa_a",
  direction: TransactionDirection.TRANSACTION_DIRECTION_SEND,
  method: TransactionMethod.TRANSACTION_METHOD_PUSH_TO_CARD,
  amount: { amountMinor: 25_000, currency: "USD" },
  idempotencyKey: "wf_1:3",
  workflowId: "wf_1",
};

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url);
  await migrateTransactions(sql);
  server = await listen([createTransactionsService({ sql })]);
  client = createTransactionsClient(server.address);
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await sql?.end({ timeout: 5 });
  await db?.drop();
  logs.restore();
});

describe("transactions service", () => {
  it("creates a pending transaction once per idempotency key and reads it back", async () => {
    const [a, b] = await Promise.all([
      call(client, "createTransaction", req),
      call(client, "createTransaction", req),
    ]);
    expect(a.transaction?.id).toBe(b.transaction?.id);
    expect(a.transaction).toMatchObject({
      status: TransactionStatus.TRANSACTION_STATUS_PENDING,
      amount: { amountMinor: 25_000, currency: "USD" },
    });
    const got = await call(client, "getTransaction", {
      businessId: "biz_a",
      transactionId: a.transaction!.id,
    });
    expect(got.transaction).toEqual(a.transaction);
    const other = await rejected(
      call(client, "getTransaction", { businessId: "biz_b", transactionId: a.transaction!.id }),
    );
    expect(other.code).toBe(status.NOT_FOUND);
    const reused = await rejected(
      call(client, "createTransaction", { ...req, amount: { amountMinor: 1, currency: "USD" } }),
    );
    expect(readErrorCode(reused)).toBe("idempotency_key_reused");
  });

  it("rejects bad money and method combinations field by field", async () => {
    const err = await rejected(
      call(client, "createTransaction", {
        ...req,
        idempotencyKey: "",
        direction: TransactionDirection.TRANSACTION_DIRECTION_REQUEST,
        amount: { amountMinor: -5, currency: "usd" },
      }),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(readFieldViolations(err).map((v) => v.field)).toEqual([
      "method",
      "amount.amount_minor",
      "amount.currency",
    ]);
  });
});
