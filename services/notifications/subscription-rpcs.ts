import { NotFoundError, newId, newSecret } from "../../core/index.ts";
import {
  CreateWebhookSubscriptionResponse,
  type NotificationsServiceServer,
  RotateWebhookSecretResponse,
  type WebhookSubscription,
} from "../../proto/index.ts";
import { idempotentRequest, unary, Violations } from "../grpc/index.ts";
import type { RpcContext } from "./context.ts";
import { SUB_COLUMNS, type SubscriptionRow, subscriptionFromRow } from "./rows.ts";
import { checkEventTypes, checkWebhookUrl } from "./validation.ts";

type SubscriptionRpcs =
  | "createWebhookSubscription"
  | "listWebhookSubscriptions"
  | "deleteWebhookSubscription"
  | "rotateWebhookSecret"
  | "suspendWebhookSubscription"
  | "resumeWebhookSubscription";

/** Webhook endpoints: create, list, delete, rotate the secret, suspend and resume. */
export function subscriptionRpcs(ctx: RpcContext): Pick<NotificationsServiceServer, SubscriptionRpcs> {
  const { sql, clock, log, now, dispatcher, deps, secrets } = ctx;

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

  return {
    createWebhookSubscription: unary(async (req) => {
      const v = new Violations();
      v.id("business_id", req.businessId, "biz");
      checkWebhookUrl(v, req.url, deps.webhooks?.allowInsecureUrls);
      checkEventTypes(v, req.eventTypes);
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      return idempotentRequest(
        sql,
        "notifications",
        req,
        {
          method: "CreateWebhookSubscription",
          codec: secrets.replayCodec(CreateWebhookSubscriptionResponse),
        },
        async (tx) => {
          const secret = `whsec_${newSecret(32)}`;
          const id = newId("whs", clock.now());
          const [row] = await tx<SubscriptionRow[]>`
            insert into notifications.webhook_subscriptions (id, business_id, url, event_types, secret, created_at)
            values (${id}, ${req.businessId}, ${req.url}, ${req.eventTypes}, ${secrets.toColumn(id, secret)}, ${now()})
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
    rotateWebhookSecret: unary(async (req) => {
      const v = new Violations();
      subscriptionIds(v, req.businessId, req.subscriptionId);
      if (req.overlapSeconds < 0 || req.overlapSeconds > 7 * 86_400)
        v.add("overlap_seconds", "must be between 0 (24 hours) and 604800 (7 days)");
      v.idempotencyKey("idempotency_key", req.idempotencyKey);
      v.throwIfAny();
      const overlap = (req.overlapSeconds || 86_400) * 1000;
      return idempotentRequest(
        sql,
        "notifications",
        req,
        { method: "RotateWebhookSecret", codec: secrets.replayCodec(RotateWebhookSecretResponse) },
        async (tx) => {
          const secret = `whsec_${newSecret(32)}`;
          const [row] = await tx<SubscriptionRow[]>`
            update notifications.webhook_subscriptions
            set previous_secret = secret, previous_secret_expires_at = ${new Date(clock.now() + overlap)},
                secret = ${secrets.toColumn(req.subscriptionId, secret)}
            where id = ${req.subscriptionId} and business_id = ${req.businessId} and deleted_at is null
            returning ${tx.unsafe(SUB_COLUMNS)}`;
          if (!row) throw new NotFoundError("webhook subscription", req.subscriptionId);
          log.info("webhook secret rotated", { business_id: req.businessId, subscription_id: row.id });
          return { subscription: subscriptionFromRow(row, clock.now()), secret };
        },
      );
    }),
    suspendWebhookSubscription: unary(async (req) => {
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
    }),
    resumeWebhookSubscription: unary(async (req) => {
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
    }),
  };
}
