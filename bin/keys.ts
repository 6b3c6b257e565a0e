/**
 * `linkflow keys`: which keys seal the secrets at rest, and sealing them again
 * under the current key after a rotation, so the old key can be retired.
 */
import type { Keyring, KeyUsage, ReencryptionReport, Sql } from "../core/index.ts";
import { accountsKeyUsage, reencryptAccounts } from "../services/accounts/index.ts";
import { notificationsKeyUsage, reencryptNotifications } from "../services/notifications/index.ts";

/** The sealed values by table, column and key, and which keys are still needed. */
export async function keysStatus(sql: Sql, keyring: Keyring): Promise<string> {
  const usage: KeyUsage[] = [...(await accountsKeyUsage(sql)), ...(await notificationsKeyUsage(sql))];
  const lines = [`current key: ${keyring.currentKeyId}`, "", "sealed values:"];
  for (const u of usage) lines.push(`  ${u.table}.${u.column}  ${u.keyId}  ${u.count}`);
  if (usage.length === 0) lines.push("  (none)");
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
  const opts = batch === undefined ? {} : { batch };
  return [
    ...(await reencryptAccounts(sql, keyring, opts)),
    ...(await reencryptNotifications(sql, keyring, opts)),
  ];
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
  if (reports.some((r) => r.skipped > 0))
    lines.push("values changed meanwhile may still be under an older key: run `linkflow keys status`");
  return `${lines.join("\n")}\n`;
}
