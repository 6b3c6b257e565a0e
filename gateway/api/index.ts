/** The public gRPC API businesses call: linkflow.v1 services, API-key auth, health. */
export type { ApiDeps, ApiHealth } from "./server.ts";
export { addPublicApi } from "./server.ts";
export { ApiKeyAuthenticator } from "./auth.ts";
export { toWorkflowMessage } from "./convert.ts";
