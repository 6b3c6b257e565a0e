import { status as GrpcStatus } from "@grpc/grpc-js";

/** A field that failed validation, in the shape of google.rpc.BadRequest.FieldViolation. */
export interface FieldViolation {
  field: string;
  description: string;
}

/**
 * Base of every Linkflow error. The `code` is stable and safe to show to a
 * caller; `retryable` tells the runtime and clients whether trying again can
 * help; `grpcStatus` is the one status the error maps to at the API edge.
 */
export class LinkflowError extends Error {
  override readonly name: string = "LinkflowError";
  readonly code: string;
  readonly grpcStatus: GrpcStatus;
  readonly retryable: boolean;
  readonly violations: FieldViolation[];

  constructor(
    code: string,
    message: string,
    opts: {
      grpcStatus?: GrpcStatus;
      retryable?: boolean;
      violations?: FieldViolation[];
      cause?: unknown;
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.grpcStatus = opts.grpcStatus ?? GrpcStatus.INTERNAL;
    this.retryable = opts.retryable ?? false;
    this.violations = opts.violations ?? [];
  }

  /** A plain object that can cross a process boundary (NATS, journal) and be revived. */
  toJSON(): SerializedError {
    return {
      code: this.code,
      message: this.message,
      grpcStatus: this.grpcStatus,
      retryable: this.retryable,
      violations: this.violations,
    };
  }

  static fromJSON(e: SerializedError): LinkflowError {
    return new LinkflowError(e.code, e.message, e);
  }
}

export interface SerializedError {
  code: string;
  message: string;
  grpcStatus: GrpcStatus;
  retryable: boolean;
  violations: FieldViolation[];
}

/** Input that failed validation; carries one violation per bad field. */
export class ValidationError extends LinkflowError {
  override readonly name = "ValidationError";
  constructor(violations: FieldViolation[], message?: string) {
    super("invalid_argument", message ?? violations.map((v) => `${v.field}: ${v.description}`).join("; "), {
      grpcStatus: GrpcStatus.INVALID_ARGUMENT,
      violations,
    });
  }
}

export class NotFoundError extends LinkflowError {
  override readonly name = "NotFoundError";
  constructor(what: string, id: string) {
    super("not_found", `${what} ${id} not found`, { grpcStatus: GrpcStatus.NOT_FOUND });
  }
}

export class UnauthenticatedError extends LinkflowError {
  override readonly name = "UnauthenticatedError";
  constructor(message = "a valid API key is required in the authorization metadata") {
    super("unauthenticated", message, { grpcStatus: GrpcStatus.UNAUTHENTICATED });
  }
}

export class FailedPreconditionError extends LinkflowError {
  override readonly name = "FailedPreconditionError";
  constructor(code: string, message: string) {
    super(code, message, { grpcStatus: GrpcStatus.FAILED_PRECONDITION });
  }
}

export class ConflictError extends LinkflowError {
  override readonly name = "ConflictError";
  constructor(code: string, message: string) {
    super(code, message, { grpcStatus: GrpcStatus.ALREADY_EXISTS });
  }
}

/** A transient failure: the caller may retry the same request (same idempotency key). */
export class UnavailableError extends LinkflowError {
  override readonly name = "UnavailableError";
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { grpcStatus: GrpcStatus.UNAVAILABLE, retryable: true, cause });
  }
}

/** Wraps anything that is not a LinkflowError so no stack trace or PII reaches a caller. */
export function toLinkflowError(err: unknown): LinkflowError {
  if (err instanceof LinkflowError) return err;
  return new LinkflowError("internal", "internal error", { cause: err });
}
