import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  BankAccountType,
  FinancialAccountSource,
  TransactionDirection,
  TransactionMethod,
  TransactionStatus,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { type ApiHarness, expectIdempotent, expectViolations, failure, useApiStack } from "./harness.ts";

const api = useApiStack();

/**
 * A pending transaction of the business the call options act for: a customer
 * and a bank account through the public API, then the transaction the way a
 * workflow's payout step makes it (the internal transactions service).
 */
async function pendingTransaction(
  businessId: string,
  as: ReturnType<ApiHarness["asA"]>,
  tag: string,
): Promise<{ customerId: string; transactionId: string }> {
  const { customer } = await call(
    api.customers,
    "createCustomer",
    {
      profile: {
        $case: "individual",
        value: { firstName: "Mary", lastName: "Jackson", email: "", phone: "+14155550501", addresses: [] },
      },
      externalId: tag,
      idempotencyKey: "",
    },
    as,
  );
  const { financialAccount } = await call(
    api.financialAccounts,
    "addFinancialAccount",
    {
      customerId: customer!.id,
      name: "Checking",
      source: FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_MANUAL,
      providerAccountId: "",
      details: {
        $case: "bankAccount",
        value: {
          routingNumber: "011000015",
          accountNumber: "000987654321",
          accountType: BankAccountType.BANK_ACCOUNT_TYPE_CHECKING,
          nameOnAccount: "Mary Jackson",
        },
      },
      makeDefault: true,
      idempotencyKey: "",
    },
    as,
  );
  const { transaction } = await call(api.internalTransactions, "createTransaction", {
    businessId,
    customerId: customer!.id,
    financialAccountId: financialAccount!.id,
    direction: TransactionDirection.TRANSACTION_DIRECTION_SEND,
    method: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT,
    amount: { amountMinor: 12_500, currency: "USD" },
    idempotencyKey: `txn-${tag}`,
    workflowId: "",
    externalId: tag,
  });
  expect(transaction?.status).toBe(TransactionStatus.TRANSACTION_STATUS_PENDING);
  return { customerId: customer!.id, transactionId: transaction!.id };
}

const list = (customerId: string, as: ReturnType<ApiHarness["asA"]>) =>
  call(api.transactions, "listTransactions", { customerId, page: undefined }, as).then((r) =>
    r.transactions.map((t) => t.id),
  );

describe("TransactionService", () => {
  it("another tenant's real transaction is NOT_FOUND to get and cancel, and absent from its lists", async () => {
    const { customerId, transactionId } = await pendingTransaction(api.a.businessId, api.asA(), "iso-1");
    expect(
      (await call(api.transactions, "getTransaction", { transactionId }, api.asA())).transaction?.amount,
    ).toEqual({ amountMinor: 12_500, currency: "USD" });
    expect(await list("", api.asA())).toContain(transactionId);

    expect(
      await failure(call(api.transactions, "getTransaction", { transactionId }, api.asB())),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(
      await failure(
        call(
          api.transactions,
          "cancelTransaction",
          { transactionId, reason: "mine now", idempotencyKey: "b-cancel-1" },
          api.asB(),
        ),
      ),
    ).toMatchObject({ code: status.NOT_FOUND });
    expect(await list("", api.asB())).not.toContain(transactionId);
    expect(await list(customerId, api.asB()).catch(() => [])).not.toContain(transactionId);

    // Still pending: B's cancel did nothing.
    expect(
      (await call(api.transactions, "getTransaction", { transactionId }, api.asA())).transaction?.status,
    ).toBe(TransactionStatus.TRANSACTION_STATUS_PENDING);
  });

  it("cancels once per idempotency key; the key with another transaction is refused and leaves it pending", async () => {
    const { transactionId } = await pendingTransaction(api.a.businessId, api.asA(), "cancel-1");
    const other = await pendingTransaction(api.a.businessId, api.asA(), "cancel-2");
    const req = { transactionId, reason: "wrong amount", idempotencyKey: "txn-cancel-key-1" };
    const cancelled = await expectIdempotent(
      () => call(api.transactions, "cancelTransaction", req, api.asA()),
      () =>
        call(
          api.transactions,
          "cancelTransaction",
          { ...req, transactionId: other.transactionId },
          api.asA(),
        ),
    );
    expect(cancelled.transaction?.status).toBe(TransactionStatus.TRANSACTION_STATUS_CANCELLED);
    expect(
      (await call(api.transactions, "getTransaction", { transactionId: other.transactionId }, api.asA()))
        .transaction?.status,
    ).toBe(TransactionStatus.TRANSACTION_STATUS_PENDING);
  });

  it("a parent acts for its child's transactions with linkflow-business-id; other businesses cannot", async () => {
    const child = (
      await call(
        api.businesses,
        "createChildBusiness",
        { name: "Acme Payouts", idempotencyKey: "" },
        api.asA(),
      )
    ).business!;
    const asChild = api.asA(child.id);
    const { transactionId } = await pendingTransaction(child.id, asChild, "child-1");
    expect((await call(api.transactions, "getTransaction", { transactionId }, asChild)).transaction?.id).toBe(
      transactionId,
    );
    expect(await list("", asChild)).toContain(transactionId);
    // B cannot act for A's child, nor see its transaction.
    expect(
      await failure(
        call(
          api.transactions,
          "getTransaction",
          { transactionId },
          { metadata: api.auth(api.b.apiKey, child.id) },
        ),
      ),
    ).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(
      await failure(call(api.transactions, "getTransaction", { transactionId }, api.asB())),
    ).toMatchObject({
      code: status.NOT_FOUND,
    });
    const cancelled = await call(
      api.transactions,
      "cancelTransaction",
      { transactionId, reason: "duplicate payout", idempotencyKey: "" },
      asChild,
    );
    expect(cancelled.transaction?.status).toBe(TransactionStatus.TRANSACTION_STATUS_CANCELLED);
  });

  it("rejects bad input on every field", async () => {
    const t = api.transactions;
    const as = api.asA();
    const { transactionId } = await pendingTransaction(api.a.businessId, api.asA(), "bad-1");
    await expectViolations([
      [() => call(t, "getTransaction", { transactionId: "" }, as), "transaction_id"],
      [() => call(t, "getTransaction", { transactionId: "txn_NOPE" }, as), "transaction_id"],
      [() => call(t, "listTransactions", { customerId: "cus", page: undefined }, as), "customer_id"],
      [
        () => call(t, "listTransactions", { customerId: "", page: { pageSize: -1, pageToken: "" } }, as),
        "page.page_size",
      ],
      [
        () => call(t, "cancelTransaction", { transactionId: "", reason: "", idempotencyKey: "" }, as),
        "transaction_id",
      ],
      [
        () =>
          call(t, "cancelTransaction", { transactionId, reason: "r".repeat(501), idempotencyKey: "" }, as),
        "reason",
      ],
      [
        () => call(t, "cancelTransaction", { transactionId, reason: "", idempotencyKey: "k" }, as),
        "idempotency_key",
      ],
    ]);
    expect((await call(t, "getTransaction", { transactionId }, as)).transaction?.status).toBe(
      TransactionStatus.TRANSACTION_STATUS_PENDING,
    );
  });
});
