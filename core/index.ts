/**
 * The kernel every module shares: typed errors, ids, the injectable clock,
 * Postgres connection and migrations, the encryption keyring, and the
 * redacting logger.
 */
export type { Clock } from "./clock.ts";
export { ManualClock, systemClock } from "./clock.ts";
export type { Migration, Sql } from "./db.ts";
export { connect, migrate } from "./db.ts";
export type { EphemeralStore } from "./ephemeral.ts";
export { createEphemeralStore, MemoryStore, RedisStore } from "./ephemeral.ts";
export type { FieldViolation, SerializedError } from "./errors.ts";
export {
  ConflictError,
  FailedPreconditionError,
  LinkflowError,
  NotFoundError,
  toLinkflowError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
} from "./errors.ts";
export { newId, newSecret } from "./ids.ts";
export {
  type KeyUsage,
  keyUsage,
  type ReencryptionReport,
  reencryptColumn,
  type SealedColumn,
} from "./key-rotation.ts";
export type { Keyring, SealedNumber } from "./keyring.ts";
export {
  checkKeyring,
  isSealedText,
  keyringFromEnv,
  numberFingerprint,
  olderKeyIds,
  openNumber,
  openText,
  sealNumber,
  sealText,
} from "./keyring.ts";
export type { Logger } from "./log.ts";
export { createLogger, logSink, redact, redactText, scrubLinkTokens } from "./log.ts";
export type { Labels } from "./metrics.ts";
export {
  Counter,
  countNotificationSent,
  countWebhookDelivery,
  defaultRegistry,
  Gauge,
  grpcServerMetrics,
  Histogram,
  httpRoute,
  instrumentHttp,
  LATENCY_BUCKETS,
  METRICS_CONTENT_TYPE,
  metricsHandler,
  observeGrpcServer,
  parseMetrics,
  Registry,
  renderMetrics,
} from "./metrics.ts";
export {
  currentTraceparent,
  exporterFromEnv,
  inServerSpan,
  inSpan,
  resourceAttributesFromEnv,
  setupTracing,
  tracingInterceptor,
} from "./telemetry.ts";
