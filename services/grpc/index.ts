/**
 * Shared gRPC plumbing of the internal services: error mapping to status codes
 * with google.rpc details, the async unary handler adapter, and a promise
 * wrapper for generated clients.
 */
export { fromServiceError, readErrorCode, readFieldViolations, toServiceError } from "./errors.ts";
export type { CallOpts, UnaryMethod } from "./handlers.ts";
export { call, callOrThrow, unary } from "./handlers.ts";
export type { GrpcService, HealthProbe } from "./health.ts";
export { ServerHealth, serviceName } from "./health.ts";
export type { AlternativeResponse, ResponseCodec } from "./idempotency.ts";
export {
  IDEMPOTENCY_KEY_RULE,
  idempotencyCallColumnsSql,
  idempotencyTableSql,
  idempotent,
  idempotentCall,
  idempotentRequest,
  idempotentStatement,
  isIdempotencyKey,
  requestHash,
  sealedSecretCodec,
} from "./idempotency.ts";
export type { SealedReplays } from "./replay-rotation.ts";
export { reencryptReplays, replayKeyUsage } from "./replay-rotation.ts";
export type { ListeningServer } from "./server.ts";
export { GRPC_CHANNEL_OPTIONS, listen } from "./server.ts";
export { isE164, isEmail, Violations } from "./validate.ts";
