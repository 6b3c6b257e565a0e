import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { type FieldViolation, LinkflowError, type Logger, toLinkflowError } from "../../core/index.ts";
import { decodeStatusDetails, encodeStatusDetails } from "./status-details.ts";

const DETAILS_KEY = "grpc-status-details-bin";

/**
 * Turns any error into the gRPC error a caller sees: the LinkflowError's status
 * and message (never a stack trace), plus a google.rpc.Status trailer carrying
 * an ErrorInfo with the stable code and, for validation errors, a BadRequest
 * with one field violation per bad field.
 */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const e = toLinkflowError(err);
  const metadata = new Metadata();
  metadata.set(
    DETAILS_KEY,
    encodeStatusDetails({
      code: e.grpcStatus,
      message: e.message,
      violations: e.violations,
      reason: e.code,
      metadata: { retryable: String(e.retryable) },
    }),
  );
  return { code: e.grpcStatus, details: e.message, message: e.message, metadata };
}

/** Field violations from a client-side gRPC error's status details (empty when none). */
export function readFieldViolations(err: unknown): FieldViolation[] {
  return readDetails(err)?.violations ?? [];
}

/** The stable Linkflow error code (ErrorInfo.reason) of a client-side gRPC error, if any. */
export function readErrorCode(err: unknown): string | undefined {
  return readDetails(err)?.reason;
}

function readDetails(err: unknown) {
  const md = (err as { metadata?: unknown } | null)?.metadata;
  if (!(md instanceof Metadata)) return undefined;
  const raw = md.get(DETAILS_KEY)[0];
  if (!raw || typeof raw === "string") return undefined;
  try {
    return decodeStatusDetails(raw);
  } catch {
    return undefined;
  }
}

/**
 * Revives a LinkflowError from a client-side gRPC error, keeping code,
 * status, violations and whether a retry can help. Transport failures
 * (UNAVAILABLE, DEADLINE_EXCEEDED without details) count as retryable.
 */
export function fromServiceError(err: unknown): LinkflowError {
  if (err instanceof LinkflowError) return err;
  const se = err as Partial<ServiceError> | null;
  const code = typeof se?.code === "number" ? (se.code as status) : status.UNKNOWN;
  const d = readDetails(err);
  const transient =
    code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED || code === status.RESOURCE_EXHAUSTED;
  return new LinkflowError(
    d?.reason ?? status[code]?.toLowerCase() ?? "unknown",
    se?.details ?? "request failed",
    {
      grpcStatus: code,
      retryable: d ? d.metadata.retryable === "true" : transient,
      violations: d?.violations ?? [],
      cause: err,
    },
  );
}

/** Logs an unexpected (non-Linkflow) failure once, by name only: messages may hold PII. */
export function logFailure(log: Logger | undefined, method: string, err: unknown): void {
  if (!log || err instanceof LinkflowError) return;
  const name = err instanceof Error ? err.name : typeof err;
  const code = (err as { code?: unknown } | null)?.code;
  log.error("rpc failed", { method, error: name, ...(typeof code === "string" ? { error_code: code } : {}) });
}
