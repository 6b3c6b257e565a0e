import { isSpanContextValid, trace } from "@opentelemetry/api";

type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Keys whose values are never written to a log, whatever their shape. */
const SECRET_KEYS =
  /^(phone|to|from|email|account_?number|card_?number|number|token|link|url|secret|api_?key|authorization|password|otp|one_time_code|routing_?number)$/i;

/** Replaces secrets and PII in a log field with a marker; recursive over plain objects. */
export function redact(value: unknown, key = ""): unknown {
  if (SECRET_KEYS.test(key)) return value === undefined || value === null ? value : "[redacted]";
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (value && typeof value === "object" && !(value instanceof Date)) {
    if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redact(v, k);
    return out;
  }
  if (typeof value === "string") return redactText(value);
  return value;
}

/** Replaces customers' link tokens (`/l/<token>`) in text: they work like passwords. */
export function scrubLinkTokens(s: string, marker = "[redacted]"): string {
  return s.replace(/\/l\/[\w-]+/g, `/l/${marker}`);
}

/**
 * A calendar date (or date and time) in ISO 8601 form: 2026-11-22, 2026-11-22T06:05:21.123Z,
 * 2026-11-22 06:05. Its digits and dashes look like a number to the scrubber, but it is no
 * one's phone or account, and SREs need it in the text.
 */
const ISO_DATE =
  /\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\d-])/;
/** An ISO date (kept) or a run of 9+ digits, spaces and dashes (a phone or account number). */
const DATE_OR_NUMBER = new RegExp(`(?<![\\d-])(${ISO_DATE.source})|\\+?\\d[\\d -]{7,}\\d`, "g");

/**
 * Scrubs free text by shape: phone numbers, digit runs of 9 or more (long
 * account numbers), emails, link tokens and API keys; ISO dates stay. Shorter
 * account numbers are only safe as fields named for them (see `redact`).
 */
export function redactText(s: string): string {
  return scrubLinkTokens(
    s
      .replace(DATE_OR_NUMBER, (m, date?: string) => (date ? m : "[redacted-number]"))
      // North American numbers as people write them: (415) 555-0123, 415.555.0123.
      .replace(/\(\d{3}\)\s?\d{3}[-.\s]?\d{4}|\b\d{3}\.\d{3}\.\d{4}\b/g, "[redacted-number]")
      .replace(/[\w.+-]+@[\w-]+\.[\w.]+/g, "[redacted-email]"),
  ).replace(/lf_(live|test)_[\w-]+/g, "[redacted-key]");
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Where log lines go; tests swap it to capture output. */
export const logSink: { write: (line: string) => void } = {
  write: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Structured JSON logger with trace and span ids and redaction of PII and
 * secrets. Level from LINKFLOW_LOG_LEVEL (default info).
 */
export function createLogger(base: Record<string, unknown> = {}): Logger {
  const min = ORDER[(process.env.LINKFLOW_LOG_LEVEL as Level) ?? "info"] ?? ORDER.info;
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const span = trace.getActiveSpan()?.spanContext();
    const line = {
      time: new Date().toISOString(),
      level,
      msg: redactText(msg),
      ...(redact({ ...base, ...fields }) as Record<string, unknown>),
      ...(span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {}),
    };
    logSink.write(JSON.stringify(line));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (f) => createLogger({ ...base, ...f }),
  };
}
