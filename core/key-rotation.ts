import type { Sql } from "./db.ts";
import { isSealedText, type Keyring, openNumber, openText, sealNumber, sealText } from "./keyring.ts";

/**
 * A column that holds values sealed under the keyring, and how to find them:
 * `bytes` is a ciphertext column with its key id in another column
 * ({@link sealNumber}); `text` is one `sealed:<key id>:…` value
 * ({@link sealText}), or a plain one written by a node without a keyring.
 */
export type SealedColumn = {
  /** Schema-qualified table, e.g. `accounts.financial_accounts`. */
  table: string;
  /** Its primary key column (text). */
  id: string;
  /** What each value is bound to (its AAD), from the row's id. */
  aad: (id: string) => string;
} & ({ kind: "bytes"; ciphertext: string; keyId: string } | { kind: "text"; column: string });

/** How many values of a column are sealed under each key ("(plain)" for a text value never sealed). */
export interface KeyUsage {
  table: string;
  column: string;
  keyId: string;
  count: number;
}

/** What a re-encryption pass over a column did. */
export interface ReencryptionReport {
  table: string;
  column: string;
  /** Values now sealed under the current key. */
  reencrypted: number;
  /** Values a concurrent writer changed meanwhile (left as that writer made them). */
  skipped: number;
  /** Values that could not be opened: tampered, or sealed under a key the keyring no longer has. */
  failed: { id: string; reason: string }[];
}

const columnName = (c: SealedColumn) => (c.kind === "bytes" ? c.ciphertext : c.column);

/** Counts a column's values by the key that sealed them. */
export async function keyUsage(sql: Sql, c: SealedColumn): Promise<KeyUsage[]> {
  const rows =
    c.kind === "bytes"
      ? await sql<{ key_id: string; n: number }[]>`
          select ${sql(c.keyId)} as key_id, count(*)::int as n from ${sql(c.table)}
          where ${sql(c.ciphertext)} is not null group by 1 order by 1`
      : await sql<{ key_id: string; n: number }[]>`
          select case when ${sql(c.column)} like 'sealed:%' then split_part(${sql(c.column)}, ':', 2)
                      else '(plain)' end as key_id, count(*)::int as n
          from ${sql(c.table)} where coalesce(${sql(c.column)}, '') <> '' group by 1 order by 1`;
  return rows.map((r) => ({ table: c.table, column: columnName(c), keyId: r.key_id, count: r.n }));
}

/**
 * Seals again, under the keyring's current key, every value of `c` sealed
 * under another key (and, for text, every plain value), `batch` rows at a
 * time in id order. Each row is written only if it still holds the value
 * read (compare-and-set), so a concurrent writer is never overwritten, and a
 * pass can be stopped and run again at any time. Plaintexts never leave this
 * function.
 */
export async function reencryptColumn(
  sql: Sql,
  keyring: Keyring,
  c: SealedColumn,
  opts: { batch?: number } = {},
): Promise<ReencryptionReport> {
  const report: ReencryptionReport = {
    table: c.table,
    column: columnName(c),
    reencrypted: 0,
    skipped: 0,
    failed: [],
  };
  const current = keyring.currentKeyId;
  const batch = Math.max(1, opts.batch ?? 200);
  let after = "";
  for (;;) {
    if (c.kind === "bytes") {
      const rows = await sql<{ id: string; ct: Buffer; key_id: string }[]>`
        select ${sql(c.id)} as id, ${sql(c.ciphertext)} as ct, ${sql(c.keyId)} as key_id from ${sql(c.table)}
        where ${sql(c.ciphertext)} is not null and ${sql(c.keyId)} <> ${current} and ${sql(c.id)} > ${after}
        order by ${sql(c.id)} limit ${batch}`;
      for (const r of rows) {
        let sealed: ReturnType<typeof sealNumber>;
        try {
          sealed = sealNumber(
            keyring,
            openNumber(keyring, { keyId: r.key_id, ciphertext: r.ct }, c.aad(r.id)),
            c.aad(r.id),
          );
        } catch (err) {
          report.failed.push({ id: r.id, reason: failure(keyring, r.key_id, err) });
          continue;
        }
        const done = await sql`
          update ${sql(c.table)} set ${sql(c.ciphertext)} = ${sealed.ciphertext}, ${sql(c.keyId)} = ${sealed.keyId}
          where ${sql(c.id)} = ${r.id} and ${sql(c.keyId)} = ${r.key_id} and ${sql(c.ciphertext)} = ${r.ct}`;
        if (done.count === 1) report.reencrypted++;
        else report.skipped++;
      }
      if (rows.length < batch) return report;
      after = rows[rows.length - 1]!.id;
    } else {
      const rows = await sql<{ id: string; v: string }[]>`
        select ${sql(c.id)} as id, ${sql(c.column)} as v from ${sql(c.table)}
        where coalesce(${sql(c.column)}, '') <> ''
          and not (${sql(c.column)} like 'sealed:%' and split_part(${sql(c.column)}, ':', 2) = ${current})
          and ${sql(c.id)} > ${after}
        order by ${sql(c.id)} limit ${batch}`;
      for (const r of rows) {
        let sealed: string;
        try {
          const plain = isSealedText(r.v) ? openText(keyring, r.v, c.aad(r.id)) : r.v;
          sealed = sealText(keyring, plain, c.aad(r.id));
        } catch (err) {
          report.failed.push({ id: r.id, reason: failure(keyring, r.v.split(":")[1] ?? "", err) });
          continue;
        }
        const done = await sql`
          update ${sql(c.table)} set ${sql(c.column)} = ${sealed}
          where ${sql(c.id)} = ${r.id} and ${sql(c.column)} = ${r.v}`;
        if (done.count === 1) report.reencrypted++;
        else report.skipped++;
      }
      if (rows.length < batch) return report;
      after = rows[rows.length - 1]!.id;
    }
  }
}

/** Why a value did not open, without a word of the value itself. */
function failure(keyring: Keyring, keyId: string, err: unknown): string {
  if (keyring.keys[keyId] === undefined) return `sealed under key ${keyId}, which the keyring does not have`;
  return err instanceof Error && /auth|unsupported state/i.test(err.message)
    ? "does not open under its key: altered, or bound to another row"
    : "does not open under its key";
}
