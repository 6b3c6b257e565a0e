import { createHash } from "node:crypto";
import type { TransactionSql } from "postgres";
import { FailedPreconditionError, type Sql } from "../../core/index.ts";

/** The table each service keeps in its own schema; include in its first migration. */
export function idempotencyTableSql(): string {
  return `
create table idempotency (
  business_id text not null,
  key text not null,
  method text not null,
  request_hash text not null,
  response bytea,
  created_at timestamptz not null default now(),
  primary key (business_id, key)
);`;
}

/** A codec for the stored response: a ts-proto message's encode/decode. */
export interface ResponseCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

function stable(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = stable((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** sha256 over the method and the request in canonical JSON (keys sorted). */
export function requestHash(method: string, request: unknown): string {
  return createHash("sha256")
    .update(method)
    .update("\0")
    .update(JSON.stringify(stable(request)))
    .digest("hex");
}

/**
 * Runs a mutation once per (business, idempotency key), in one transaction
 * with the claim of the key: the first caller inserts the claim and does the
 * work; concurrent retries block on the claim's unique key and then read the
 * stored response. The same key with a different request (or method) is
 * refused with `idempotency_key_reused`. A failed attempt rolls its claim back,
 * so the caller may retry. Without a key the work simply runs in a transaction.
 */
export async function idempotent<T>(
  sql: Sql,
  opts: {
    /** The service's schema, which holds its `idempotency` table. */
    schema: string;
    businessId: string;
    key: string;
    method: string;
    /** The request without its idempotency key. */
    request: unknown;
    codec: ResponseCodec<T>;
  },
  work: (tx: TransactionSql) => Promise<T>,
): Promise<T> {
  if (!opts.key) return (await sql.begin((tx) => work(tx))) as T;
  const hash = requestHash(opts.method, opts.request);
  const table = sql(`${opts.schema}.idempotency`);
  return (await sql.begin(async (tx) => {
    const claimed = await tx`
      insert into ${table} (business_id, key, method, request_hash)
      values (${opts.businessId}, ${opts.key}, ${opts.method}, ${hash})
      on conflict (business_id, key) do nothing
      returning key`;
    if (claimed.length === 0) {
      const [row] = await tx<{ method: string; request_hash: string; response: Uint8Array | null }[]>`
        select method, request_hash, response from ${table}
        where business_id = ${opts.businessId} and key = ${opts.key}`;
      if (!row || row.method !== opts.method || row.request_hash !== hash || !row.response) {
        throw new FailedPreconditionError(
          "idempotency_key_reused",
          "this idempotency key was already used with a different request",
        );
      }
      return opts.codec.decode(row.response);
    }
    const result = await work(tx);
    const bytes = Buffer.from(opts.codec.encode(result).finish());
    await tx`update ${table} set response = ${bytes}
      where business_id = ${opts.businessId} and key = ${opts.key}`;
    return result;
  })) as T;
}
