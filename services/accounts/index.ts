/**
 * The accounts service: businesses, API keys and customers, over gRPC, with
 * its own Postgres schema `accounts`.
 */
import type { Sql } from "../../core/index.ts";
import { migrate } from "../../core/index.ts";
import { migrations } from "./migrations.ts";

export { migrations } from "./migrations.ts";
export type { AccountsServiceDeps } from "./service.ts";
export { createAccountsClient, createAccountsService, hashApiKey } from "./service.ts";

export const ACCOUNTS_SCHEMA = "accounts";

/** Creates or upgrades the `accounts` schema. */
export async function migrateAccounts(sql: Sql): Promise<void> {
  await migrate(sql, ACCOUNTS_SCHEMA, migrations);
}
