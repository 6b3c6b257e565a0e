import type { Fragment, TransactionSql } from "postgres";
import type { Sql } from "../../core/index.ts";
import { type FinancialAccount, FinancialAccountKind } from "../../proto/index.ts";
import type { ChangeRow, TransactionRow } from "./rows.ts";

/** What CreateTransaction writes: a transaction born PENDING, and its NEW and PENDING changes. */
export interface NewTransaction {
  row: TransactionRow;
  history: Omit<ChangeRow, "id" | "transaction_id">[];
  /** When the rails submit it (the end of its cancellable PENDING time). */
  submitAt: Date;
}

/** The transaction a checked request creates at `at`, on the account accounts described. */
export function newTransaction(
  req: {
    id: string;
    businessId: string;
    customerId: string;
    financialAccountId: string;
    direction: TransactionRow["direction"];
    method: TransactionRow["method"];
    amountMinor: number;
    currency: string;
    workflowId: string;
    externalId: string;
    sameDayAch: boolean;
  },
  fa: FinancialAccount,
  at: Date,
  pendingMs: number,
): NewTransaction {
  const change = (status: "new" | "pending", previous_status: string, reason: string) => ({
    status,
    previous_status,
    return_code: "",
    reason,
    changed_at: at,
  });
  return {
    row: {
      id: req.id,
      business_id: req.businessId,
      customer_id: req.customerId,
      financial_account_id: req.financialAccountId,
      direction: req.direction,
      method: req.method,
      amount_minor: req.amountMinor,
      currency: req.currency,
      status: "pending",
      return_code: "",
      failure_reason: "",
      workflow_id: req.workflowId,
      external_id: req.externalId.trim(),
      account_kind: fa.kind === FinancialAccountKind.FINANCIAL_ACCOUNT_KIND_CARD ? "card" : "bank_account",
      account_last4: fa.numberLast4,
      same_day_ach: req.sameDayAch,
      created_at: at,
      updated_at: at,
    },
    history: [change("new", "", "created"), change("pending", "new", "accepted")],
    submitAt: new Date(at.getTime() + pendingMs),
  };
}

/**
 * CTEs (`name as (...), ...`) writing the transaction and its changes once per
 * row of the CTE `claim`, so nothing is written when `claim` is empty. The NEW
 * change has nothing to publish; the PENDING one is the outbox's, its id after
 * NEW's. The rows match `t`, so an answer built from `t` is what was stored.
 */
export function creationEffects(db: Sql | TransactionSql, t: NewTransaction): Fragment {
  const r = t.row;
  const [created, pending] = t.history as [NewTransaction["history"][0], NewTransaction["history"][0]];
  return db`
    created_row as (
      insert into transactions.transactions
        (id, business_id, customer_id, financial_account_id, direction, method, amount_minor, currency,
         status, workflow_id, external_id, account_kind, account_last4, same_day_ach, next_action_at,
         created_at, updated_at)
      select ${r.id}, ${r.business_id}, ${r.customer_id}, ${r.financial_account_id}, ${r.direction},
             ${r.method}, ${Number(r.amount_minor)}::bigint, ${r.currency}, ${r.status}, ${r.workflow_id},
             ${r.external_id}, ${r.account_kind}, ${r.account_last4}, ${r.same_day_ach}::boolean,
             ${t.submitAt}::timestamptz, ${r.created_at}::timestamptz, ${r.updated_at}::timestamptz
      from claim),
    created_changes as (
      insert into transactions.status_changes
        (transaction_id, status, previous_status, return_code, reason, changed_at, published_at)
      select ${r.id}, c.status, c.previous_status, '', c.reason, c.changed_at, c.published_at
      from claim, (values
        (1, ${created.status}::text, ${created.previous_status}::text, ${created.reason}::text,
         ${created.changed_at}::timestamptz, ${created.changed_at}::timestamptz),
        (2, ${pending.status}::text, ${pending.previous_status}::text, ${pending.reason}::text,
         ${pending.changed_at}::timestamptz, null::timestamptz)
      ) as c (n, status, previous_status, reason, changed_at, published_at)
      order by c.n)`;
}
