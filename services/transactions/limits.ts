import type { TransactionSql } from "postgres";
import { FailedPreconditionError, type Sql, ValidationError } from "../../core/index.ts";
import type { BusinessLimits, SetBusinessLimitsRequest } from "../../proto/index.ts";
import type { Violations } from "../grpc/index.ts";

/** The largest amount of one transaction without a configured limit: 1,000,000.00. */
export const MAX_AMOUNT_MINOR = 100_000_000;
/** Nothing a business sets may exceed this (1,000,000,000.00). */
const CEILING_MINOR = 100_000_000_000;
const DAY_MS = 86_400_000;

export interface TransactionLimits {
  /** Largest amount per transaction in minor units; default 1,000,000.00. */
  defaultMaxAmountMinor?: number;
  /**
   * Per-business overrides of the maximum amount per transaction, from
   * configuration; limits set with SetBusinessLimits take precedence.
   */
  perBusiness?: Record<string, number>;
}

/** The limits in force for a business: its stored ones, else configuration, else the defaults. */
export async function limitsOf(
  db: Sql | TransactionSql,
  config: TransactionLimits | undefined,
  businessId: string,
) {
  const [row] = await db<{ max_amount_minor: string | number; daily_amount_minor: string | number }[]>`
    select max_amount_minor, daily_amount_minor from transactions.business_limits where business_id = ${businessId}`;
  const configured = config?.perBusiness?.[businessId] ?? config?.defaultMaxAmountMinor ?? MAX_AMOUNT_MINOR;
  const limits: BusinessLimits = {
    businessId,
    maxAmountMinor: row && Number(row.max_amount_minor) > 0 ? Number(row.max_amount_minor) : configured,
    dailyAmountMinor: row ? Number(row.daily_amount_minor) : 0,
    custom: row !== undefined,
  };
  return limits;
}

/** Adds a violation per bad field of a SetBusinessLimits request (business id aside). */
export function validateLimits(v: Violations, req: SetBusinessLimitsRequest): void {
  const max = req.maxAmountMinor;
  const daily = req.dailyAmountMinor;
  if (!Number.isSafeInteger(max) || max < 0 || max > CEILING_MINOR)
    v.add("max_amount_minor", `must be 0 (the default) to ${CEILING_MINOR}`);
  if (!Number.isSafeInteger(daily) || daily < 0 || daily > CEILING_MINOR)
    v.add("daily_amount_minor", `must be 0 (none) to ${CEILING_MINOR}`);
  else if (daily > 0 && max > 0 && daily < max)
    v.add("daily_amount_minor", "must be 0 (none) or at least max_amount_minor");
}

/** Stores a business's limits, replacing earlier ones. */
export async function storeLimits(sql: Sql, req: SetBusinessLimitsRequest, at: Date): Promise<void> {
  await sql`
    insert into transactions.business_limits (business_id, max_amount_minor, daily_amount_minor, updated_at)
    values (${req.businessId}, ${req.maxAmountMinor}, ${req.dailyAmountMinor}, ${at})
    on conflict (business_id) do update set max_amount_minor = excluded.max_amount_minor,
      daily_amount_minor = excluded.daily_amount_minor, updated_at = excluded.updated_at`;
}

/** Refuses an amount over the business's per-transaction limit, as a field violation. */
export function checkMaxAmount(limits: BusinessLimits, amountMinor: number): void {
  if (amountMinor > limits.maxAmountMinor) {
    throw new ValidationError([
      {
        field: "amount.amount_minor",
        description: `must be at most ${limits.maxAmountMinor} for this business`,
      },
    ]);
  }
}

/**
 * Refuses a transaction that would take the business over its daily total.
 * Runs in the creating transaction, serialised per business by an advisory
 * lock, so concurrent creations cannot both slip under the limit.
 */
export async function checkDailyTotal(
  tx: TransactionSql,
  limits: BusinessLimits,
  amountMinor: number,
  now: number,
): Promise<void> {
  if (limits.dailyAmountMinor <= 0) return;
  await tx`select pg_advisory_xact_lock(hashtext(${`linkflow.txn-limits.${limits.businessId}`}))`;
  const dayStart = new Date(now - (now % DAY_MS));
  const [row] = await tx<{ total: string | number }[]>`
    select coalesce(sum(amount_minor), 0) as total from transactions.transactions
    where business_id = ${limits.businessId} and created_at >= ${dayStart}
      and status not in ('declined', 'cancelled', 'error')`;
  if (Number(row?.total ?? 0) + amountMinor > limits.dailyAmountMinor) {
    throw new FailedPreconditionError(
      "daily_limit_exceeded",
      `the business's daily limit of ${limits.dailyAmountMinor} minor units would be exceeded`,
    );
  }
}
