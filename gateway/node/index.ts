/** Composition of one Linkflow node: services, runtime and the gateway's front doors. */

export type { BootstrappedBusiness } from "./bootstrap.ts";
export { bootstrapBusiness, createApiKey } from "./bootstrap.ts";
export type { EmailConfig, NodeConfig, SmsConfig, TransportConfig } from "./config.ts";
export { configFromEnv } from "./config.ts";
export type { LinkflowNode } from "./node.ts";
export { loadTemplates, migrateAll, startNode } from "./node.ts";
