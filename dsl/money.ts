/** Money helpers: integer minor units per ISO 4217 exponent. */
import type { Money } from "./program.ts";

const EXPONENT: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
};

export function currencyExponent(currency: string): number {
  return EXPONENT[currency] ?? 2;
}

/** Parses a decimal amount string ("250.5") into minor units, or a reason it cannot. */
export function toMinor(
  amount: string,
  currency: string,
): { ok: true; value: number } | { ok: false; reason: string } {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (m === null) return { ok: false, reason: `\`${amount}\` is not a decimal amount` };
  const exp = currencyExponent(currency);
  const frac = m[3] ?? "";
  if (frac.length > exp)
    return {
      ok: false,
      reason:
        exp === 0
          ? `${currency} has no minor units`
          : `${currency} has ${exp} decimal places, not ${frac.length}`,
    };
  const minor = Number(m[2]! + frac.padEnd(exp, "0"));
  if (!Number.isSafeInteger(minor)) return { ok: false, reason: "amount is too large" };
  return { ok: true, value: m[1] === "-" ? -minor : minor };
}

export function formatMoney(m: Money): string {
  const exp = currencyExponent(m.currency);
  const neg = m.amountMinor < 0;
  const abs = String(Math.abs(m.amountMinor)).padStart(exp + 1, "0");
  const whole = exp === 0 ? abs : abs.slice(0, abs.length - exp);
  const frac = exp === 0 ? "" : `.${abs.slice(abs.length - exp)}`;
  return `${neg ? "-" : ""}${whole}${frac} ${m.currency}`;
}

export function isMoney(v: unknown): v is Money {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as Money).amountMinor === "number" &&
    typeof (v as Money).currency === "string"
  );
}

const UNITS: [number, string][] = [
  [7 * 86_400_000, "week"],
  [86_400_000, "day"],
  [3_600_000, "hour"],
  [60_000, "minute"],
  [1000, "second"],
];

/** `604800000` → `7 days` (uses the largest unit that divides evenly, weeks excepted). */
export function formatDuration(ms: number): string {
  for (const [size, unit] of UNITS) {
    if (unit === "week") continue;
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${unit}${n === 1 ? "" : "s"}`;
    }
  }
  return `${ms / 1000} seconds`;
}
