import { createHash } from "node:crypto";
import type { TransactionSql } from "postgres";
import {
  FailedPreconditionError,
  isSealedText,
  type Keyring,
  openText,
  type Sql,
  sealText,
  ValidationError,
} from "../../core/index.ts";

/** An idempotency key: 6 to 255 printable ASCII characters (no spaces). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{6,255}$/;

/** What a client is told about a malformed idempotency key. */
export const IDEMPOTENCY_KEY_RULE = "must be 6 to 255 printable characters, the same on every retry";

/** Whether `key` is a well-formed idempotency key (6–255 printable ASCII characters). */
export function isIdempotencyKey(key: string): boolean {
  return IDEMPOTENCY_KEY.test(key);
}

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

/**
 * A replay codec for a response that carries a secret shown once (an API key,
 * a webhook signing secret): the secret field is kept sealed under the
 * keyring, bound by `aad` to what it belongs to, so the idempotency table
 * never holds a usable secret. Without a keyring nothing of the secret is
 * kept and a replay is refused with `shownOnce`.
 */
export function sealedSecretCodec<T, K extends keyof T & string>(
  codec: ResponseCodec<T>,
  o: { keyring: Keyring | undefined; field: K; aad: (message: T) => string; shownOnce: () => Error },
): ResponseCodec<T> {
  return {
    encode(m) {
      const secret = String(m[o.field] ?? "");
      const kept = o.keyring && secret ? sealText(o.keyring, secret, o.aad(m)) : "";
      return codec.encode({ ...m, [o.field]: kept });
    },
    decode(bytes) {
      const m = codec.decode(bytes);
      const kept = String(m[o.field] ?? "");
      if (!o.keyring || !isSealedText(kept)) throw o.shownOnce();
      return { ...m, [o.field]: openText(o.keyring, kept, o.aad(m)) };
    },
  };
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

interface StoredClaim {
  method: string;
  request_hash: string;
  response: Uint8Array | null;
}

function replay<T>(row: StoredClaim | undefined, method: string, hash: string, codec: ResponseCodec<T>): T {
  if (!row || row.method !== method || row.request_hash !== hash || !row.response) {
    throw new FailedPreconditionError(
      "idempotency_key_reused",
      "this idempotency key was already used with a different request",
    );
  }
  return codec.decode(row.response);
}

/**
 * Runs a mutation once per (business, idempotency key), in one transaction
 * with the claim of the key: the first caller inserts the claim and does the
 * work; concurrent retries block on the claim's unique key and then read the
 * stored response. The same key with a different request (or method) is
 * refused with `idempotency_key_reused`. A failed attempt rolls its claim back,
 * so the caller may retry. Without a key the work simply runs in a transaction.
 *
 * Every service's mutations go through here, so this is where a key is held to
 * 6–255 printable characters (INVALID_ARGUMENT on `idempotency_key` otherwise).
 *
 * `prepare` runs before the transaction opens: put network calls there, so no
 * transaction (and no claim's row lock) is held across them. A retry whose
 * response is already stored is answered without running `prepare`.
 */
export async function idempotent<T, P = undefined>(
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
    /** Work outside any transaction (network calls); its result goes to `work`. */
    prepare?: () => Promise<P>;
  },
  work: (tx: TransactionSql, prepared: P) => Promise<T>,
): Promise<T> {
  if (opts.key && !isIdempotencyKey(opts.key)) {
    throw new ValidationError([{ field: "idempotency_key", description: IDEMPOTENCY_KEY_RULE }]);
  }
  if (!opts.key) {
    const prepared = (opts.prepare ? await opts.prepare() : undefined) as P;
    return (await sql.begin((tx) => work(tx, prepared))) as T;
  }
  const hash = requestHash(opts.method, opts.request);
  const table = sql(`${opts.schema}.idempotency`);
  let prepared = undefined as P;
  if (opts.prepare) {
    // A finished earlier attempt answers without the network; an unfinished one is settled by the claim below.
    const [done] = await sql<StoredClaim[]>`
      select method, request_hash, response from ${table}
      where business_id = ${opts.businessId} and key = ${opts.key} and response is not null`;
    if (done) return replay(done, opts.method, hash, opts.codec);
    prepared = await opts.prepare();
  }
  return (await sql.begin(async (tx) => {
    const claimed = await tx`
      insert into ${table} (business_id, key, method, request_hash)
      values (${opts.businessId}, ${opts.key}, ${opts.method}, ${hash})
      on conflict (business_id, key) do nothing
      returning key`;
    if (claimed.length === 0) {
      const [row] = await tx<StoredClaim[]>`
        select method, request_hash, response from ${table}
        where business_id = ${opts.businessId} and key = ${opts.key}`;
      return replay(row, opts.method, hash, opts.codec);
    }
    const result = await work(tx, prepared);
    const bytes = Buffer.from(opts.codec.encode(result).finish());
    await tx`update ${table} set response = ${bytes}
      where business_id = ${opts.businessId} and key = ${opts.key}`;
    return result;
  })) as T;
}

/**
 * {@link idempotent} for a request that carries its own `idempotencyKey`:
 * the key is taken out and the rest is hashed, so a retry with the same body
 * replays and a different body conflicts. The tenant is the request's
 * `businessId` unless `opts.businessId` names another.
 */
export function idempotentRequest<R extends { idempotencyKey: string; businessId?: string }, T>(
  sql: Sql,
  schema: string,
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
      schema,
      businessId: opts.businessId ?? req.businessId ?? "",
      key: idempotencyKey,
      method: opts.method,
      request: opts.hashed ? opts.hashed(request) : request,
      codec: opts.codec,
    },
    work,
  );
}
