import { credentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  type Clock,
  createLogger,
  type Logger,
  NotFoundError,
  newId,
  type Sql,
  systemClock,
} from "../../core/index.ts";
import {
  CreateTransactionResponse,
  type Transaction,
  TransactionDirection,
  TransactionMethod,
  TransactionStatus,
  TransactionsServiceClient,
  type TransactionsServiceServer,
  TransactionsServiceService,
} from "../../proto/index.ts";
import { idempotent, unary, Violations } from "../grpc/index.ts";

export interface TransactionsServiceDeps {
  sql: Sql;
  clock?: Clock;
  log?: Logger;
}

const DIRECTIONS: Partial<Record<TransactionDirection, "send" | "request">> = {
  [TransactionDirection.TRANSACTION_DIRECTION_SEND]: "send",
  [TransactionDirection.TRANSACTION_DIRECTION_REQUEST]: "request",
};
const METHODS: Partial<Record<TransactionMethod, "push_to_card" | "ach_credit" | "ach_debit">> = {
  [TransactionMethod.TRANSACTION_METHOD_PUSH_TO_CARD]: "push_to_card",
  [TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT]: "ach_credit",
  [TransactionMethod.TRANSACTION_METHOD_ACH_DEBIT]: "ach_debit",
};
const STATUSES: Record<string, TransactionStatus> = {
  pending: TransactionStatus.TRANSACTION_STATUS_PENDING,
  processing: TransactionStatus.TRANSACTION_STATUS_PROCESSING,
  completed: TransactionStatus.TRANSACTION_STATUS_COMPLETED,
  failed: TransactionStatus.TRANSACTION_STATUS_FAILED,
  returned: TransactionStatus.TRANSACTION_STATUS_RETURNED,
  cancelled: TransactionStatus.TRANSACTION_STATUS_CANCELLED,
  declined: TransactionStatus.TRANSACTION_STATUS_DECLINED,
};
/** The currencies we move; minor units per ISO 4217 are 2 for all of them. */
const CURRENCIES = new Set(["USD", "CAD", "EUR", "GBP"]);
/** Largest amount in minor units (1,000,000.00). */
const MAX_AMOUNT_MINOR = 100_000_000;

interface TransactionRow {
  id: string;
  business_id: string;
  customer_id: string;
  financial_account_id: string;
  direction: "send" | "request";
  method: "push_to_card" | "ach_credit" | "ach_debit";
  amount_minor: bigint | number | string;
  currency: string;
  status: string;
  return_code: string;
  failure_reason: string;
  workflow_id: string;
  created_at: Date;
  updated_at: Date;
}

const inverse = <K extends number, V extends string>(m: Partial<Record<K, V>>) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [v, Number(k)])) as Record<V, K>;
const DIRECTION_FROM_DB = inverse(DIRECTIONS);
const METHOD_FROM_DB = inverse(METHODS);

function fromRow(r: TransactionRow): Transaction {
  return {
    id: r.id,
    businessId: r.business_id,
    customerId: r.customer_id,
    financialAccountId: r.financial_account_id,
    direction: DIRECTION_FROM_DB[r.direction],
    method: METHOD_FROM_DB[r.method],
    amount: { amountMinor: Number(r.amount_minor), currency: r.currency },
    status: STATUSES[r.status] ?? TransactionStatus.TRANSACTION_STATUS_UNSPECIFIED,
    returnCode: r.return_code,
    failureReason: r.failure_reason,
    workflowId: r.workflow_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * The transactions service (first slice): validates and records transactions
 * as `pending`, deduplicating on idempotency keys. Rails simulation,
 * customer/account checks and status events come next.
 */
export function createTransactionsService(deps: TransactionsServiceDeps): {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
} {
  const { sql } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger({ service: "transactions" });

  const impl: TransactionsServiceServer = {
    createTransaction: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("customer_id", req.customerId, "cus");
      v.id("financial_account_id", req.financialAccountId, "fa");
      if (req.workflowId) v.id("workflow_id", req.workflowId, "wf");
      const direction = DIRECTIONS[req.direction];
      const method = METHODS[req.method];
      if (!direction) v.add("direction", "must be SEND or REQUEST");
      if (!method) v.add("method", "must be PUSH_TO_CARD, ACH_CREDIT or ACH_DEBIT");
      if (direction && method) {
        if (direction === "send" && method === "ach_debit")
          v.add("method", "ACH_DEBIT requests funds; use REQUEST");
        if (direction === "request" && method !== "ach_debit")
          v.add("method", "requesting funds needs ACH_DEBIT");
      }
      if (!req.amount) v.add("amount", "is required");
      else {
        const { amountMinor, currency } = req.amount;
        if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0) {
          v.add("amount.amount_minor", "must be a positive whole number of minor units");
        } else if (amountMinor > MAX_AMOUNT_MINOR)
          v.add("amount.amount_minor", "is over the 1,000,000.00 limit");
        if (!CURRENCIES.has(currency)) v.add("amount.currency", "must be one of USD, CAD, EUR, GBP");
      }
      v.throwIfAny();
      const { idempotencyKey, ...request } = req;
      return idempotent(
        sql,
        {
          schema: "transactions",
          businessId: req.businessId,
          key: idempotencyKey,
          method: "CreateTransaction",
          request,
          codec: CreateTransactionResponse,
        },
        async (tx) => {
          const at = new Date(clock.now());
          const [row] = await tx<TransactionRow[]>`
            insert into transactions.transactions
              (id, business_id, customer_id, financial_account_id, direction, method, amount_minor, currency,
               status, workflow_id, created_at, updated_at)
            values (${newId("txn", clock.now())}, ${req.businessId}, ${req.customerId}, ${req.financialAccountId},
                    ${direction!}, ${method!}, ${req.amount!.amountMinor}, ${req.amount!.currency}, 'pending',
                    ${req.workflowId}, ${at}, ${at})
            returning *`;
          log.info("transaction created", { business_id: req.businessId, transaction_id: row!.id, method });
          return { transaction: fromRow(row!) };
        },
      );
    }),

    getTransaction: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("transaction_id", req.transactionId, "txn");
      v.throwIfAny();
      const [row] = await sql<TransactionRow[]>`
        select * from transactions.transactions where id = ${req.transactionId} and business_id = ${req.businessId}`;
      if (!row) throw new NotFoundError("transaction", req.transactionId);
      return { transaction: fromRow(row) };
    }),
  };

  return {
    definition: TransactionsServiceService as unknown as ServiceDefinition,
    implementation: impl as unknown as UntypedServiceImplementation,
  };
}

/** A client of the transactions service (insecure channel: loopback or a private network). */
export function createTransactionsClient(address: string): TransactionsServiceClient {
  return new TransactionsServiceClient(address, credentials.createInsecure());
}
