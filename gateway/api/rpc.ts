import { createHash } from "node:crypto";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  type handleUnaryCall,
  Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  status,
} from "@grpc/grpc-js";
import {
  inServerSpan,
  LinkflowError,
  type Logger,
  type Sql,
  UnavailableError,
  ValidationError,
} from "../../core/index.ts";
import {
  type CallOpts,
  IDEMPOTENCY_KEY_RULE,
  idempotentCall,
  isIdempotencyKey,
  type ResponseCodec,
  toServiceError,
} from "../../services/grpc/index.ts";
import type { ApiKeyAuthenticator, ApiTenant } from "./auth.ts";
import { type AuthFailureGuard, isBadKey } from "./auth-guard.ts";
import { RateLimitedError, type RateLimiter } from "./rate-limit.ts";

const DETAILS_KEY = "grpc-status-details-bin";
const RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo";
/** Used when the caller sets no deadline. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** What a handler knows about its call. */
export interface CallContext {
  tenant: ApiTenant;
  metadata: Metadata;
  /** Epoch ms by which the caller wants an answer. */
  deadline: number;
  /** Options for an internal call bounded by the caller's deadline. */
  callOpts(): CallOpts;
  /** Aborted when the server closes its streams (shutdown); streaming handlers end then. */
  signal: AbortSignal;
}

/** Appends a google.rpc.RetryInfo to an encoded google.rpc.Status (repeated fields concatenate). */
function withRetryInfo(statusBytes: Buffer, retryAfterMs: number): Buffer {
  const duration = new BinaryWriter()
    .uint32(8)
    .int64(Math.floor(retryAfterMs / 1000))
    .uint32(16)
    .int32((retryAfterMs % 1000) * 1_000_000)
    .finish();
  const retryInfo = new BinaryWriter().uint32(10).bytes(duration).finish();
  const any = new BinaryWriter().uint32(10).string(RETRY_INFO_TYPE).uint32(18).bytes(retryInfo).finish();
  const field = new BinaryWriter().uint32(26).bytes(any).finish();
  return Buffer.concat([statusBytes, field]);
}

/** The error a caller sees, with RetryInfo and `retry-after-ms` when rate limited. */
export function apiError(err: unknown) {
  const e = toServiceError(err);
  if (err instanceof RateLimitedError) {
    const md = e.metadata ?? new Metadata();
    const raw = md.get(DETAILS_KEY)[0];
    if (raw instanceof Buffer) md.set(DETAILS_KEY, withRetryInfo(raw, err.retryAfterMs));
    md.set("retry-after-ms", String(err.retryAfterMs));
    return { ...e, metadata: md };
  }
  return e;
}

function deadlineOf(call: { getDeadline(): Date | number }): number {
  const dl = call.getDeadline();
  if (dl instanceof Date) return dl.getTime();
  return Number.isFinite(dl) ? Number(dl) : Date.now() + DEFAULT_TIMEOUT_MS;
}

/** The milliseconds left before `deadline`; DEADLINE_EXCEEDED when none are. */
function checkDeadline(deadline: number): number {
  const left = deadline - Date.now();
  if (left <= 0) {
    throw new LinkflowError("deadline_exceeded", "the call's deadline passed", {
      grpcStatus: status.DEADLINE_EXCEEDED,
      retryable: true,
    });
  }
  return left;
}

export interface RpcOptions {
  auth: ApiKeyAuthenticator;
  limiter?: RateLimiter;
  log: Logger;
  /** Where the API's own idempotency keys are kept (schema `workflows`); without it keys only reach the services. */
  sql?: Sql;
  /** The per-address budget of failed authentications. */
  authGuard?: AuthFailureGuard;
  /** Server streams one key may hold open at once on this node; default 20. */
  maxStreamsPerKey?: number;
}

const DEFAULT_MAX_STREAMS_PER_KEY = 20;

/**
 * The public API's call pipeline: server span, API-key authentication,
 * per-key rate limit, the caller's deadline, error mapping and, for
 * mutations, idempotency keys (same key and request → the first response;
 * same key, other request → FAILED_PRECONDITION `idempotency_key_reused`).
 */
export class Rpc {
  readonly #streams = new Set<AbortController>();
  readonly #openStreams = new Map<string, number>();
  constructor(private readonly o: RpcOptions) {}

