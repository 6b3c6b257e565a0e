import type { Sql } from "../../../core/index.ts";

/** Postgres flags that load pg_stat_statements, so a benchmark can count the statements it caused. */
export const PG_STATEMENT_FLAGS = [
  "-c",
  "shared_preload_libraries=pg_stat_statements",
  // Only the statements clients sent (not the ones run inside them, like foreign key checks).
  "-c",
  "pg_stat_statements.track=top",
];

/** Forgets what was counted so far (call right before the measured part). */
export async function resetStatements(sql: Sql): Promise<void> {
  await sql.unsafe("create extension if not exists pg_stat_statements");
  await sql.unsafe("select pg_stat_statements_reset()");
}

export interface StatementFigures {
  /** Statements clients sent per unit of work (transaction control included). */
  perUnit: number;
  /** Server execution time per unit of work, in ms. */
  execMsPerUnit: number;
  /** The costliest statements: calls and exec ms per unit, and the statement's text. */
  top: { calls: number; execMs: number; statement: string }[];
}

/** What Postgres ran since the reset, divided over `units` (e.g. workflows). */
export async function statementFigures(sql: Sql, units: number, topN = 25): Promise<StatementFigures> {
  const [total] = await sql.unsafe<{ calls: string; ms: number }[]>(
    "select coalesce(sum(calls), 0)::text as calls, coalesce(sum(total_exec_time), 0)::float8 as ms from pg_stat_statements",
  );
  const rows = await sql.unsafe<{ calls: string; ms: number; query: string }[]>(
    `select calls::text, total_exec_time::float8 as ms, query from pg_stat_statements
      order by pg_stat_statements.calls desc, total_exec_time desc limit ${Number(topN)}`,
  );
  return {
    perUnit: Number(total?.calls ?? 0) / units,
    execMsPerUnit: Number(total?.ms ?? 0) / units,
    top: rows.map((r) => ({
      calls: Number(r.calls) / units,
      execMs: r.ms / units,
      statement: r.query.replace(/\s+/g, " ").slice(0, 160),
    })),
  };
}
