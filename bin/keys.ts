/**
 * `linkflow keys`: which keys seal the secrets at rest, and sealing them again
 * under the current key after a rotation, so the old key can be retired.
 */
import { type Keyring, keyUsage, type ReencryptionReport, reencryptColumn, type Sql } from "../core/index.ts";
import { ACCOUNTS_SEALED_COLUMNS } from "../services/accounts/index.ts";
import { NOTIFICATIONS_SEALED_COLUMNS } from "../services/notifications/index.ts";

const SEALED_COLUMNS = [...ACCOUNTS_SEALED_COLUMNS, ...NOTIFICATIONS_SEALED_COLUMNS];

/** Replay records (idempotency tables) that keep a secret shown once, sealed, by key. */
async function replayUsage(sql: Sql): Promise<{ table: string; keyId: string; count: number }[]> {
  const out: { table: string; keyId: string; count: number }[] = [];
  for (const table of ["accounts.idempotency", "notifications.idempotency"]) {
    const rows = await sql<{ key_id: string; n: number }[]>`
      select substring(encode(response, 'escape') from 'sealed:([A-Za-z0-9_.-]+):') as key_id, count(*)::int as n
      from ${sql(table)} where response is not null and position('sealed:'::bytea in response) > 0
      group by 1 order by 1`;
    for (const r of rows) out.push({ table, keyId: r.key_id, count: r.n });
  }
  return out;
}

/** The sealed values by table, column and key, and which keys are still needed. */
export async function keysStatus(sql: Sql, keyring: Keyring): Promise<string> {
  const usage = (await Promise.all(SEALED_COLUMNS.map((c) => keyUsage(sql, c)))).flat();
  const replays = await replayUsage(sql);
  const lines = [`current key: ${keyring.currentKeyId}`, "", "sealed values:"];
  for (const u of usage) lines.push(`  ${u.table}.${u.column}  ${u.keyId}  ${u.count}`);
  if (usage.length === 0) lines.push("  (none)");
  lines.push(
    "",
    "replay records keeping a secret shown once (not sealed again; a replay after its key is retired answers that the secret was shown once):",
  );
  for (const r of replays) lines.push(`  ${r.table}  ${r.keyId}  ${r.count}`);
  if (replays.length === 0) lines.push("  (none)");
  const needed = new Set(usage.map((u) => u.keyId));
  const stale = usage.filter((u) => u.keyId !== keyring.currentKeyId);
  lines.push("");
  lines.push(
    stale.length === 0
      ? "every sealed value is under the current key"
      : `${stale.reduce((n, u) => n + u.count, 0)} values are under other keys: run \`linkflow keys reencrypt\``,
  );
  const retirable = Object.keys(keyring.keys).filter((k) => k !== keyring.currentKeyId && !needed.has(k));
  if (retirable.length > 0) lines.push(`no sealed value needs: ${retirable.join(", ")}`);
  return `${lines.join("\n")}\n`;
}

/** Seals every value not under the current key again; the reports say what was done and what failed. */
export async function reencryptAll(
  sql: Sql,
  keyring: Keyring,
  batch?: number,
): Promise<ReencryptionReport[]> {
  const reports: ReencryptionReport[] = [];
  for (const c of SEALED_COLUMNS) reports.push(await reencryptColumn(sql, keyring, c, { batch }));
  return reports;
}

/** The reports as lines: counts per column, then each failure by row id (never a value). */
export function formatReencryption(reports: ReencryptionReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(
      `${r.table}.${r.column}: ${r.reencrypted} sealed again, ${r.skipped} changed meanwhile, ${r.failed.length} failed`,
    );
    for (const f of r.failed) lines.push(`  ${f.id}: ${f.reason}`);
  }
  return `${lines.join("\n")}\n`;
}
