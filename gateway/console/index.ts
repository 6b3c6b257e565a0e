/**
 * The business console at /console: server-rendered pages (progressive
 * enhancement, strict CSP, CSRF tokens) over the public gRPC API, with
 * console users, sessions, roles and an audit log in the `console` schema.
 */
export type { Role } from "./auth.ts";
export { consoleMigrations } from "./migrations.ts";
export type { Console, ConsoleOptions } from "./server.ts";
export { ACTION_ROLES, createConsole } from "./server.ts";
export type { Message, SimAnswer, SimStep } from "./simulate.ts";
export { previewMessages, simulate } from "./simulate.ts";
