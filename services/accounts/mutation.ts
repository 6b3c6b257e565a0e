import type { TransactionSql } from "postgres";
import type { Sql } from "../../core/index.ts";
import { idempotent, type ResponseCodec } from "../grpc/index.ts";

/**
 * Runs an accounts mutation at most once per idempotency key, in the
 * `accounts` schema's idempotency table. The request is hashed without its
 * key, so a retry with the same body replays and a different body conflicts.
 */
export function accountsMutation<R extends { idempotencyKey: string; businessId?: string }, T>(
  sql: Sql,
  req: R,
  opts: {
    method: string;
    codec: ResponseCodec<T>;
    /** The tenant the key belongs to; defaults to the request's business. */
    businessId?: string;
    /** What to hash in place of the request, when it holds secrets whose bare hash could be reversed. */
    hashed?: (request: Omit<R, "idempotencyKey">) => unknown;
  },
  work: (tx: TransactionSql) => Promise<T>,
): Promise<T> {
  const { idempotencyKey, ...request } = req;
  return idempotent(
    sql,
    {
      schema: "accounts",
      businessId: opts.businessId ?? req.businessId ?? "",
      key: idempotencyKey,
      method: opts.method,
      request: opts.hashed ? opts.hashed(request) : request,
      codec: opts.codec,
    },
    work,
  );
}
