import {
  type Keyring,
  type KeyUsage,
  keyUsage,
  type ReencryptionReport,
  reencryptColumn,
  type Sql,
} from "../../core/index.ts";
import { reencryptReplays, replayKeyUsage, type SealedReplays } from "../grpc/index.ts";
import { ACCOUNTS_SEALED_COLUMNS } from "./sealed-columns.ts";
import { apiKeyReplayCodec } from "./service.ts";

/** CreateApiKey's replay records keep the key shown once, sealed. */
const API_KEY_REPLAYS: SealedReplays<unknown> = {
  schema: "accounts",
  method: "CreateApiKey",
  codec: apiKeyReplayCodec,
};

/**
 * How many of the accounts schema's sealed values (account and card numbers,
 * enhanced PII, replays of a created API key) each key seals, by table and column.
 */
export async function accountsKeyUsage(sql: Sql): Promise<KeyUsage[]> {
  const columns = await Promise.all(ACCOUNTS_SEALED_COLUMNS.map((c) => keyUsage(sql, c)));
  return [...columns.flat(), ...(await replayKeyUsage(sql, API_KEY_REPLAYS))];
}

/**
 * Seals every accounts value not under the keyring's current key again, in
 * batches of `batch` (default 200), never overwriting a concurrent write;
 * safe to stop and run again. One report per table and column; values that
 * do not open are listed there by row id.
 */
export async function reencryptAccounts(
  sql: Sql,
  keyring: Keyring,
  opts: { batch?: number } = {},
): Promise<ReencryptionReport[]> {
  const reports: ReencryptionReport[] = [];
  for (const c of ACCOUNTS_SEALED_COLUMNS) reports.push(await reencryptColumn(sql, keyring, c, opts));
  reports.push(await reencryptReplays(sql, keyring, API_KEY_REPLAYS, opts));
  return reports;
}
