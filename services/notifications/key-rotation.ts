import {
  type Keyring,
  type KeyUsage,
  keyUsage,
  type ReencryptionReport,
  reencryptColumn,
  type Sql,
} from "../../core/index.ts";
import { CreateWebhookSubscriptionResponse, RotateWebhookSecretResponse } from "../../proto/index.ts";
import { reencryptReplays, replayKeyUsage, type SealedReplays } from "../grpc/index.ts";
import { NOTIFICATIONS_SEALED_COLUMNS, SubscriptionSecrets } from "./secrets.ts";

/** The replay records that keep a webhook signing secret shown once, sealed. */
const SECRET_REPLAYS: SealedReplays<unknown>[] = [
  {
    schema: "notifications",
    method: "CreateWebhookSubscription",
    codec: (keyring) => new SubscriptionSecrets(keyring).replayCodec(CreateWebhookSubscriptionResponse),
  },
  {
    schema: "notifications",
    method: "RotateWebhookSecret",
    codec: (keyring) => new SubscriptionSecrets(keyring).replayCodec(RotateWebhookSecretResponse),
  },
];

/**
 * How many of the notifications schema's sealed values (webhook signing
 * secrets, current and previous, and their replays) each key seals, by table and column.
 */
export async function notificationsKeyUsage(sql: Sql): Promise<KeyUsage[]> {
  const usage = await Promise.all([
    ...NOTIFICATIONS_SEALED_COLUMNS.map((c) => keyUsage(sql, c)),
    ...SECRET_REPLAYS.map((r) => replayKeyUsage(sql, r)),
  ]);
  return usage.flat();
}

/**
 * Seals every notifications value not under the keyring's current key again,
 * in batches of `batch` (default 200), never overwriting a concurrent write;
 * safe to stop and run again. One report per table and column; values that
 * do not open are listed there by row id.
 */
export async function reencryptNotifications(
  sql: Sql,
  keyring: Keyring,
  opts: { batch?: number } = {},
): Promise<ReencryptionReport[]> {
  const reports: ReencryptionReport[] = [];
  for (const c of NOTIFICATIONS_SEALED_COLUMNS) reports.push(await reencryptColumn(sql, keyring, c, opts));
  for (const r of SECRET_REPLAYS) reports.push(await reencryptReplays(sql, keyring, r, opts));
  return reports;
}
