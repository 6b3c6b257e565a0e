/**
 * The accounts service: businesses, API keys, customers, their financial
 * accounts (numbers encrypted at rest) and document acceptances, over gRPC, with
 * its own Postgres schema `accounts`.
 */
import type { Sql } from "../../core/index.ts";
import { migrate } from "../../core/index.ts";
import { migrations } from "./migrations.ts";

export type { Keyring, SealedNumber } from "../../core/index.ts";
export { checkKeyring, keyringFromEnv, numberFingerprint, openNumber, sealNumber } from "../../core/index.ts";
export { ACH_DEBIT_AUTHORIZATION_SCOPE } from "./financial.ts";
export { cardBrand, isLuhnValid, isValidRoutingNumber, parseExpiry } from "./instruments.ts";
export { accountsKeyUsage, reencryptAccounts } from "./key-rotation.ts";
export { migrations } from "./migrations.ts";
export { ACCOUNTS_SEALED_COLUMNS } from "./sealed-columns.ts";
export type { AccountsServiceDeps } from "./service.ts";
export { createAccountsClient, createAccountsService, hashApiKey } from "./service.ts";

export const ACCOUNTS_SCHEMA = "accounts";

/** Creates or upgrades the `accounts` schema. */
export async function migrateAccounts(sql: Sql): Promise<void> {
  await migrate(sql, ACCOUNTS_SCHEMA, migrations);
}

/** The direct child businesses of a business (for tenant scoping by the gateway on the same node). */
export async function listChildBusinesses(sql: Sql, businessId: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from accounts.businesses where parent_business_id = ${businessId} order by id`;
  return rows.map((r) => r.id);
}
