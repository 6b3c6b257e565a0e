import { createHash, randomUUID } from "node:crypto";
import type { Fragment, TransactionSql } from "postgres";
import {
  FailedPreconditionError,
  isSealedText,
  type Keyring,
  openText,
  type Sql,
  sealText,
  UnavailableError,
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
      try {
        return { ...m, [o.field]: openText(o.keyring, kept, o.aad(m)) };
      } catch {
        // Altered, or its key was retired before `linkflow keys reencrypt` sealed it again: as good as not kept.
        throw o.shownOnce();
      }
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

function replay<T>(
  row: StoredClaim | undefined,
  method: string,
  hashes: RequestHashes,
  codec: ResponseCodec<T>,
): T {
  if (!row || row.method !== method || !hashes.accepts(row.request_hash) || !row.response) {
    throw new FailedPreconditionError(
      "idempotency_key_reused",
      "this idempotency key was already used with a different request",
    );
  }
  return codec.decode(row.response);
}

/** Whose key a mutation runs under, and how its response is kept for replays. */
export interface IdempotentCall<T> {
  /** The service's schema, which holds its `idempotency` table. */
  schema: string;
  businessId: string;
  key: string;
  method: string;
  /** The request without its idempotency key. */
  request: unknown;
  /**
   * The same request as it was hashed before a key rotation (its keyed
   * fingerprints under older keys): an earlier attempt hashed so is replayed
   * too, not refused as another request.
   */
  sameAs?: unknown[];
  codec: ResponseCodec<T>;
}

/** A request's hash, and the hashes an earlier attempt of the same request may have stored. */
interface RequestHashes {
  hash: string;
  accepts(stored: string): boolean;
}

function hashesOf(opts: { method: string; request: unknown; sameAs?: unknown[] }): RequestHashes {
  const hash = requestHash(opts.method, opts.request);
  const also = (opts.sameAs ?? []).map((r) => requestHash(opts.method, r));
  return { hash, accepts: (stored) => stored === hash || also.includes(stored) };
}

/**
 * Runs a mutation once per (business, idempotency key), in one transaction
 * with the claim of the key: the first caller inserts the claim and does the
 * work; concurrent retries block on the claim's unique key and then read the
 * stored response. The same key with a different request (or method) is
 * refused with `idempotency_key_reused`. A failed attempt rolls its claim back,
 * so the caller may retry. Without a key the work simply runs in a transaction.
 *
 * The claim comes before the work, so work with effects outside this database
 * (a call to another service) runs once per key. Work that is a single
 * statement is better served by {@link idempotentStatement}.
 *
 * Every service's mutations go through here, so this is where a key is held to
 * 6–255 printable characters (INVALID_ARGUMENT on `idempotency_key` otherwise).
 *
 * `prepare` runs before the transaction opens: put network calls there, so no
 * transaction (and no claim's row lock) is held across them. A retry whose
 * response is already stored is answered without running `prepare`.
 *
 * What must happen only once the work's transaction committed (a log line, a
 * wake-up) goes to `committed`, which runs it then, and not when the work
 * fails.
 */
export async function idempotent<T, P = undefined>(
  sql: Sql,
  opts: IdempotentCall<T> & {
    /** Work outside any transaction (network calls); its result goes to `work`. */
    prepare?: () => Promise<P>;
  },
  work: (tx: TransactionSql, prepared: P, committed: (then: () => void) => void) => Promise<T>,
): Promise<T> {
  if (opts.key && !isIdempotencyKey(opts.key)) {
    throw new ValidationError([{ field: "idempotency_key", description: IDEMPOTENCY_KEY_RULE }]);
  }
  const after: (() => void)[] = [];
  const committed = (then: () => void) => after.push(then);
  const done = (result: T) => {
    for (const then of after) then();
    return result;
  };
  if (!opts.key) {
    const prepared = (opts.prepare ? await opts.prepare() : undefined) as P;
    return done((await sql.begin((tx) => work(tx, prepared, committed))) as T);
  }
  const hashes = hashesOf(opts);
  const hash = hashes.hash;
  const table = sql(`${opts.schema}.idempotency`);
  let prepared = undefined as P;
  if (opts.prepare) {
    // A finished earlier attempt answers without the network; an unfinished one is settled by the claim below.
    const [finished] = await sql<StoredClaim[]>`
      select method, request_hash, response from ${table}
      where business_id = ${opts.businessId} and key = ${opts.key} and response is not null`;
    if (finished) return replay(finished, opts.method, hashes, opts.codec);
    prepared = await opts.prepare();
  }
  const result = (await sql.begin(async (tx) => {
    const claimed = await tx`
      insert into ${table} (business_id, key, method, request_hash)
      values (${opts.businessId}, ${opts.key}, ${opts.method}, ${hash})
      on conflict (business_id, key) do nothing
      returning key`;
    if (claimed.length === 0) {
      const [row] = await tx<StoredClaim[]>`
        select method, request_hash, response from ${table}
        where business_id = ${opts.businessId} and key = ${opts.key}`;
      return replay(row, opts.method, hashes, opts.codec);
    }
    const result = await work(tx, prepared, committed);
    const bytes = Buffer.from(opts.codec.encode(result).finish());
    await tx`update ${table} set response = ${bytes}
      where business_id = ${opts.businessId} and key = ${opts.key}`;
    return result;
  })) as T;
  return done(result);
}

/** A second response, picked inside the statement: for a result that depends on what the statement reads. */
export interface AlternativeResponse<T> {
  /** A SQL boolean, evaluated in the statement (it may read the CTEs of `before`). */
  when: Fragment;
  /** The response (stored and returned) when `when` holds. */
  response: T;
}

interface StatementOutcome extends Partial<StoredClaim> {
  claimed: boolean;
  allowed: boolean;
  alternative: boolean;
}

/**
 * Runs a mutation whose effects fit in one statement, claiming the key in
 * that same statement: atomic without a transaction, one round trip for the
 * first attempt and (usually) for a replay. The statement is
 *
 *     with <before>, claim as (insert the key and its response where <allowed>
 *       on conflict do nothing returning key), <effects>
 *     select <claimed?>, <allowed?>, <the key's earlier row, if any>
 *
 * so `effects` must write only from `claim`'s rows (`insert ... select ...
 * from claim`, `update ... where exists (select from claim)`): when the key was
 * already used, nothing is written. The response is stored with the claim, so
 * it must be known before the statement runs (built from the values it
 * writes), or be one of two picked by the statement (`alternative`).
 *
 * When `allowed` is false nothing is written and `refused()` is thrown, unless
 * an earlier attempt with this key stored its response: that is replayed (its
 * own effects may be why the precondition fails now), even when that attempt
 * is still committing (it is waited for). A concurrent attempt
 * with the same key waits on the key's row, then replays the winner's
 * response; a different request under the key gets `idempotency_key_reused`.
 * Without a key the effects simply run when `allowed`.
 *
 * All of it reads one snapshot, taken when the statement starts: a row that a
 * concurrent transaction commits meanwhile is not seen, unless it is locked
 * (`for update` in `before`, which re-reads it once the lock is had).
 */
export async function idempotentStatement<T>(
  sql: Sql,
  opts: IdempotentCall<T> & {
    /** CTEs the claim and effects read, written `name as (...), ...` (e.g. a parent row locked `for update`). */
    before?: Fragment;
    /** A SQL boolean: the preconditions of the mutation. */
    allowed: Fragment;
    /** The effects as CTEs reading `claim`, written `name as (...), ...`. */
    effects: Fragment;
    /** The answer, stored with the claim: what the effects write. */
    response: T;
    /** Another answer, stored and returned instead when its condition holds in the statement. */
    alternative?: AlternativeResponse<T>;
    /** The error when `allowed` is false (and no earlier attempt answers). */
    refused: () => Error;
    /**
     * Whether a refused call waits for an attempt with its key that is still
     * committing, to replay it (default true). A caller that only looks up a
     * stored answer (`allowed` always false) says false: one read.
     */
    awaitCommitting?: boolean;
    /** Called when this attempt wrote the effects (not on a replay): for logs and follow-up work. */
    onWritten?: (response: T) => void;
  },
): Promise<T> {
  if (opts.key && !isIdempotencyKey(opts.key)) {
    throw new ValidationError([{ field: "idempotency_key", description: IDEMPOTENCY_KEY_RULE }]);
  }
  const alt = opts.alternative;
  const bytes = (m: T) => Buffer.from(opts.codec.encode(m).finish());
  const hashes = hashesOf(opts);
  const hash = hashes.hash;
  const table = sql(`${opts.schema}.idempotency`);
  const response = alt
    ? sql`case when ${alt.when} then ${bytes(alt.response)}::bytea else ${bytes(opts.response)}::bytea end`
    : sql`${bytes(opts.response)}::bytea`;
  const claim = opts.key
    ? sql`insert into ${table} (business_id, key, method, request_hash, response)
        select ${opts.businessId}, ${opts.key}, ${opts.method}, ${hash}, ${response} where ${opts.allowed}
        on conflict (business_id, key) do nothing returning key`
    : sql`select ''::text as key where ${opts.allowed}`;
  const [out] = await sql<StatementOutcome[]>`
    with ${opts.before ? sql`${opts.before},` : sql``} claim as (${claim}), ${opts.effects}
    select exists (select from claim) as claimed, ${opts.allowed} as allowed, ${alt?.when ?? sql`false`} as alternative,
           s.method, s.request_hash, s.response
    from (values (1)) as one (x)
    left join ${table} s on s.business_id = ${opts.businessId} and s.key = ${opts.key}`;
  if (out!.claimed) {
    const written = alt && out!.alternative ? alt.response : opts.response;
    opts.onWritten?.(written);
    return written;
  }
  if (out!.method) return replay(out as StoredClaim, opts.method, hashes, opts.codec);
  if (!opts.key) throw opts.refused();
  if (!out!.allowed) {
    if (opts.awaitCommitting === false) throw opts.refused();
    // An attempt with this key may still be committing, and be why the precondition fails now (it ran just
    // before, say, a deletion): its response is the answer, not the refusal.
    const earlier = await committedAttempt(sql, opts.schema, opts.businessId, opts.key, opts.method, hash);
    if (!earlier) throw opts.refused();
    return replay(earlier, opts.method, hashes, opts.codec);
  }
  // The key's row was written by a concurrent attempt that committed while this statement waited on it.
  const [row] = await sql<StoredClaim[]>`
    select method, request_hash, response from ${table}
    where business_id = ${opts.businessId} and key = ${opts.key}`;
  if (!row) throw new UnavailableError("idempotency_key_busy", "another attempt with this key is under way");
  return replay(row, opts.method, hashes, opts.codec);
}

/** Thrown to roll back a probe that found no other attempt. */
const NO_OTHER_ATTEMPT = Symbol("no other attempt");

/**
 * The key's row once any attempt still writing it has finished: trying to
 * claim the key waits on the unique index for an uncommitted claim (a read
 * would not see it), then the probe is rolled back. Undefined when no
 * attempt holds the key.
 */
async function committedAttempt(
  sql: Sql,
  schema: string,
  businessId: string,
  key: string,
  method: string,
  hash: string,
): Promise<StoredClaim | undefined> {
  const table = sql(`${schema}.idempotency`);
  try {
    return await sql.begin(async (tx) => {
      const probe = await tx`
        insert into ${table} (business_id, key, method, request_hash)
        values (${businessId}, ${key}, ${method}, ${hash})
        on conflict (business_id, key) do nothing
        returning key`;
      if (probe.length > 0) throw NO_OTHER_ATTEMPT;
      const [row] = await tx<StoredClaim[]>`
        select method, request_hash, response from ${table}
        where business_id = ${businessId} and key = ${key}`;
      return row;
    });
  } catch (err) {
    if (err === NO_OTHER_ATTEMPT) return undefined;
    throw err;
  }
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
    /** What an earlier attempt of the same request may have hashed instead (see {@link IdempotentCall.sameAs}). */
    sameAs?: (request: Omit<R, "idempotencyKey">) => unknown[];
  },
  work: (tx: TransactionSql, committed: (then: () => void) => void) => Promise<T>,
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
      sameAs: opts.sameAs?.(request),
      codec: opts.codec,
    },
    (tx, _prepared, committed) => work(tx, committed),
  );
}

