import { randomBytes } from "node:crypto";
import postgres from "postgres";

/**
 * Fresh database on the shared embedded Postgres (one per test file).
 * The admin URL comes from vitest's `inject("pgAdminUrl")` (provided by
 * global-setup.ts); outside vitest set `LINKFLOW_PG_ADMIN_URL` instead.
 */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const adminUrl = process.env.LINKFLOW_PG_ADMIN_URL ?? (await import("vitest")).inject("pgAdminUrl");
  if (!adminUrl)
    throw new Error("no pgAdminUrl: is test/infra/global-setup.ts configured as vitest globalSetup?");
  const name = `t_${randomBytes(8).toString("hex")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}
