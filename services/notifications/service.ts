import { credentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import type { TransactionSql } from "postgres";
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
  scrubLinkTokens,
  systemClock,
} from "../../core/index.ts";
import {
  CreateWebhookSubscriptionResponse,
  type Delivery,
  DeliveryStatus,
  type Notification,
  NotificationChannel,
  NotificationOrigin,
  NotificationStatus,
  NotificationsServiceClient,
  type NotificationsServiceServer,
  NotificationsServiceService,
  PublishEventResponse,
  RotateWebhookSecretResponse,
  SendEmailResponse,
  SendSmsResponse,
  type Event as WebhookEvent,
  type WebhookSubscription,
  WebhookSubscriptionStatus,
} from "../../proto/index.ts";
import { idempotent, isE164, unary, Violations } from "../grpc/index.ts";
import type { EmailSender, SmsSender } from "./senders.ts";
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
}

/** What the HTTP layer answers Twilio's inbound-message webhook with. */
export interface InboundSmsResponse {
  status: number;
  contentType: string;
  body: string;
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
  /** Stops the dispatcher loop and waits for its in-flight pass. Idempotent. Does not close senders or sql. */
  close(): Promise<void>;
}

const ORIGINS: Partial<Record<NotificationOrigin, string>> = {
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

const EVENT_TYPE = /^[a-z][a-z_]*(\.[a-z][a-z_]*)+$/;
const EVENT_PATTERN = /^(\*|[a-z][a-z_]*(\.[a-z][a-z_]*)*(\.\*)?)$/;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

interface NotificationRow {
  id: string;
  business_id: string;
  workflow_id: string;
  serial: number;
  channel: "sms" | "email";
  origin: string;
  sent_by: string;
  status: "sent" | "failed";
  provider_message_id: string;
  recipient: string;
  sent_at: Date;
}

/** "+1******4567", "a***@example.com": enough to recognise, not enough to leak. */
export function maskRecipient(to: string): string {
  const at = to.lastIndexOf("@");
  if (at > 0) return `${to[0]}***${to.slice(at)}`;
  if (to.length <= 6) return "*".repeat(to.length);
  return `${to.slice(0, 2)}${"*".repeat(to.length - 6)}${to.slice(-4)}`;
}

function notificationFromRow(r: NotificationRow): Notification {
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
    status:
      r.status === "sent"
        ? NotificationStatus.NOTIFICATION_STATUS_SENT
        : NotificationStatus.NOTIFICATION_STATUS_FAILED,
    providerMessageId: r.provider_message_id,
    sentAt: r.sent_at,
    toMasked: maskRecipient(r.recipient),
  };
}