  /** Ends every open server stream with UNAVAILABLE (the client resumes elsewhere); for shutdown. */
  closeStreams(): void {
    for (const c of this.#streams) c.abort();
  }

  /**
   * Authenticates (within the peer's budget of failed authentications) and
   * charges the key's rate limit; used by unary and streaming calls.
   */
  async context(call: {
    metadata: Metadata;
    deadline: number;
    peer: string;
    signal?: AbortSignal;
  }): Promise<CallContext> {
    const { metadata, deadline, peer } = call;
    const guard = this.o.authGuard;
    await guard?.admit(peer);
    const tenant = await this.o.auth.authenticate(metadata).catch((err: unknown) => {
      if (guard && isBadKey(err)) return guard.failed(peer, err);
      throw err;
    });
    if (this.o.limiter) {
      // Fails closed: without its store no limit can be enforced (health reports NOT_SERVING meanwhile).
      const d = await this.o.limiter.take(`key:${tenant.keyId}`).catch((err: unknown) => {
        throw new UnavailableError(
          "rate_limit_unavailable",
          "rate limits cannot be checked; retry shortly",
          err,
        );
      });
      if (!d.allowed) throw new RateLimitedError(d.retryAfterMs);
    }
    // A call whose deadline passed while it was authenticated (or before it arrived) must not act.
    checkDeadline(deadline);
    return {
      tenant,
      metadata,
      deadline,
      callOpts: () => ({ timeoutMs: checkDeadline(deadline) }),
      signal: call.signal ?? new AbortController().signal,
    };
  }

  unary<Req, Res>(
    method: string,
    fn: (req: Req, ctx: CallContext) => Promise<Res>,
  ): handleUnaryCall<Req, Res> {
    return (call: ServerUnaryCall<Req, Res>, cb) => {
      const deadline = deadlineOf(call);
      inServerSpan(method, call.metadata, async () =>
        fn(call.request, await this.context({ metadata: call.metadata, deadline, peer: call.getPeer() })),
      ).then(
        (res) => cb(null, res),
        (err) => {
          if (!(err instanceof LinkflowError))
            this.o.log.error("request failed", { method, error: (err as Error)?.name });
          cb(apiError(err));
        },
      );
    };
  }

  /**
   * A mutating call with an `idempotency_key`: validated, then run once per
   * (business, key); the stored response answers retries.
   */
  mutation<Req extends { idempotencyKey: string }, Res>(
    method: string,
    /**
     * Stores the response for replays. `null` when the response holds a secret
     * or PII: then the key only travels on to the internal service (as
     * `internalKey`), which deduplicates on it.
     */
    codec: ResponseCodec<Res> | null,
    fn: (req: Req, ctx: CallContext) => Promise<Res>,
  ): handleUnaryCall<Req, Res> {
    return this.unary<Req, Res>(method, async (req, ctx) => {
      const key = req.idempotencyKey ?? "";
      if (key !== "" && !isIdempotencyKey(key)) {
        throw new ValidationError([{ field: "idempotency_key", description: IDEMPOTENCY_KEY_RULE }]);
      }
      if (!key || !this.o.sql || !codec) return fn(req, ctx);
      const { idempotencyKey: _, ...request } = req;
      // No transaction is held while fn calls the services and actors (their commits need connections too).
      return idempotentCall(
        this.o.sql,
        {
          schema: "workflows",
          businessId: ctx.tenant.businessId,
          key,
          method,
          request,
          codec,
          deadline: ctx.deadline,
        },
        () => {
          // Claiming the key may have waited on a concurrent call with it.
          checkDeadline(ctx.deadline);
          return fn(req, ctx);
        },
      );
    });
  }

  /** A server-streaming call: `fn` writes to the call and resolves when the stream should end. */
  stream<Req, Res>(
    method: string,
    fn: (call: ServerWritableStream<Req, Res>, ctx: CallContext) => Promise<void>,
  ): (call: ServerWritableStream<Req, Res>) => void {
    return (call) => {
      const deadline = deadlineOf(call);
      const closing = new AbortController();
      this.#streams.add(closing);
      inServerSpan(method, call.metadata, async () => {
        const ctx = await this.context({
          metadata: call.metadata,
          deadline,
          peer: call.getPeer(),
          signal: closing.signal,
        });
        // Streams hold a handler for as long as they run: a key gets a bounded number at once on a node.
        const key = ctx.tenant.keyId;
        const open = this.#openStreams.get(key) ?? 0;
        if (open >= (this.o.maxStreamsPerKey ?? DEFAULT_MAX_STREAMS_PER_KEY)) {
          throw new RateLimitedError(
            1000,
            `too many open streams for this API key (at most ${this.o.maxStreamsPerKey ?? DEFAULT_MAX_STREAMS_PER_KEY}); close one first`,
          );
        }
        this.#openStreams.set(key, open + 1);
        try {
          await fn(call, ctx);
        } finally {
          const left = (this.#openStreams.get(key) ?? 1) - 1;
          if (left > 0) this.#openStreams.set(key, left);
          else this.#openStreams.delete(key);
        }
        if (closing.signal.aborted)
          throw new UnavailableError(
            "shutting_down",
            "the server is shutting down; call again (on another node)",
          );
      })
        .finally(() => this.#streams.delete(closing))
        .then(
          () => {
            if (!call.cancelled) call.end();
          },
          (err) => {
            if (call.cancelled) return;
            if (!(err instanceof LinkflowError))
              this.o.log.error("request failed", { method, error: (err as Error)?.name });
            call.emit("error", apiError(err));
          },
        );
    };
  }
}

/** Prefixes the caller's key for an internal service, so its own deduplication backs ours. */
export function internalKey(method: string, key: string): string {
  return key
    ? `api_${createHash("sha256").update(`${method}\0${key}`).digest("base64url").slice(0, 32)}`
    : "";
}
