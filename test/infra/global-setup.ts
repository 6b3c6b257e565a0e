import type { TestProject } from "vitest/node";
import { startPostgres } from "./postgres.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the shared embedded PostgreSQL; use createTestDatabase() rather than this directly. */
    pgAdminUrl: string;
  }
}

/** Starts one embedded PostgreSQL for the whole run; test files get their own database from it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await startPostgres();
  project.provide("pgAdminUrl", pg.adminUrl);
  return async () => {
    await pg.stop();
  };
}
