import postgres from "postgres";

/** A postgres.js client. */
export type Sql = postgres.Sql;

/** Opens a pool. Notices are silenced: they are not errors and would clutter logs. */
export function connect(url: string, opts: { max?: number } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    idle_timeout: 30,
    connect_timeout: 10,
    types: { bigint: postgres.BigInt },
  });
}

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/**
 * Applies the not-yet-applied migrations of one schema, each in its own
 * transaction, under an advisory lock so concurrent nodes do not race.
 */
export async function migrate(sql: Sql, schema: string, migrations: Migration[]): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(${`linkflow.migrate.${schema}`}))`;
    await tx.unsafe(`create schema if not exists ${schema}`);
    await tx.unsafe(
      `create table if not exists ${schema}.schema_migrations (id int primary key, name text not null, applied_at timestamptz not null default now())`,
    );
    const rows = await tx.unsafe<{ id: number }[]>(`select id from ${schema}.schema_migrations`);
    const applied = new Set(rows.map((r) => r.id));
    for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
      if (applied.has(m.id)) continue;
      await tx.unsafe(`set local search_path to ${schema}`);
      await tx.unsafe(m.sql);
      await tx.unsafe(`insert into ${schema}.schema_migrations (id, name) values ($1, $2)`, [m.id, m.name]);
    }
  });
}
