export { createTestDatabase } from "./database.ts";
export { freePort } from "./net.ts";
export {
  type EmbeddedPostgresServer,
  ensurePgSymlinks,
  pgBinaries,
  type StartEmbeddedPostgresOptions,
  startEmbeddedPostgres,
  startPostgres,
} from "./postgres.ts";
