import type { TransactionSql } from "postgres";
import type { Sql } from "../../core/index.ts";
import { eventually } from "./helpers.ts";

/**
 * Starts `calls` while a transaction holds the rows `lock` locks, and ends the
 * hold once `waiters` statements wait on a lock: so concurrent calls really
 * meet in the database instead of finishing one after another.
 */
export async function whileHeld<T>(
  sql: Sql,
  lock: (tx: TransactionSql) => Promise<unknown>,
  waiters: number,
  calls: () => Promise<T>,
): Promise<T> {
  const held = await sql.begin(async (tx) => {
    await lock(tx);
    const running = calls();
    running.catch(() => {}); // awaited below; a rejection must not go unhandled while the hold lasts
    await eventually(async () => {
      const [w] = await sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`;
      return w!.n >= waiters ? true : undefined;
    }, `${waiters} statements waiting on a lock`);
    return { running }; // not the promise itself, which the transaction would await before ending the hold
  });
  return held.running;
}
