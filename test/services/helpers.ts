import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { expect } from "vitest";
import { type Logger, logSink } from "../../core/index.ts";
import { call, readErrorCode, readFieldViolations, type UnaryMethod } from "../../services/grpc/index.ts";

/** Captures every log line written while a suite runs; `restore()` puts the sink back. */
export function captureLogs(): { lines: string[]; text(): string; restore(): void } {
  const original = logSink.write;
  const lines: string[] = [];
  logSink.write = (line) => {
    lines.push(line);
  };
  return {
    lines,
    text: () => lines.join("\n"),
    restore: () => {
      logSink.write = original;
    },
  };
}

/**
 * A Logger that keeps every line exactly as the service handed it over,
 * before any redaction: a value found here was given to the logger, whether
 * or not the production logger would have scrubbed it.
 */
export function rawLogger(
  lines: string[] = [],
  base: Record<string, unknown> = {},
): Logger & { lines: string[] } {
  const emit = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push(JSON.stringify({ level, msg, ...base, ...fields }));
  };
  return {
    lines,
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (fields) => rawLogger(lines, { ...base, ...fields }),
  };
}

/** The rejection of a call that must fail. */
export async function rejected(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected the call to fail");
}

/** Asserts an INVALID_ARGUMENT whose field violations name exactly `fields`, in order. */
export async function expectViolations(
  p: Promise<unknown>,
  fields: string[],
  label = "",
): Promise<ServiceError> {
  const err = await rejected(p);
  expect(err.code, `${label}: ${err.details}`).toBe(status.INVALID_ARGUMENT);
  expect(readErrorCode(err), label).toBe("invalid_argument");
  expect(
    readFieldViolations(err).map((v) => v.field),
    label,
  ).toEqual(fields);
  return err;
}

/** Everything a client received, as text: responses, and errors with their status details decoded. */
export function recordCalls(): {
  call: typeof call;
  text(): string;
} {
  const seen: string[] = [];
  const json = (v: unknown) =>
    JSON.stringify(v, (_k, x) => {
      if (typeof x === "bigint") return String(x);
      if (x && typeof x === "object" && (x as { type?: string }).type === "Buffer")
        return Buffer.from((x as { data: number[] }).data).toString("latin1");
      return x;
    });
  const recorded = (async <C, M extends UnaryMethod<C>>(
    client: C,
    method: M,
    request: Parameters<typeof call<C, M>>[2],
    opts?: Parameters<typeof call<C, M>>[3],
  ) => {
    try {
      const res = await call(client, method, request, opts);
      seen.push(json(res));
      return res;
    } catch (err) {
      const se = err as ServiceError;
      const md = se.metadata instanceof Metadata ? se.metadata.toJSON() : {};
      seen.push(
        json({
          code: se.code,
          message: se.message,
          details: se.details,
          metadata: md,
          violations: readFieldViolations(err),
          reason: readErrorCode(err),
        }),
      );
      throw err;
    }
  }) as typeof call;
  return { call: recorded, text: () => seen.join("\n") };
}

/** Polls `check` until it returns a value (not undefined); for state that settles asynchronously. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  tries = 400,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
