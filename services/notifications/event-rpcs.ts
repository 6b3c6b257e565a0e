import { NotFoundError } from "../../core/index.ts";
import type { NotificationsServiceServer, Event as WebhookEvent } from "../../proto/index.ts";
import { unary, Violations } from "../grpc/index.ts";
import type { RpcContext } from "./context.ts";
import { publishEvent } from "./publish.ts";
import { type DeliveryRow, deliveryFromRow } from "./rows.ts";
import { EVENT_PATTERN, EVENT_TYPE } from "./validation.ts";

const EVENT_RETENTION_MS = 30 * 86_400_000;

/** PublishEvent, the 30-day event listing, the delivery log and manual redelivery. */
export function eventRpcs(
  ctx: RpcContext,
): Pick<NotificationsServiceServer, "publishEvent" | "listEvents" | "listDeliveries" | "redeliver"> {
  const { sql, clock, log, now, dispatcher } = ctx;
  return {
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
      const res = await publishEvent(sql, clock, {
        businessId: req.businessId,
        type: req.type,
        workflowId: req.workflowId,
        payload,
        idempotencyKey,
        request,
      });
      log.info("event published", {
        business_id: req.businessId,
        event_id: res.eventId,
        type: req.type,
        deliveries: res.deliveries,
      });
      if (res.deliveries > 0) dispatcher.kick();
      return res;
    }),
    listEvents: unary(async (req) => {
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
}
