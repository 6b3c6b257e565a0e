import { afterAll, beforeAll } from "vitest";
import { connect, migrate, type Sql } from "../../core/index.ts";
import { runtimeMigrations } from "../../runtime/index.ts";
import { createTestDatabase, startNats } from "../infra/index.ts";

/** What a runtime test file shares: a migrated database of its own and a nats-server. */
export interface RuntimeInfra {
  readonly sql: Sql;
  readonly natsUrls: string[];
}

/**
 * Registers the file's beforeAll/afterAll that start (and stop) a fresh
 * database with the runtime schema and a nats-server. The returned object is
 * filled in once beforeAll has run.
 */
export function useRuntimeInfra(): RuntimeInfra {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let nats: Awaited<ReturnType<typeof startNats>> | undefined;
  let sql: Sql | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    sql = connect(db.url);
    await migrate(sql, "runtime", runtimeMigrations);
    nats = await startNats();
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
    await nats?.stop();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("the runtime test infrastructure is not started yet");
    return v;
  };
  return {
    get sql() {
      return ready(sql);
    },
    get natsUrls() {
      return ready(nats).urls;
    },
  };
}
