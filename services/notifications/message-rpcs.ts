import { SpanKind } from "@opentelemetry/api";
import { countNotificationSent, inSpan } from "../../core/index.ts";
import type { NotificationOrigin, NotificationsServiceServer } from "../../proto/index.ts";
import { unary, Violations } from "../grpc/index.ts";
import type { RpcContext } from "./context.ts";
import { MessageLedger } from "./messages.ts";
import { type NotificationRow, notificationFromRow, ORIGINS } from "./rows.ts";

/** SendSms, SendEmail and the per-workflow history. */
export function messageRpcs(
  ctx: RpcContext,
): Pick<NotificationsServiceServer, "sendSms" | "sendEmail" | "listWorkflowNotifications"> {
  const { sql, clock, log, deps } = ctx;
  const ledger = new MessageLedger(sql, clock);

  /** Logs a send (ids and status only: never the recipient or the body) and answers with its history row. */
  function sentFrom(
    channel: "sms" | "email",
    req: { businessId: string; workflowId: string },
    row: NotificationRow,
    origin: string,
  ) {
    log.info(`${channel} sent`, {
      business_id: req.businessId,
      workflow_id: req.workflowId,
      notification_id: row.id,
      serial: row.serial,
      origin,
      status: row.status,
    });
    return { notification: notificationFromRow(row) };
  }

  function common(
    v: Violations,
    req: {
      businessId: string;
      workflowId: string;
      origin: NotificationOrigin;
      sentBy: string;
      idempotencyKey: string;
    },
  ): string {
    v.id("business_id", req.businessId, "biz");
    if (req.workflowId) v.id("workflow_id", req.workflowId, "wf");
    const origin = ORIGINS[req.origin];
    if (!origin)
      v.add("origin", "must be one of INITIAL, MANUAL, REMINDER, EXPIRY, TRANSACTION, VERIFICATION");
    v.text("sent_by", req.sentBy, { max: 100, optional: true });
    v.idempotencyKey("idempotency_key", req.idempotencyKey);
    return origin ?? "";
  }

  return {
    sendSms: unary(async (req) => {
      const v = new Violations();
      const origin = common(v, req);
      v.phone("to", req.to);
      v.text("body", req.body, { max: 1600 });
      v.throwIfAny();
      const { idempotencyKey, ...request } = req;
      const callback = deps.smsStatusCallbackUrl?.();
      const row = await ledger.deliver(
        {
          businessId: req.businessId,
          workflowId: req.workflowId,
          channel: "sms",
          origin,
          sentBy: req.sentBy || "system",
          provider: deps.sms.provider,
          recipient: req.to,
          subject: "",
          body: req.body,
          html: "",
          idempotencyKey,
          method: "SendSms",
          request,
        },
        async (notificationId) => {
          const sent = await deps.sms.send({
            to: req.to,
            body: req.body,
            ...(callback ? { statusCallback: withQuery(callback, { notification_id: notificationId }) } : {}),
          });
          countNotificationSent("sms", deps.sms.provider);
          return sent;
        },
        (since) => deps.sms.findSent({ to: req.to, body: req.body, since }),
      );
      return sentFrom("sms", req, row, origin);
    }),
    sendEmail: unary(async (req) => {
      const v = new Violations();
      const origin = common(v, req);
      v.email("to", req.to);
      v.text("subject", req.subject, { max: 200 });
      if (/[\r\n]/.test(req.subject)) v.add("subject", "must be a single line");
      if (!req.text.trim() && !req.html.trim()) v.add("text", "text or html is required");
      if (req.text.length > 100_000) v.add("text", "must be at most 100000 characters");
      if (req.html.length > 500_000) v.add("html", "must be at most 500000 characters");
      v.throwIfAny();
      const { idempotencyKey, ...request } = req;
      const row = await ledger.deliver(
        {
          businessId: req.businessId,
          workflowId: req.workflowId,
          channel: "email",
          origin,
          sentBy: req.sentBy || "system",
          provider: deps.email.provider,
          recipient: req.to,
          subject: req.subject,
          body: req.text,
          html: req.html,
          idempotencyKey,
          method: "SendEmail",
          request,
        },
        async (notificationId) => {
          const sent = await inSpan(
            `email.send ${deps.email.provider}`,
            { "messaging.system": deps.email.provider },
            () =>
              deps.email.send({
                to: req.to,
                subject: req.subject,
                text: req.text,
                html: req.html,
                notificationId,
              }),
            SpanKind.CLIENT,
          );
          countNotificationSent("email", deps.email.provider);
          return sent;
        },
      );
      return sentFrom("email", req, row, origin);
    }),
    listWorkflowNotifications: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("workflow_id", req.workflowId, "wf");
      v.throwIfAny();
      const rows = await sql<NotificationRow[]>`
        select * from notifications.notifications
        where business_id = ${req.businessId} and workflow_id = ${req.workflowId} order by serial`;
      return { notifications: rows.map(notificationFromRow) };
    }),
  };
}

function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}
