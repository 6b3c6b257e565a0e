import {
  type Delivery,
  DeliveryStatus,
  type Notification,
  NotificationChannel,
  NotificationOrigin,
  NotificationStatus,
  type WebhookSubscription,
  WebhookSubscriptionStatus,
} from "../../proto/index.ts";

/** The request's origin enum ↔ the history's column. */
export const ORIGINS: Partial<Record<NotificationOrigin, string>> = {
  [NotificationOrigin.NOTIFICATION_ORIGIN_INITIAL]: "initial",
  [NotificationOrigin.NOTIFICATION_ORIGIN_MANUAL]: "manual",
  [NotificationOrigin.NOTIFICATION_ORIGIN_REMINDER]: "reminder",
  [NotificationOrigin.NOTIFICATION_ORIGIN_EXPIRY]: "expiry",
  [NotificationOrigin.NOTIFICATION_ORIGIN_TRANSACTION]: "transaction",
  [NotificationOrigin.NOTIFICATION_ORIGIN_VERIFICATION]: "verification",
};
const ORIGIN_FROM_DB = Object.fromEntries(Object.entries(ORIGINS).map(([k, v]) => [v, Number(k)])) as Record<
  string,
  NotificationOrigin
>;

/** A history row's status: ours while sending, then the provider's word. */
export type NotificationRowStatus = "sending" | "queued" | "sent" | "delivered" | "undelivered" | "failed";

export interface NotificationRow {
  id: string;
  business_id: string;
  workflow_id: string;
  serial: number;
  channel: "sms" | "email";
  origin: string;
  sent_by: string;
  status: NotificationRowStatus;
  provider_message_id: string;
  recipient: string;
  sent_at: Date;
  error: string;
  error_json: unknown;
  idempotency_key: string;
  request_hash: string;
  lease_until: Date | null;
  first_attempt_at: Date | null;
}

const NOTIFICATION_STATUS: Record<NotificationRowStatus, NotificationStatus> = {
  sending: NotificationStatus.NOTIFICATION_STATUS_SENDING,
  queued: NotificationStatus.NOTIFICATION_STATUS_QUEUED,
  sent: NotificationStatus.NOTIFICATION_STATUS_SENT,
  delivered: NotificationStatus.NOTIFICATION_STATUS_DELIVERED,
  undelivered: NotificationStatus.NOTIFICATION_STATUS_UNDELIVERED,
  failed: NotificationStatus.NOTIFICATION_STATUS_FAILED,
};

/** "+1******4567", "a***@example.com": enough to recognise, not enough to leak. */
export function maskRecipient(to: string): string {
  const at = to.lastIndexOf("@");
  if (at > 0) return `${to[0]}***${to.slice(at)}`;
  if (to.length <= 6) return "*".repeat(to.length);
  return `${to.slice(0, 2)}${"*".repeat(to.length - 6)}${to.slice(-4)}`;
}

export function notificationFromRow(r: NotificationRow): Notification {
  return {
    id: r.id,
    businessId: r.business_id,
    workflowId: r.workflow_id,
    serial: r.serial,
    channel:
      r.channel === "sms"
        ? NotificationChannel.NOTIFICATION_CHANNEL_SMS
        : NotificationChannel.NOTIFICATION_CHANNEL_EMAIL,
    origin: ORIGIN_FROM_DB[r.origin] ?? NotificationOrigin.NOTIFICATION_ORIGIN_UNSPECIFIED,
    sentBy: r.sent_by,
    status: NOTIFICATION_STATUS[r.status],
    providerMessageId: r.provider_message_id,
    sentAt: r.sent_at,
    toMasked: maskRecipient(r.recipient),
    error: r.error,
  };
}

export interface SubscriptionRow {
  id: string;
  business_id: string;
  url: string;
  event_types: string[];
  created_at: Date;
  status: "active" | "suspended" | "paused";
  status_reason: string;
  consecutive_failures: number;
  previous_secret_expires_at: Date | null;
}

/** The subscription columns a caller may see (never the secrets). */
export const SUB_COLUMNS = `id, business_id, url, event_types, created_at, status, status_reason, consecutive_failures,
  previous_secret_expires_at`;

const SUB_STATUS = {
  active: WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_ACTIVE,
  suspended: WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_SUSPENDED,
  paused: WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_PAUSED,
} as const;

export function subscriptionFromRow(r: SubscriptionRow, now = Date.now()): WebhookSubscription {
  return {
    id: r.id,
    businessId: r.business_id,
    url: r.url,
    eventTypes: r.event_types,
    createdAt: r.created_at,
    status: SUB_STATUS[r.status],
    statusReason: r.status_reason,
    consecutiveFailures: r.consecutive_failures,
    ...(r.previous_secret_expires_at && r.previous_secret_expires_at.getTime() > now
      ? { previousSecretExpiresAt: r.previous_secret_expires_at }
      : {}),
  };
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  type: string;
  subscription_id: string;
  workflow_id: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  last_response_code: number;
  last_error: string;
  next_attempt_at: Date;
  delivered_at: Date | null;
  created_at: Date;
}

const DELIVERY_STATUS = {
  pending: DeliveryStatus.DELIVERY_STATUS_PENDING,
  delivered: DeliveryStatus.DELIVERY_STATUS_DELIVERED,
  failed: DeliveryStatus.DELIVERY_STATUS_FAILED,
} as const;

export function deliveryFromRow(r: DeliveryRow): Delivery {
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.type,
    subscriptionId: r.subscription_id,
    workflowId: r.workflow_id,
    status: DELIVERY_STATUS[r.status],
    attempts: r.attempts,
    lastResponseCode: r.last_response_code,
    lastError: r.last_error,
    ...(r.status === "pending" ? { nextAttemptAt: r.next_attempt_at } : {}),
    ...(r.delivered_at ? { deliveredAt: r.delivered_at } : {}),
    createdAt: r.created_at,
  };
}
