import type { Clock, Sql } from "../../core/index.ts";
import type { NotificationRowStatus } from "./rows.ts";

/** A delivery report from the SMS provider (Twilio's StatusCallback form, named plainly). */
export interface SmsStatusReport {
  /** The notification the callback URL was issued for (`notification_id` in its query), if known. */
  notificationId?: string;
  /** Twilio's MessageSid. */
  providerMessageId: string;
  /** Twilio's MessageStatus: queued, sending, sent, delivered, undelivered, failed, … */
  status: string;
  /** Twilio's ErrorCode, when the carrier gave one. */
  errorCode?: string;
}

const FROM_TWILIO: Record<string, NotificationRowStatus> = {
  accepted: "queued",
  scheduled: "queued",
  queued: "queued",
  sending: "queued",
  sent: "sent",
  delivered: "delivered",
  read: "delivered",
  undelivered: "undelivered",
  failed: "failed",
  canceled: "failed",
};

/**
 * Which statuses a report may replace: callbacks arrive out of order
 * (delivered before sent), and a final status is never taken back.
 */
const EARLIER: Record<NotificationRowStatus, NotificationRowStatus[]> = {
  sending: [],
  queued: ["sending"],
  sent: ["sending", "queued"],
  delivered: ["sending", "queued", "sent"],
  undelivered: ["sending", "queued", "sent"],
  failed: ["sending", "queued", "sent"],
};

/**
 * Applies a provider's delivery report to the notification history. Answers
 * "unknown" when no notification has that message (or the id and sid
 * disagree), "ignored" for an unknown or out-of-order status, else "recorded".
 */
export async function recordSmsStatus(
  sql: Sql,
  clock: Clock,
  report: SmsStatusReport,
): Promise<"recorded" | "ignored" | "unknown"> {
  const sid = report.providerMessageId;
  if (!sid && !report.notificationId) return "unknown";
  const [row] = report.notificationId
    ? await sql<{ id: string; provider_message_id: string }[]>`
        select id, provider_message_id from notifications.notifications
        where id = ${report.notificationId} and channel = 'sms'`
    : await sql<{ id: string; provider_message_id: string }[]>`
        select id, provider_message_id from notifications.notifications
        where provider_message_id = ${sid} and channel = 'sms'`;
  // The sid is written once the send returns; a report may come first, so an empty sid is no mismatch.
  if (!row || (sid && row.provider_message_id && row.provider_message_id !== sid)) return "unknown";
  const status = FROM_TWILIO[report.status.toLowerCase()];
  if (!status) return "ignored";
  const code = /^\d{1,6}$/.test(report.errorCode ?? "") ? report.errorCode : "";
  const error =
    status === "undelivered" || status === "failed"
      ? `the carrier did not deliver the message (${report.status}${code ? ` ${code}` : ""})`
      : "";
  const updated = await sql`
    update notifications.notifications
    set status = ${status}, error = ${error}, status_updated_at = ${new Date(clock.now())},
        provider_message_id = case when provider_message_id = '' then ${sid} else provider_message_id end
    where id = ${row.id} and status = any(${EARLIER[status]}::text[])
    returning id`;
  return updated.length > 0 ? "recorded" : "ignored";
}
