export { CHROMIUM_ARGS, type ChromiumHandle, launchChromium, saveScreenshot } from "./chromium.ts";
export { createTestDatabase } from "./database.ts";
export { type NatsNode, type NatsNodeDetails, startNats } from "./nats.ts";
export { freePort } from "./net.ts";
export { type OtlpReceiverHandle, type ReceivedSpan, startOtlpReceiver } from "./otlp.ts";
export {
  type EmbeddedPostgresServer,
  ensurePgSymlinks,
  pgBinaries,
  type StartEmbeddedPostgresOptions,
  startEmbeddedPostgres,
  startPostgres,
} from "./postgres.ts";
export { startRedis } from "./redis.ts";
export { type ReceivedEmail, type SmtpServerHandle, startSmtpServer } from "./smtp.ts";
export {
  startTwilioServer,
  type TwilioMessage,
  type TwilioServerHandle,
  twilioClientFor,
  twilioSignature,
} from "./twilio.ts";
export {
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_SECONDS,
  signWebhook,
  startWebhookReceiver,
  verifyWebhookSignature,
  type WebhookDelivery,
  type WebhookReceiverHandle,
} from "./webhooks.ts";
