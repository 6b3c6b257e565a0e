import { ValidationError } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  type CustomerServiceServer,
  CustomerStatus,
  type FinancialAccountServiceServer,
  FinancialAccountServiceSetDefaultFinancialAccountResponse,
  TransactionServiceCancelTransactionResponse,
  type TransactionServiceServer,
  type TransactionsServiceClient,
} from "../../proto/index.ts";
import { callOrThrow } from "../../services/grpc/index.ts";
import { internalKey, type Rpc } from "./rpc.ts";

function id(field: string, value: string, prefix: string): string {
  if (!value) throw new ValidationError([{ field, description: "is required" }]);
  if (!new RegExp(`^${prefix}_[0-9a-z]{1,60}$`).test(value))
    throw new ValidationError([{ field, description: `must be an id like ${prefix}_…` }]);
  return value;
}

/** An enum field's value must be one the API knows (an unknown number would otherwise pass as "any"). */
function known(field: string, value: number, values: Record<string, string | number>): void {
  if (value === -1 || !Object.values(values).includes(value))
    throw new ValidationError([{ field, description: `${value} is not a known value` }]);
}

/*
 * Thin proxies over the internal accounts and transactions services. The
 * business is always the one the call acts for (never from the request), so an
 * id of another business answers NOT_FOUND from the service that owns it. The
 * services validate the payload and report violations under the same field
 * names the public messages use.
 */

export function customerServiceImpl(deps: {
  rpc: Rpc;
  accounts: AccountsServiceClient;
}): CustomerServiceServer {
  const { rpc, accounts: a } = deps;
  return {
    createCustomer: rpc.mutation("CreateCustomer", null, async (req, ctx) =>
      callOrThrow(
        a,
        "createCustomer",
        {
          businessId: ctx.tenant.businessId,
          profile: req.profile,
          externalId: req.externalId,
          idempotencyKey: internalKey("CreateCustomer", req.idempotencyKey),
        },
        ctx.callOpts(),
      ),
    ),
    getCustomer: rpc.unary("GetCustomer", async (req, ctx) =>
      callOrThrow(
        a,
        "getCustomer",
        { businessId: ctx.tenant.businessId, customerId: id("customer_id", req.customerId, "cus") },
        ctx.callOpts(),
      ),
    ),
    updateCustomer: rpc.mutation("UpdateCustomer", null, async (req, ctx) =>
      callOrThrow(
        a,
        "updateCustomer",
        {
          businessId: ctx.tenant.businessId,
          customerId: id("customer_id", req.customerId, "cus"),
          profile: req.profile,
          externalId: req.externalId,
          idempotencyKey: internalKey("UpdateCustomer", req.idempotencyKey),
        },
        ctx.callOpts(),
      ),
    ),
    listCustomers: rpc.unary("ListCustomers", async (req, ctx) => {
      known("status", req.status, CustomerStatus);
      return callOrThrow(
        a,
        "listCustomers",
        { businessId: ctx.tenant.businessId, page: req.page, status: req.status },
        ctx.callOpts(),
      );
    }),
    setCustomerStatus: rpc.mutation("SetCustomerStatus", null, async (req, ctx) =>
      callOrThrow(
        a,
        "setCustomerStatus",
        {
          businessId: ctx.tenant.businessId,
          customerId: id("customer_id", req.customerId, "cus"),
          status: req.status,
          reason: req.reason,
          idempotencyKey: internalKey("SetCustomerStatus", req.idempotencyKey),
        },
        ctx.callOpts(),
      ),
    ),
    deleteCustomer: rpc.mutation("DeleteCustomer", null, async (req, ctx) => {
      await callOrThrow(
        a,
        "deleteCustomer",
        {
          businessId: ctx.tenant.businessId,
          customerId: id("customer_id", req.customerId, "cus"),
          idempotencyKey: internalKey("DeleteCustomer", req.idempotencyKey),
        },
        ctx.callOpts(),
      );
      return {};
    }),
    disconnectFinancialData: rpc.mutation("DisconnectFinancialData", null, async (req, ctx) =>
      callOrThrow(
        a,
        "disconnectFinancialData",
        {
          businessId: ctx.tenant.businessId,
          customerId: id("customer_id", req.customerId, "cus"),
          idempotencyKey: internalKey("DisconnectFinancialData", req.idempotencyKey),
        },
        ctx.callOpts(),
      ),
    ),
  };
}

