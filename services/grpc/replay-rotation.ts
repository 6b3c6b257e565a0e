import type { Keyring, KeyUsage, ReencryptionReport, Sql } from "../../core/index.ts";
import type { ResponseCodec } from "./idempotency.ts";

/**
 * The replay records of one method whose response keeps a secret shown once
 * sealed (`sealedSecretCodec`), as the service that owns the method
 * knows them.
 */
export interface SealedReplays<T> {
  /** The service's schema, whose `idempotency` table keeps the records. */
  schema: string;
  method: string;
  /** The method's replay codec under `keyring`: decoding opens the secret, encoding seals it under the current key. */
  codec: (keyring: Keyring) => ResponseCodec<T>;
}

const table = (r: SealedReplays<unknown>) => `${r.schema}.idempotency`;
const column = (r: SealedReplays<unknown>) => `response[${r.method}]`;

/** Counts a method's replay records by the key that sealed their secret. */
export async function replayKeyUsage(sql: Sql, r: SealedReplays<unknown>): Promise<KeyUsage[]> {
  const rows = await sql<{ key_id: string; n: number }[]>`
    select substring(encode(response, 'escape') from 'sealed:([^:]+):') as key_id, count(*)::int as n
    from ${sql(table(r))}
    where method = ${r.method} and response is not null and position('sealed:'::bytea in response) > 0
    group by 1 order by 1`;
  return rows.map((x) => ({ table: table(r), column: column(r), keyId: x.key_id, count: x.n }));
}

/**
 * Seals again, under the keyring's current key, the secret kept by every
 * replay record of `r.method` sealed under another key, `batch` records at a
 * time in key order, so that a retry after the old key is retired still
 * replays. A record is written only if it still holds the bytes read
 * (compare-and-set); a pass can be stopped and run again. A record that does
 * not open is reported by its business id and idempotency key.
 */
export async function reencryptReplays<T>(
  sql: Sql,
  keyring: Keyring,
  r: SealedReplays<T>,
  opts: { batch?: number } = {},
): Promise<ReencryptionReport> {
  const report: ReencryptionReport = {
    table: table(r),
    column: column(r),
    reencrypted: 0,
    skipped: 0,
    failed: [],
  };
  const codec = r.codec(keyring);
  const batch = Math.max(1, opts.batch ?? 200);
  let after = { business: "", key: "" };
  for (;;) {
    const rows = await sql<{ business_id: string; key: string; response: Buffer; key_id: string }[]>`
      select business_id, key, response, key_id from (
        select business_id, key, response,
               substring(encode(response, 'escape') from 'sealed:([^:]+):') as key_id
        from ${sql(table(r))}
        where method = ${r.method} and response is not null and position('sealed:'::bytea in response) > 0
          and (business_id, key) > (${after.business}, ${after.key})
      ) sealed
      where key_id is distinct from ${keyring.currentKeyId}
      order by business_id, key limit ${batch}`;
    for (const row of rows) {
      let bytes: Buffer;
      try {
        bytes = Buffer.from(codec.encode(codec.decode(row.response)).finish());
      } catch {
        report.failed.push({
          id: `${row.business_id}/${row.key}`,
          reason:
            keyring.keys[row.key_id] === undefined
              ? `sealed under key ${row.key_id}, which the keyring does not have`
              : "does not open under its key: altered, or bound to another record",
        });
        continue;
      }
      const done = await sql`
        update ${sql(table(r))} set response = ${bytes}
        where business_id = ${row.business_id} and key = ${row.key} and response = ${row.response}`;
      if (done.count === 1) report.reencrypted++;
      else report.skipped++;
    }
    if (rows.length < batch) return report;
    const last = rows[rows.length - 1]!;
    after = { business: last.business_id, key: last.key };
  }
}
