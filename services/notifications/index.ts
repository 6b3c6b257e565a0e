/**
 * The notifications service: SMS (Twilio or the dev outbox), email (SMTP or
 * the dev outbox), notification history per workflow, and signed webhooks
 * with a retrying dispatcher. Own Postgres schema `notifications`.
 */
import type { Sql } from "../../core/index.ts";
import { migrate } from "../../core/index.ts";
import { migrations } from "./migrations.ts";

export type { InboundSmsResponse } from "./inbound-sms.ts";
export { notificationsKeyUsage, reencryptNotifications } from "./key-rotation.ts";
export { migrations } from "./migrations.ts";
export { maskRecipient } from "./rows.ts";
export { NOTIFICATIONS_SEALED_COLUMNS } from "./secrets.ts";
export type {
  EmailMessage,
  EmailSender,
  ProviderStatus,
  SendResult,
  SmsMessage,
  SmsSender,
} from "./senders.ts";
export { OutboxEmailSender, OutboxSmsSender, SmtpEmailSender, TwilioSmsSender } from "./senders.ts";
export type { NotificationsServiceDeps, NotificationsServiceHandle } from "./service.ts";
export { createNotificationsClient, createNotificationsService } from "./service.ts";
export type { SmsStatusReport } from "./sms-status.ts";
export type { TwilioWebhookTarget } from "./twilio-http.ts";
export { TWILIO_INBOUND_PATH, TWILIO_STATUS_PATH, twilioWebhookRoutes } from "./twilio-http.ts";
export { EVENT_TYPES } from "./validation.ts";
export type { DispatcherOptions } from "./webhooks.ts";
export {
  DEFAULT_RETRY,
  retryDelayMs,
  signWebhook,
  verifyWebhookSignature,
  WebhookDispatcher,
} from "./webhooks.ts";

export const NOTIFICATIONS_SCHEMA = "notifications";

/** Creates or upgrades the `notifications` schema. */
export async function migrateNotifications(sql: Sql): Promise<void> {
  await migrate(sql, NOTIFICATIONS_SCHEMA, migrations);
}
