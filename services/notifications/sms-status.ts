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
  const status = FROM_TWILIO[report.status.toLowerCase()];
  const code = /^\d{1,6}$/.test(report.errorCode ?? "") ? report.errorCode : "";
  const error =
    status === "undelivered" || status === "failed"
      ? `the carrier did not deliver the message (${report.status}${code ? ` ${code}` : ""})`
      : "";
  // One statement finds the notification and applies the report. An unknown status replaces nothing (no earlier
  // statuses); the sid is written once the send returns and a report may come first, so an empty sid is no mismatch.
  const [found] = await sql<{ sid_matches: boolean; updated: boolean }[]>`
    with target as (
      select id, provider_message_id from notifications.notifications
      where channel = 'sms' and ${
        report.notificationId
          ? sql`id = ${report.notificationId}`
          : // Spelled out so the partial index on the sid is usable by a generic plan (the sid is never '' here).
            sql`provider_message_id = ${sid} and provider_message_id <> ''`
      }),
    updated as (
      update notifications.notifications n
      set status = ${status ?? "sending"}, error = ${error}, status_updated_at = ${new Date(clock.now())},
          provider_message_id = case when n.provider_message_id = '' then ${sid} else n.provider_message_id end
      from target t
      where n.id = t.id and n.status = any(${status ? EARLIER[status] : []}::text[])
        and (${sid} = '' or n.provider_message_id in ('', ${sid}))
      returning n.id)
    select (${sid} = '' or t.provider_message_id in ('', ${sid})) as sid_matches,
           exists (select 1 from updated) as updated
    from target t`;
  if (!found?.sid_matches) return "unknown";
  return found.updated ? "recorded" : "ignored";
}