/** The least time an unfinished claim holds its key before a retry may take it over (its attempt died). */
const CALL_CLAIM_LEASE_MS = 30_000;

/**
 * The columns {@link idempotentCall} needs on a schema's `idempotency` table:
 * who holds an unfinished claim, and until when.
 */
export function idempotencyCallColumnsSql(): string {
  return "alter table idempotency add column claim_token text, add column claim_until timestamptz;";
}

/**
 * {@link idempotent} for work that calls other services or actors, which no
 * database transaction may span: the key is claimed in a statement of its
 * own, the work runs with no transaction (and no pooled connection) held, and
 * its response is stored afterwards. A concurrent call with the key waits for
 * that response until `deadline`, then answers `idempotency_key_busy`
 * (UNAVAILABLE, retryable). A failed attempt gives its claim back.
 *
 * A claim holds the key until its attempt's deadline (at least `leaseMs`); a
 * claim still unfinished then was left by an attempt that died, and a retry
 * takes it over. The work must therefore be safe to run twice: pass the key
 * on, and let the actor or service deduplicate on it. Each claim carries its
 * own token, so an attempt that was taken over never removes or overwrites
 * the claim of the one that took over. The schema's table needs
 * {@link idempotencyCallColumnsSql}.
 */
export async function idempotentCall<T>(
  sql: Sql,
  opts: IdempotentCall<T> & { deadline?: number; leaseMs?: number },
  work: () => Promise<T>,
): Promise<T> {
  if (!isIdempotencyKey(opts.key)) {
    throw new ValidationError([{ field: "idempotency_key", description: IDEMPOTENCY_KEY_RULE }]);
  }
  const hashes = hashesOf(opts);
  const hash = hashes.hash;
  const table = sql(`${opts.schema}.idempotency`);
  const leaseMs = Math.max(1, Math.round(opts.leaseMs ?? CALL_CLAIM_LEASE_MS));
  const deadline = opts.deadline ?? Date.now() + 15_000;
  const token = randomUUID();
  for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
    // Until the attempt's deadline, and never less than the lease: the work may run that long.
    const holdMs = Math.max(leaseMs, deadline - Date.now());
    // Claims the key, or takes over a claim of the same request whose attempt is past its deadline.
    // A claim without a holder's deadline (written before claims had one) holds for the lease.
    const claimed = await sql`
      insert into ${table} as i (business_id, key, method, request_hash, claim_token, claim_until)
      values (${opts.businessId}, ${opts.key}, ${opts.method}, ${hash}, ${token},
              now() + ${`${holdMs} milliseconds`}::interval)
      on conflict (business_id, key) do update
        set created_at = now(), claim_token = excluded.claim_token, claim_until = excluded.claim_until
        where i.response is null and i.method = excluded.method and i.request_hash = excluded.request_hash
          and coalesce(i.claim_until, i.created_at + ${`${leaseMs} milliseconds`}::interval) < now()
      returning key`;
    if (claimed.length > 0) break;
    const [row] = await sql<StoredClaim[]>`
      select method, request_hash, response from ${table}
      where business_id = ${opts.businessId} and key = ${opts.key}`;
    if (row?.response || (row && (row.method !== opts.method || !hashes.accepts(row.request_hash)))) {
      return replay(row, opts.method, hashes, opts.codec);
    }
    if (Date.now() + wait > deadline) {
      throw new UnavailableError("idempotency_key_busy", "another attempt with this key is under way");
    }
    await new Promise((r) => setTimeout(r, wait));
  }
  const mine = sql`business_id = ${opts.businessId} and key = ${opts.key} and claim_token = ${token}`;
  let result: T;
  try {
    result = await work();
  } catch (err) {
    await sql`delete from ${table} where ${mine} and response is null`.catch(() => {});
    throw err;
  }
  const bytes = Buffer.from(opts.codec.encode(result).finish());
  await sql`update ${table} set response = ${bytes}, claim_token = null, claim_until = null where ${mine}`;
  return result;
}
