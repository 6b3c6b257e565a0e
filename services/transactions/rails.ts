/**
 * The payment-rails simulator's rules: what happens to a transaction at each
 * step, decided by the method and the last four digits of the account (the
 * magic test numbers in TEST_NUMBERS.md).
 */
export type DbStatus =
  | "new"
  | "pending"
  | "processing"
  | "settled"
  | "cleared"
  | "declined"
  | "cancelled"
  | "returned"
  | "error";

export interface RailsOptions {
  /** How long a transaction stays PENDING (cancellable) before submission; default 30 s. */
  pendingMs?: number;
  /** Push-to-card: PROCESSING → SETTLED; default 5 s. */
  pushToCardSettleMs?: number;
  /** ACH: PROCESSING → SETTLED/CLEARED (next day); default 24 h. */
  achSettleMs?: number;
  /** Same-day ACH: PROCESSING → SETTLED/CLEARED; default 4 h. */
  achSameDaySettleMs?: number;
  /** ACH: SETTLED/CLEARED → RETURNED for the magic return numbers; default 24 h. */
  achReturnMs?: number;
  /** How often the simulator looks for due work; default 1000 ms. */
  pollIntervalMs?: number;
}

/** Card numbers ending in these digits are declined at submission. */
export const CARD_DECLINES: Record<string, string> = {
  "0002": "card_declined",
  "9995": "insufficient_funds",
  "0069": "expired_card",
};
/** Card numbers ending in these digits fail with ERROR at submission. */
export const CARD_ERRORS: Record<string, string> = { "0119": "processing_error" };
/** Bank account numbers ending in these digits are returned after settlement. */
export const ACH_RETURNS: Record<string, string> = {
  "9901": "R01",
  "9902": "R02",
  "9903": "R03",
  "9910": "R10",
};

export const NACHA_RETURN_REASONS: Record<string, string> = {
  R01: "insufficient funds",
  R02: "account closed",
  R03: "no account / unable to locate account",
  R10: "customer advises not authorized",
};

export interface RailsRow {
  status: DbStatus;
  method: "push_to_card" | "ach_credit" | "ach_debit";
  direction: "send" | "request";
  account_last4: string;
  same_day_ach: boolean;
}

export interface RailsStep {
  to: DbStatus;
  returnCode?: string;
  reason?: string;
  /** Milliseconds until the next step, or undefined when the transaction rests. */
  nextInMs?: number;
}

/** The next step of a due transaction, or undefined if it has none. */
export function nextStep(row: RailsRow, o: Required<RailsOptions>): RailsStep | undefined {
  const ach = row.method !== "push_to_card";
  switch (row.status) {
    case "pending": {
      if (!ach) {
        const decline = CARD_DECLINES[row.account_last4];
        if (decline) return { to: "declined", reason: decline };
        const error = CARD_ERRORS[row.account_last4];
        if (error) return { to: "error", reason: error };
      }
      const settleMs = !ach ? o.pushToCardSettleMs : row.same_day_ach ? o.achSameDaySettleMs : o.achSettleMs;
      return { to: "processing", nextInMs: settleMs };
    }
    case "processing": {
      const returns = ach ? ACH_RETURNS[row.account_last4] : undefined;
      return {
        to: row.direction === "request" ? "cleared" : "settled",
        ...(returns ? { nextInMs: o.achReturnMs } : {}),
      };
    }
    case "settled":
    case "cleared": {
      const code = ach ? ACH_RETURNS[row.account_last4] : undefined;
      return code
        ? { to: "returned", returnCode: code, reason: NACHA_RETURN_REASONS[code] ?? "" }
        : undefined;
    }
    default:
      return undefined;
  }
}
