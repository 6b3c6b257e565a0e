/**
 * The transactions service: money movement to and from customers' financial
 * accounts, over gRPC, with its own Postgres schema `transactions`.
 */
import type { Sql } from "../../core/index.ts";
import { migrate } from "../../core/index.ts";
import { migrations } from "./migrations.ts";

export type { TransactionLimits } from "./limits.ts";
export { migrations } from "./migrations.ts";
export type { DbStatus as TransactionStatusName, RailsOptions } from "./rails.ts";
export { ACH_RETURNS, CARD_DECLINES, CARD_ERRORS, NACHA_RETURN_REASONS } from "./rails.ts";
export type {
  TransactionStatusChangeEvent,
  TransactionsServiceDeps,
  TransactionsServiceHandle,
} from "./service.ts";
export { createTransactionsClient, createTransactionsService } from "./service.ts";

export const TRANSACTIONS_SCHEMA = "transactions";

/** Creates or upgrades the `transactions` schema. */
export async function migrateTransactions(sql: Sql): Promise<void> {
  await migrate(sql, TRANSACTIONS_SCHEMA, migrations);
}
