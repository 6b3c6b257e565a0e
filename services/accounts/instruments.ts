/** ABA routing number checksum: 3·d1 + 7·d2 + d3 + 3·d4 + … ≡ 0 (mod 10). */
export function isValidRoutingNumber(routing: string): boolean {
  if (!/^\d{9}$/.test(routing)) return false;
  const w = [3, 7, 1, 3, 7, 1, 3, 7, 1];
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(routing[i]) * (w[i] ?? 0);
  return sum % 10 === 0 && routing !== "000000000";
}

/** Luhn (mod 10) check over a digit string. */
export function isLuhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** The card network from the number's leading digits. */
export function cardBrand(digits: string): string {
  if (/^4/.test(digits)) return "visa";
  if (/^(5[1-5]|2[2-7])/.test(digits)) return "mastercard";
  if (/^3[47]/.test(digits)) return "amex";
  if (/^(6011|65|64[4-9])/.test(digits)) return "discover";
  return "unknown";
}

/**
 * Parses "MM/YY" (or "MM/YYYY") and checks the card is not expired at `now`
 * (a card is valid through the last day of its expiry month, UTC).
 */
export function parseExpiry(
  expiry: string,
  now: number,
): { month: number; year: number } | { error: string } {
  const m = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(expiry);
  if (!m) return { error: "must be MM/YY" };
  const month = Number(m[1]);
  const yy = m[2] ?? "";
  const year = yy.length === 2 ? 2000 + Number(yy) : Number(yy);
  if (month < 1 || month > 12) return { error: "must be MM/YY with a month from 01 to 12" };
  const endOfMonth = Date.UTC(year, month, 1);
  if (endOfMonth <= now) return { error: "is in the past: the card has expired" };
  if (year > new Date(now).getUTCFullYear() + 20) return { error: "is too far in the future" };
  return { month, year };
}

/** Digits only, without the spaces and dashes people type. */
export function digitsOf(s: string): string {
  return s.replace(/[\s-]/g, "");
}

/** "••••1234" */
export function maskLast4(last4: string): string {
  return `••••${last4}`;
}
