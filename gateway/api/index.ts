/** The public gRPC API businesses call: linkflow.v1 services, API-key auth, health. */

export { ApiKeyAuthenticator } from "./auth.ts";
export { toWorkflowMessage } from "./convert.ts";
export type { ApiDeps, ApiHealth } from "./server.ts";
export { addPublicApi } from "./server.ts";
