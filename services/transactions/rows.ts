import type { TransactionSql } from "postgres";
import { NotFoundError, type Sql } from "../../core/index.ts";
import {
  type Transaction,
  TransactionDirection,
  TransactionMethod,
  TransactionStatus,
} from "../../proto/index.ts";
import type { DbStatus } from "./rails.ts";

/** The stored direction of each API direction. */
export const DIRECTIONS: Partial<Record<TransactionDirection, "send" | "request">> = {
  [TransactionDirection.TRANSACTION_DIRECTION_SEND]: "send",
  [TransactionDirection.TRANSACTION_DIRECTION_REQUEST]: "request",
};
/** The stored method of each API method. */
export const METHODS: Partial<Record<TransactionMethod, "push_to_card" | "ach_credit" | "ach_debit">> = {
  [TransactionMethod.TRANSACTION_METHOD_PUSH_TO_CARD]: "push_to_card",
  [TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT]: "ach_credit",
  [TransactionMethod.TRANSACTION_METHOD_ACH_DEBIT]: "ach_debit",
};
const STATUSES: Record<DbStatus, TransactionStatus> = {
  new: TransactionStatus.TRANSACTION_STATUS_NEW,
  pending: TransactionStatus.TRANSACTION_STATUS_PENDING,
  processing: TransactionStatus.TRANSACTION_STATUS_PROCESSING,
  settled: TransactionStatus.TRANSACTION_STATUS_SETTLED,
  cleared: TransactionStatus.TRANSACTION_STATUS_CLEARED,
  declined: TransactionStatus.TRANSACTION_STATUS_DECLINED,
  cancelled: TransactionStatus.TRANSACTION_STATUS_CANCELLED,
  returned: TransactionStatus.TRANSACTION_STATUS_RETURNED,
  error: TransactionStatus.TRANSACTION_STATUS_ERROR,
};

/** A row of `transactions.transactions`. */
export interface TransactionRow {
  id: string;
  business_id: string;
  customer_id: string;
  financial_account_id: string;
  direction: "send" | "request";
  method: "push_to_card" | "ach_credit" | "ach_debit";
  amount_minor: bigint | number | string;
  currency: string;
  status: DbStatus;
  return_code: string;
  failure_reason: string;
  workflow_id: string;
  external_id: string;
  account_kind: string;
  account_last4: string;
  same_day_ach: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A row of `transactions.status_changes` (its outbox columns aside). */
export interface ChangeRow {
  id: string;
  transaction_id: string;
  status: DbStatus;
  previous_status: string;
  return_code: string;
  reason: string;
  changed_at: Date;
}

const inverse = <K extends number, V extends string>(m: Partial<Record<K, V>>) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [v, Number(k)])) as Record<V, K>;
const DIRECTION_FROM_DB = inverse(DIRECTIONS);
const METHOD_FROM_DB = inverse(METHODS);

/** The API's view of a transaction row and its status history (oldest first). */
export function toTransaction(
  r: TransactionRow,
  history: Omit<ChangeRow, "id" | "transaction_id">[],
): Transaction {
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
    externalId: r.external_id,
    accountNumberMasked: r.account_last4 ? `••••${r.account_last4}` : "",
    sameDayAch: r.same_day_ach,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    statusHistory: history.map((h) => ({
      status: STATUSES[h.status] ?? TransactionStatus.TRANSACTION_STATUS_UNSPECIFIED,
      returnCode: h.return_code,
      reason: h.reason,
      changedAt: h.changed_at,
    })),
  };
}

/** A transaction row with its status history as JSON (oldest first). */
type RowWithHistory = TransactionRow & {
  history: {
    status: DbStatus;
    previous_status: string;
    return_code: string;
    reason: string;
    changed_at: string;
  }[];
};

/** The select list of a transaction row `t` with its history, for {@link fromRowWithHistory}. */
function withHistory(db: Sql | TransactionSql) {
  return db`t.*, coalesce((
      select json_agg(json_build_object('status', c.status, 'previous_status', c.previous_status,
        'return_code', c.return_code, 'reason', c.reason, 'changed_at', c.changed_at) order by c.id)
      from transactions.status_changes c where c.transaction_id = t.id), '[]') as history`;
}

function fromRowWithHistory(r: RowWithHistory): Transaction {
  return toTransaction(
    r,
    r.history.map((h) => ({ ...h, changed_at: new Date(h.changed_at) })),
  );
}

/** A business's transaction with its status history, in one read; NOT_FOUND for another business's. */
export async function load(db: Sql | TransactionSql, businessId: string, id: string): Promise<Transaction> {
  const [r] = await db<RowWithHistory[]>`
    select ${withHistory(db)} from transactions.transactions t where t.id = ${id} and t.business_id = ${businessId}`;
  if (!r) throw new NotFoundError("transaction", id);
  return fromRowWithHistory(r);
}

/**
 * A page of a business's transactions, newest first, with their histories,
 * in one read: `limit` of them, and whether more follow.
 */
export async function loadPage(
  db: Sql,
  businessId: string,
  filter: { customerId: string; before: string; limit: number },
): Promise<{ transactions: Transaction[]; more: boolean }> {
  const rows = await db<RowWithHistory[]>`
    select ${withHistory(db)} from transactions.transactions t
    where t.business_id = ${businessId}
      and (${filter.customerId}::text = '' or t.customer_id = ${filter.customerId})
      and (${filter.before}::text = '' or t.id < ${filter.before})
    order by t.id desc limit ${filter.limit + 1}`;
  return {
    transactions: rows.slice(0, filter.limit).map(fromRowWithHistory),
    more: rows.length > filter.limit,
  };
}