interface SubscriptionRow {
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
const SUB_COLUMNS = `id, business_id, url, event_types, created_at, status, status_reason, consecutive_failures,
  previous_secret_expires_at`;

const SUB_STATUS = {
  active: WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_ACTIVE,
  suspended: WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_SUSPENDED,
  paused: WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_PAUSED,
} as const;

function subscriptionFromRow(r: SubscriptionRow, now = Date.now()): WebhookSubscription {
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

/** Twilio's standard opt-out, opt-in and help keywords. */
const STOP_WORDS = new Set(["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]);
const START_WORDS = new Set(["START", "UNSTOP", "YES"]);
const HELP_WORDS = new Set(["HELP", "INFO"]);
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';
const EVENT_RETENTION_MS = 30 * 86_400_000;

interface DeliveryRow {
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

function deliveryFromRow(r: DeliveryRow): Delivery {
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

/** Whether a subscription's event type patterns match a type ("workflow.*", "*", exact; none = all). */
export function matchesEventType(patterns: string[], type: string): boolean {
  if (patterns.length === 0) return true;
  return patterns.some(
    (p) => p === "*" || p === type || (p.endsWith(".*") && type.startsWith(p.slice(0, -1))),
  );
}

/**
 * The notifications service: SMS and email to customers through the injected
 * senders, a per-workflow history of what was sent, and signed webhooks to
 * businesses with a retrying, ordered dispatcher (started here; `close()` it).
 * Recipients and bodies are stored but never logged.
 */
/**
 * The history keeps what was sent minus its secrets: a customer's link token
 * and a one-time code work like passwords and are never stored in clear.
 */
export function maskSecrets(text: string): string {
  return scrubLinkTokens(text, "[token]").replace(/\b(code is )\d{4,8}\b/gi, "$1[code]");
}

export function createNotificationsService(deps: NotificationsServiceDeps): NotificationsServiceHandle {
  const { sql } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger({ service: "notifications" });
  const dispatcher = new WebhookDispatcher(sql, log, clock, deps.webhooks);
  const now = () => new Date(clock.now());

  async function record(
    tx: TransactionSql,
    n: {
      businessId: string;
      workflowId: string;
      channel: "sms" | "email";
      origin: string;
      sentBy: string;
      provider: string;
      providerMessageId: string;
      recipient: string;
      subject: string;
      body: string;
      html: string;
    },
    serial: number,
  ): Promise<Notification> {
    const [row] = await tx<NotificationRow[]>`
      insert into notifications.notifications
        (id, business_id, workflow_id, serial, channel, origin, sent_by, status, provider, provider_message_id,
         recipient, subject, body, html, sent_at)
      values (${newId("ntf", clock.now())}, ${n.businessId}, ${n.workflowId}, ${serial}, ${n.channel}, ${n.origin},
              ${n.sentBy}, 'sent', ${n.provider}, ${n.providerMessageId}, ${n.recipient}, ${n.subject}, ${maskSecrets(n.body)},
              ${maskSecrets(n.html)}, ${now()})
      returning *`;
    return notificationFromRow(row!);
  }

  /** Serializes sends per workflow and returns the next serial (0 without a workflow). */
  async function nextSerial(tx: TransactionSql, workflowId: string): Promise<number> {
    if (!workflowId) return 0;
    await tx`select pg_advisory_xact_lock(hashtext(${`linkflow.notifications.${workflowId}`}))`;
    const [row] = await tx<{ n: number }[]>`
      select coalesce(max(serial), 0)::int + 1 as n from notifications.notifications where workflow_id = ${workflowId}`;
    return row?.n ?? 1;
  }

  function common(
    v: Violations,
    req: { businessId: string; workflowId: string; origin: NotificationOrigin; sentBy: string },
  ): string {
    v.id("business_id", req.businessId, "biz");
    if (req.workflowId) v.id("workflow_id", req.workflowId, "wf");
    const origin = ORIGINS[req.origin];
    if (!origin)
      v.add("origin", "must be one of INITIAL, MANUAL, REMINDER, EXPIRY, TRANSACTION, VERIFICATION");
    v.text("sent_by", req.sentBy, { max: 100, optional: true });
    return origin ?? "";
  }

  function checkUrl(v: Violations, raw: string): void {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      v.add("url", "must be an absolute https URL");
      return;
    }
    if (raw.length > 2000) v.add("url", "must be at most 2000 characters");
    else if (url.username || url.password) v.add("url", "must not contain credentials");
    else if (url.protocol === "https:") return;
    else if (url.protocol === "http:" && (deps.webhooks?.allowInsecureUrls || LOOPBACK.has(url.hostname)))
      return;
    else v.add("url", "must be an https URL");
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
      const res = await idempotent(
        sql,
        {
          schema: "notifications",
          businessId: req.businessId,
          key: idempotencyKey,
          method: "SendSms",
          request,
          codec: SendSmsResponse,
        },
        async (tx) => {
          const [optedOut] = await tx`select 1 from notifications.sms_opt_outs where phone = ${req.to}`;
          if (optedOut) {
            throw new FailedPreconditionError(
              "recipient_opted_out",
              "the recipient has opted out of SMS (replied STOP)",
            );
          }
          const serial = await nextSerial(tx, req.workflowId);
          const sent = await deps.sms.send({ to: req.to, body: req.body });
          countNotificationSent("sms", deps.sms.provider);
          const notification = await record(
            tx,
            {
              businessId: req.businessId,
              workflowId: req.workflowId,
              channel: "sms",
              origin,
              sentBy: req.sentBy || "system",
              provider: deps.sms.provider,
              providerMessageId: sent.providerMessageId,
              recipient: req.to,
              subject: "",
              body: req.body,
              html: "",
            },
            serial,
          );
          return { notification };
        },
      );
      log.info("sms sent", {
        business_id: req.businessId,
        workflow_id: req.workflowId,
        notification_id: res.notification?.id,
        serial: res.notification?.serial,
        origin,
      });
      return res;
    }),

    sendEmail: unary(async (req) => {
      const v = new Violations();
      const origin = common(v, req);
      v.email("to", req.to);
      v.text("subject", req.subject, { max: 200 });
      if (!req.text && !req.html) v.add("text", "text or html is required");
      if (req.text.length > 100_000) v.add("text", "must be at most 100000 characters");
      if (req.html.length > 500_000) v.add("html", "must be at most 500000 characters");
      v.throwIfAny();
      const { idempotencyKey, ...request } = req;
      const res = await idempotent(
        sql,
        {
          schema: "notifications",
          businessId: req.businessId,
          key: idempotencyKey,
          method: "SendEmail",
          request,
          codec: SendEmailResponse,
        },
        async (tx) => {
          const serial = await nextSerial(tx, req.workflowId);
          const sent = await inSpan(
            `email.send ${deps.email.provider}`,
            { "messaging.system": deps.email.provider },
            () => deps.email.send({ to: req.to, subject: req.subject, text: req.text, html: req.html }),
            SpanKind.CLIENT,
          );
          countNotificationSent("email", deps.email.provider);
          const notification = await record(
            tx,
            {
              businessId: req.businessId,
              workflowId: req.workflowId,
              channel: "email",
              origin,
              sentBy: req.sentBy || "system",
              provider: deps.email.provider,
              providerMessageId: sent.providerMessageId,
              recipient: req.to,
              subject: req.subject,
              body: req.text,
              html: req.html,
            },
            serial,
          );
          return { notification };
        },
      );
      log.info("email sent", {
        business_id: req.businessId,
        workflow_id: req.workflowId,
        notification_id: res.notification?.id,
        serial: res.notification?.serial,
        origin,
      });
      return res;
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
      checkUrl(v, req.url);
      if (req.eventTypes.length > 50) v.add("event_types", "at most 50 event types");
      req.eventTypes.forEach((t: string, i: number) => {
        if (!EVENT_PATTERN.test(t))
          v.add(`event_types[${i}]`, "must be an event type, a family like workflow.*, or *");
      });
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
      if (req.pageSize < 0) v.add("page_size", "must not be negative");
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
          update notifications.deliveries set status = 'pending', next_attempt_at = ${now()}, lease_until = null
          where id = ${req.deliveryId} and business_id = ${req.businessId} returning *)
        select u.*, e.type from u join notifications.events e on e.id = u.event_id`;
      if (!row) throw new NotFoundError("delivery", req.deliveryId);
      dispatcher.kick();
      return { delivery: deliveryFromRow(row) };
    }),
  };

  dispatcher.start();

  async function handleInboundSms(form: Record<string, string>): Promise<InboundSmsResponse> {
    const from = (form.From ?? "").trim();
    const word = (form.Body ?? "").trim().split(/\s+/)[0]?.toUpperCase() ?? "";
    const ok = { status: 200, contentType: "text/xml", body: EMPTY_TWIML };
    if (!isE164(from))
      return { status: 400, contentType: "text/plain", body: "From must be an E.164 number" };
    if (STOP_WORDS.has(word)) {
      await sql`insert into notifications.sms_opt_outs (phone, keyword, opted_out_at)
        values (${from}, ${word}, ${now()}) on conflict (phone) do nothing`;
      log.info("sms opt-out", { phone: from, keyword: word });
    } else if (START_WORDS.has(word)) {
      await sql`delete from notifications.sms_opt_outs where phone = ${from}`;
      log.info("sms opt-in", { phone: from, keyword: word });
    } else if (HELP_WORDS.has(word)) {
      const reply =
        deps.smsHelpReply ??
        "Linkflow: for help, contact support@linkflow.example. Reply STOP to unsubscribe. Msg&data rates may apply.";
      await deps.sms.send({ to: from, body: reply });
      log.info("sms help answered", { phone: from });
    }
    return ok;
  }

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
    await sql`update notifications.deliveries set next_attempt_at = ${now()}, lease_until = null
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
    const size = req.page?.pageSize ?? 0;
    if (size < 0) v.add("page.page_size", "must not be negative");
    const token = req.page?.pageToken ?? "";
    if (token && !token.startsWith("evt_")) v.add("page.page_token", "is not a token from a previous page");
    v.throwIfAny();
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
    handleInboundSms,
    definition: NotificationsServiceService as unknown as ServiceDefinition,
    implementation: impl as unknown as UntypedServiceImplementation,
    dispatcher,
    close: () => dispatcher.close(),
  };
}

/** A client of the notifications service (insecure channel: loopback or a private network). */
export function createNotificationsClient(address: string): NotificationsServiceClient {
  return new NotificationsServiceClient(address, credentials.createInsecure());
}
