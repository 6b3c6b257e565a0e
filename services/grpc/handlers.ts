import {
  type CallOptions,
  type ClientUnaryCall,
  Metadata,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { inServerSpan, type Logger, observeGrpcServer } from "../../core/index.ts";
import { fromServiceError, logFailure, toServiceError } from "./errors.ts";

/**
 * Adapts an async handler to grpc-js: resolves to the response, or maps the
 * thrown error with toServiceError. Unexpected errors are logged without
 * their message (it may carry PII) and reach the caller as INTERNAL.
 */
export function unary<Req, Res>(
  handler: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  opts: { log?: Logger; method?: string } = {},
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const t0 = performance.now();
    inServerSpan(opts.method ?? call.getPath(), call.metadata, () => handler(call.request, call)).then(
      (res) => {
        observeGrpcServer(call.getPath(), 0, (performance.now() - t0) / 1000);
        callback(null, res);
      },
      (err: unknown) => {
        logFailure(opts.log, opts.method ?? call.getPath(), err);
        const se = toServiceError(err);
        observeGrpcServer(call.getPath(), se.code ?? 2, (performance.now() - t0) / 1000);
        callback(se);
      },
    );
  };
}

type UnaryFn<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** The unary method names of a generated client. */
export type UnaryMethod<C> = {
  [K in keyof C]: C[K] extends UnaryFn<infer _Q, infer _R> ? K : never;
}[keyof C];

type ReqOf<F> = F extends UnaryFn<infer Q, infer _R> ? Q : never;
type ResOf<F> = F extends UnaryFn<infer _Q, infer R> ? R : never;

export interface CallOpts {
  metadata?: Metadata;
  /** Milliseconds from now; default 10 s. */
  timeoutMs?: number;
}

/**
 * Calls a unary method of a generated client and returns a promise. Errors
 * stay grpc-js ServiceErrors (use readFieldViolations/readErrorCode, or
 * fromServiceError to revive a LinkflowError).
 */
export function call<C, M extends UnaryMethod<C>>(
  client: C,
  method: M,
  request: ReqOf<C[M]>,
  opts: CallOpts = {},
): Promise<ResOf<C[M]>> {
  const fn = client[method] as unknown as UnaryFn<ReqOf<C[M]>, ResOf<C[M]>>;
  return new Promise((resolve, reject) => {
    fn.call(
      client,
      request,
      opts.metadata ?? new Metadata(),
      { deadline: Date.now() + (opts.timeoutMs ?? 10_000) },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
}

/** Like `call`, but rejects with a revived LinkflowError. */
export async function callOrThrow<C, M extends UnaryMethod<C>>(
  client: C,
  method: M,
  request: ReqOf<C[M]>,
  opts: CallOpts = {},
): Promise<ResOf<C[M]>> {
  try {
    return await call(client, method, request, opts);
  } catch (err) {
    throw fromServiceError(err);
  }
}
