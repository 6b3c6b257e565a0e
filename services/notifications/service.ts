import { credentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import {
  type Clock,
  countNotificationSent,
  createLogger,
  FailedPreconditionError,
  inSpan,
  type Logger,
  NotFoundError,
  newId,
  newSecret,
  type Sql,
  systemClock,
} from "../../core/index.ts";
import {
  CreateWebhookSubscriptionResponse,
  type NotificationOrigin,
  NotificationsServiceClient,
  type NotificationsServiceServer,
  NotificationsServiceService,
  PublishEventResponse,
  RotateWebhookSecretResponse,
  type Event as WebhookEvent,
  type WebhookSubscription,
} from "../../proto/index.ts";
import { idempotent, unary, Violations } from "../grpc/index.ts";
import { handleInboundSms, type InboundSmsResponse } from "./inbound-sms.ts";
import { MessageLedger } from "./messages.ts";
import {
  type DeliveryRow,
  deliveryFromRow,
  type NotificationRow,
  notificationFromRow,
  ORIGINS,
  SUB_COLUMNS,
  type SubscriptionRow,
  subscriptionFromRow,
} from "./rows.ts";
import type { EmailSender, SmsSender } from "./senders.ts";
import { recordSmsStatus, type SmsStatusReport } from "./sms-status.ts";
import { checkEventTypes, checkWebhookUrl, EVENT_PATTERN, EVENT_TYPE } from "./validation.ts";
import { type DispatcherOptions, WebhookDispatcher } from "./webhooks.ts";

export interface NotificationsServiceDeps {
  sql: Sql;
  sms: SmsSender;
  email: EmailSender;
  clock?: Clock;
  log?: Logger;
  webhooks?: DispatcherOptions & {
    /** Allow plain-http endpoints on any host (default: only https, or http to loopback). */
    allowInsecureUrls?: boolean;
  };
  /** The reply to an inbound HELP (must name a support contact). */
  smsHelpReply?: string;
  /**
   * The absolute URL of the SMS status route (see twilioWebhookRoutes), or
   * undefined while unknown; each SMS asks the provider to report there.
   */
  smsStatusCallbackUrl?: () => string | undefined;
}

export interface NotificationsServiceHandle {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  /** The webhook dispatcher (already started); `kick()` to look for due deliveries now. */
  dispatcher: WebhookDispatcher;
  /**
   * Handles Twilio's inbound-message webhook form (From, To, Body): STOP and
   * synonyms opt the sender out of SMS, START/UNSTOP opt back in, HELP gets a
   * reply with the support contact. The caller (an HTTP route) must verify
   * X-Twilio-Signature first and answer with the returned TwiML.
   */
  handleInboundSms(form: Record<string, string>): Promise<InboundSmsResponse>;
  /**
   * Records the SMS provider's delivery report (Twilio's status callback:
   * delivered, undelivered, failed, …) in the notification history. The
   * caller must have verified the report's signature.
   */
  recordSmsStatus(report: SmsStatusReport): Promise<"recorded" | "ignored" | "unknown">;
  /** Stops the dispatcher loop and waits for its in-flight pass. Idempotent. Does not close senders or sql. */
  close(): Promise<void>;
}

const EVENT_RETENTION_MS = 30 * 86_400_000;

/** Whether a subscription's event type patterns match a type ("workflow.*", "*", exact; none = all). */
export function matchesEventType(patterns: string[], type: string): boolean {
  if (patterns.length === 0) return true;
  return patterns.some(
    (p) => p === "*" || p === type || (p.endsWith(".*") && type.startsWith(p.slice(0, -1))),
  );
}

/**
 * The notifications service: SMS and email to customers through the injected
 * senders, a per-workflow history of what was sent (with the provider's
 * delivery status), and signed webhooks to businesses with a retrying,
 * ordered dispatcher (started here; `close()` it). Recipients and bodies are
 * stored but never logged.
 */
export function createNotificationsService(deps: NotificationsServiceDeps): NotificationsServiceHandle {
  const { sql } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger({ service: "notifications" });
  const dispatcher = new WebhookDispatcher(sql, log, clock, deps.webhooks);
  const now = () => new Date(clock.now());

  const ledger = new MessageLedger(sql, clock);

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

  type AdminRpcs =
    | "rotateWebhookSecret"
    | "suspendWebhookSubscription"
    | "resumeWebhookSubscription"
    | "listEvents";
  const impl: Omit<NotificationsServiceServer, AdminRpcs> &
    Partial<Pick<NotificationsServiceServer, AdminRpcs>> = {
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
        async (tx) => {
          const [optedOut] = await tx`select 1 from notifications.sms_opt_outs where phone = ${req.to}`;
          if (optedOut) {
            throw new FailedPreconditionError(
              "recipient_opted_out",
              "the recipient has opted out of SMS (replied STOP)",
            );
          }
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
      );
      log.info("sms sent", {
        business_id: req.businessId,
        workflow_id: req.workflowId,
        notification_id: row.id,
        serial: row.serial,
        origin,
        status: row.status,
      });
      return { notification: notificationFromRow(row) };
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
        async () => {},
        async () => {
          const sent = await inSpan(
            `email.send ${deps.email.provider}`,
            { "messaging.system": deps.email.provider },
            () => deps.email.send({ to: req.to, subject: req.subject, text: req.text, html: req.html }),
            SpanKind.CLIENT,
          );
          countNotificationSent("email", deps.email.provider);
          return sent;
        },
      );
      log.info("email sent", {
        business_id: req.businessId,
        workflow_id: req.workflowId,
        notification_id: row.id,
        serial: row.serial,
        origin,
        status: row.status,
      });
      return { notification: notificationFromRow(row) };
    }),

    publishEvent: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      if (!EVENT_TYPE.test(req.type) || req.type.length > 100) {
        v.add("type", "must be a dotted lower-case event type such as workflow.completed");
      }
      if (req.workflowId) v.id("workflow_id", req.workflowId, "wf");
      let payload: unknown;
      if (req.payloadJson.length > 256_000) v.add("payload_json", "must be at most 256000 characters");
      else {
        try {
          payload = req.payloadJson ? JSON.parse(req.payloadJson) : {};
          if (!payload || typeof payload !== "object" || Array.isArray(payload)) {
            v.add("payload_json", "must be a JSON object");
          }
        } catch {
          v.add("payload_json", "must be valid JSON");
        }
      }
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      const { idempotencyKey, ...request } = req;
      const res = await idempotent(
        sql,
        {
          schema: "notifications",
          businessId: req.businessId,
          key: idempotencyKey,
          method: "PublishEvent",
          request,
          codec: PublishEventResponse,
        },
        async (tx) => {
          const at = now();
          const eventId = newId("evt", clock.now());
          await tx`insert into notifications.events (id, business_id, type, workflow_id, payload, created_at)
            values (${eventId}, ${req.businessId}, ${req.type}, ${req.workflowId}, ${tx.json(payload as never)}, ${at})`;
          const subs = await tx<{ id: string; event_types: string[] }[]>`
            select id, event_types from notifications.webhook_subscriptions
            where business_id = ${req.businessId} and deleted_at is null order by id`;
          let deliveries = 0;
          for (const s of subs) {
            if (!matchesEventType(s.event_types, req.type)) continue;
            await tx`insert into notifications.deliveries
                (id, event_id, subscription_id, business_id, workflow_id, status, next_attempt_at, created_at)
              values (${newId("dlv", clock.now())}, ${eventId}, ${s.id}, ${req.businessId}, ${req.workflowId},
                      'pending', ${at}, ${at})`;
            deliveries++;
          }
          return { eventId, deliveries };
        },
      );
      log.info("event published", {
        business_id: req.businessId,
        event_id: res.eventId,
        type: req.type,
        deliveries: res.deliveries,
      });
      if (res.deliveries > 0) dispatcher.kick();
      return res;
    }),

    createWebhookSubscription: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      checkWebhookUrl(v, req.url, deps.webhooks?.allowInsecureUrls);
      checkEventTypes(v, req.eventTypes);
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      const { idempotencyKey, ...request } = req;
      return idempotent(
        sql,
        {
          schema: "notifications",
          businessId: req.businessId,
          key: idempotencyKey,
          method: "CreateWebhookSubscription",
          request,
          codec: CreateWebhookSubscriptionResponse,
        },
        async (tx) => {
          const secret = `whsec_${newSecret(32)}`;
          const [row] = await tx<SubscriptionRow[]>`
            insert into notifications.webhook_subscriptions (id, business_id, url, event_types, secret, created_at)
            values (${newId("whs", clock.now())}, ${req.businessId}, ${req.url}, ${req.eventTypes}, ${secret}, ${now()})
            returning ${tx.unsafe(SUB_COLUMNS)}`;
          log.info("webhook subscription created", { business_id: req.businessId, subscription_id: row!.id });
          return { subscription: subscriptionFromRow(row!), secret };
        },
      );
    }),

    listWebhookSubscriptions: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.throwIfAny();
      const rows = await sql<SubscriptionRow[]>`
        select ${sql.unsafe(SUB_COLUMNS)} from notifications.webhook_subscriptions
        where business_id = ${req.businessId} and deleted_at is null order by id`;
      return { subscriptions: rows.map(subscriptionFromRow) };
    }),

    deleteWebhookSubscription: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("subscription_id", req.subscriptionId, "whs");
      v.throwIfAny();
      const rows = await sql`
        update notifications.webhook_subscriptions set deleted_at = coalesce(deleted_at, ${now()})
        where id = ${req.subscriptionId} and business_id = ${req.businessId} returning id`;
      if (rows.length === 0) throw new NotFoundError("webhook subscription", req.subscriptionId);
      await sql`update notifications.deliveries set status = 'failed', last_error = 'subscription deleted'
        where subscription_id = ${req.subscriptionId} and status = 'pending'`;
      return {};
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

    listDeliveries: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      if (req.eventId) v.id("event_id", req.eventId, "evt");
      if (!Number.isInteger(req.pageSize) || req.pageSize < 0 || req.pageSize > 500)
        v.add("page_size", "must be 0 (the default) to 500");
      v.throwIfAny();
      const limit = Math.min(req.pageSize || 50, 500);
      const rows = await sql<DeliveryRow[]>`
        select d.*, e.type from notifications.deliveries d join notifications.events e on e.id = d.event_id
        where d.business_id = ${req.businessId} and (${req.eventId}::text = '' or d.event_id = ${req.eventId})
        order by d.seq desc limit ${limit}`;
      return { deliveries: rows.map(deliveryFromRow) };
    }),

    redeliver: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      v.id("delivery_id", req.deliveryId, "dlv");
      v.throwIfAny();
      const [row] = await sql<DeliveryRow[]>`
        with u as (
          update notifications.deliveries
          set status = 'pending', next_attempt_at = ${now()}, lease_until = null, lease_owner = null
          where id = ${req.deliveryId} and business_id = ${req.businessId} returning *)
        select u.*, e.type from u join notifications.events e on e.id = u.event_id`;
      if (!row) throw new NotFoundError("delivery", req.deliveryId);
      dispatcher.kick();
      return { delivery: deliveryFromRow(row) };
    }),
  };

  dispatcher.start();

  async function loadSubscription(businessId: string, id: string): Promise<WebhookSubscription> {
    const [row] = await sql<SubscriptionRow[]>`
      select ${sql.unsafe(SUB_COLUMNS)} from notifications.webhook_subscriptions
      where id = ${id} and business_id = ${businessId} and deleted_at is null`;
    if (!row) throw new NotFoundError("webhook subscription", id);
    return subscriptionFromRow(row, clock.now());
  }

  function subscriptionIds(v: Violations, businessId: string, id: string): void {
    v.id("business_id", businessId, "biz");
    v.id("subscription_id", id, "whs");
  }

  impl.rotateWebhookSecret = unary(async (req) => {
    const v = new Violations();
    subscriptionIds(v, req.businessId, req.subscriptionId);
    if (req.overlapSeconds < 0 || req.overlapSeconds > 7 * 86_400)
      v.add("overlap_seconds", "must be between 0 (24 hours) and 604800 (7 days)");
    v.idempotencyKey("idempotency_key", req.idempotencyKey);
    v.throwIfAny();
    const overlap = (req.overlapSeconds || 86_400) * 1000;
    const { idempotencyKey, ...request } = req;
    return idempotent(
      sql,
      {
        schema: "notifications",
        businessId: req.businessId,
        key: idempotencyKey,
        method: "RotateWebhookSecret",
        request,
        codec: RotateWebhookSecretResponse,
      },
      async (tx) => {
        const secret = `whsec_${newSecret(32)}`;
        const [row] = await tx<SubscriptionRow[]>`
          update notifications.webhook_subscriptions
          set previous_secret = secret, previous_secret_expires_at = ${new Date(clock.now() + overlap)},
              secret = ${secret}
          where id = ${req.subscriptionId} and business_id = ${req.businessId} and deleted_at is null
          returning ${tx.unsafe(SUB_COLUMNS)}`;
        if (!row) throw new NotFoundError("webhook subscription", req.subscriptionId);
        log.info("webhook secret rotated", { business_id: req.businessId, subscription_id: row.id });
        return { subscription: subscriptionFromRow(row, clock.now()), secret };
      },
    );
  });

  impl.suspendWebhookSubscription = unary(async (req) => {
    const v = new Violations();
    subscriptionIds(v, req.businessId, req.subscriptionId);
    v.text("reason", req.reason, { max: 500, optional: true });
    v.throwIfAny();
    const rows = await sql`update notifications.webhook_subscriptions
      set status = 'suspended', status_reason = ${req.reason.trim() || "suspended by the business"}
      where id = ${req.subscriptionId} and business_id = ${req.businessId} and deleted_at is null returning id`;
    if (rows.length === 0) throw new NotFoundError("webhook subscription", req.subscriptionId);
    log.info("webhook subscription suspended", {
      business_id: req.businessId,
      subscription_id: req.subscriptionId,
    });
    return { subscription: await loadSubscription(req.businessId, req.subscriptionId) };
  });

  impl.resumeWebhookSubscription = unary(async (req) => {
    const v = new Violations();
    subscriptionIds(v, req.businessId, req.subscriptionId);
    v.throwIfAny();
    const rows = await sql`update notifications.webhook_subscriptions
      set status = 'active', status_reason = '', consecutive_failures = 0
      where id = ${req.subscriptionId} and business_id = ${req.businessId} and deleted_at is null returning id`;
    if (rows.length === 0) throw new NotFoundError("webhook subscription", req.subscriptionId);
    await sql`update notifications.deliveries set next_attempt_at = ${now()}
      where subscription_id = ${req.subscriptionId} and status = 'pending'`;
    log.info("webhook subscription resumed", {
      business_id: req.businessId,
      subscription_id: req.subscriptionId,
    });
    dispatcher.kick();
    return { subscription: await loadSubscription(req.businessId, req.subscriptionId) };
  });

  impl.listEvents = unary(async (req) => {
    const v = new Violations();
    v.id("business_id", req.businessId, "biz");
    if (req.type && !EVENT_PATTERN.test(req.type))
      v.add("type", "must be an event type or a family like transaction.*");
    if (req.workflowId) v.id("workflow_id", req.workflowId, "wf");
    v.page(req.page, "evt");
    v.throwIfAny();
    const size = req.page?.pageSize ?? 0;
    const token = req.page?.pageToken ?? "";
    const limit = Math.min(size || 50, 500);
    const since = new Date(clock.now() - EVENT_RETENTION_MS);
    const type = req.type === "*" ? "" : req.type;
    const family = type.endsWith(".*") ? `${type.slice(0, -1)}%` : "";
    const rows = await sql<
      {
        id: string;
        business_id: string;
        type: string;
        workflow_id: string;
        payload: unknown;
        created_at: Date;
      }[]
    >`select * from notifications.events
      where business_id = ${req.businessId} and created_at >= ${since}
        and (${type}::text = '' or (${family}::text <> '' and type like ${family}) or type = ${type})
        and (${req.workflowId}::text = '' or workflow_id = ${req.workflowId})
        and (${token}::text = '' or id < ${token})
      order by id desc limit ${limit + 1}`;
    const page = rows.slice(0, limit);
    const events: WebhookEvent[] = page.map((r) => ({
      id: r.id,
      businessId: r.business_id,
      type: r.type,
      workflowId: r.workflow_id,
      payloadJson: JSON.stringify(r.payload),
      createdAt: r.created_at,
    }));
    return { events, nextPageToken: rows.length > limit ? (page.at(-1)?.id ?? "") : "" };
  });

  return {
    handleInboundSms: (form) =>
      handleInboundSms({ sql, sms: deps.sms, log, now, helpReply: deps.smsHelpReply }, form),
    recordSmsStatus: (report) => recordSmsStatus(sql, clock, report),
    definition: NotificationsServiceService as unknown as ServiceDefinition,
    implementation: impl as unknown as UntypedServiceImplementation,
    dispatcher,
    close: () => dispatcher.close(),
  };
}

function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** A client of the notifications service (insecure channel: loopback or a private network). */
export function createNotificationsClient(address: string): NotificationsServiceClient {
  return new NotificationsServiceClient(address, credentials.createInsecure());
}
