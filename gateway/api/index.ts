/** The public gRPC API businesses call: linkflow.v1 services, API-key auth, rate limits, health. */

export type { ApiTenant, ChildBusinesses } from "./auth.ts";
export { ACT_FOR_HEADER, ApiKeyAuthenticator } from "./auth.ts";
export { DEFAULT_AUTH_FAILURE_LIMIT } from "./auth-guard.ts";
export { toWorkflowMessage } from "./convert.ts";
export type { RateDecision, RateLimit, RateLimiter } from "./rate-limit.ts";
export {
  DEFAULT_RATE_LIMIT,
  MemoryRateLimiter,
  RateLimitedError,
  RedisRateLimiter,
} from "./rate-limit.ts";
export type { ApiDeps, ApiHealth } from "./server.ts";
export { addPublicApi } from "./server.ts";