export function financialAccountServiceImpl(deps: {
  rpc: Rpc;
  accounts: AccountsServiceClient;
}): FinancialAccountServiceServer {
  const { rpc, accounts: a } = deps;
  return {
    addFinancialAccount: rpc.mutation("AddFinancialAccount", null, async (req, ctx) =>
      callOrThrow(
        a,
        "addFinancialAccount",
        {
          businessId: ctx.tenant.businessId,
          customerId: id("customer_id", req.customerId, "cus"),
          name: req.name,
          source: req.source,
          providerAccountId: req.providerAccountId,
          details: req.details,
          makeDefault: req.makeDefault,
          idempotencyKey: internalKey("AddFinancialAccount", req.idempotencyKey),
        },
        ctx.callOpts(),
      ),
    ),
    getFinancialAccount: rpc.unary("GetFinancialAccount", async (req, ctx) =>
      callOrThrow(
        a,
        "getFinancialAccount",
        {
          businessId: ctx.tenant.businessId,
          financialAccountId: id("financial_account_id", req.financialAccountId, "fa"),
        },
        ctx.callOpts(),
      ),
    ),
    listFinancialAccounts: rpc.unary("ListFinancialAccounts", async (req, ctx) =>
      callOrThrow(
        a,
        "listFinancialAccounts",
        { businessId: ctx.tenant.businessId, customerId: id("customer_id", req.customerId, "cus") },
        ctx.callOpts(),
      ),
    ),
    setFinancialAccountStatus: rpc.mutation("SetFinancialAccountStatus", null, async (req, ctx) =>
      callOrThrow(
        a,
        "setFinancialAccountStatus",
        {
          businessId: ctx.tenant.businessId,
          financialAccountId: id("financial_account_id", req.financialAccountId, "fa"),
          status: req.status,
          reason: req.reason,
          idempotencyKey: internalKey("SetFinancialAccountStatus", req.idempotencyKey),
        },
        ctx.callOpts(),
      ),
    ),
    setDefaultFinancialAccount: rpc.mutation(
      "SetDefaultFinancialAccount",
      FinancialAccountServiceSetDefaultFinancialAccountResponse,
      async (req, ctx) =>
        callOrThrow(
          a,
          "setDefaultFinancialAccount",
          {
            businessId: ctx.tenant.businessId,
            financialAccountId: id("financial_account_id", req.financialAccountId, "fa"),
          },
          ctx.callOpts(),
        ),
    ),
  };
}

export function transactionServiceImpl(deps: {
  rpc: Rpc;
  transactions: TransactionsServiceClient;
}): TransactionServiceServer {
  const { rpc, transactions: t } = deps;
  return {
    getTransaction: rpc.unary("GetTransaction", async (req, ctx) =>
      callOrThrow(
        t,
        "getTransaction",
        { businessId: ctx.tenant.businessId, transactionId: id("transaction_id", req.transactionId, "txn") },
        ctx.callOpts(),
      ),
    ),
    listTransactions: rpc.unary("ListTransactions", async (req, ctx) => {
      if (req.customerId) id("customer_id", req.customerId, "cus");
      return callOrThrow(
        t,
        "listTransactions",
        { businessId: ctx.tenant.businessId, customerId: req.customerId, page: req.page },
        ctx.callOpts(),
      );
    }),
    cancelTransaction: rpc.mutation(
      "CancelTransaction",
      TransactionServiceCancelTransactionResponse,
      async (req, ctx) => {
        if ((req.reason?.length ?? 0) > 500)
          throw new ValidationError([{ field: "reason", description: "must be at most 500 characters" }]);
        return callOrThrow(
          t,
          "cancelTransaction",
          {
            businessId: ctx.tenant.businessId,
            transactionId: id("transaction_id", req.transactionId, "txn"),
            reason: req.reason,
          },
          ctx.callOpts(),
        );
      },
    ),
  };
}
