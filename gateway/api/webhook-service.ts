import { type FieldViolation, LinkflowError, ValidationError } from "../../core/index.ts";
import {
  DeleteWebhookResponse,
  type NotificationsServiceClient,
  RedeliverWebhookResponse,
  ResumeWebhookResponse,
  SuspendWebhookResponse,
  type WebhookServiceServer,
} from "../../proto/index.ts";
import { callOrThrow } from "../../services/grpc/index.ts";
import { internalKey, type Rpc } from "./rpc.ts";

function check(fields: Array<[string, string, RegExp, string]>): void {
  const v: FieldViolation[] = [];
  for (const [field, value, re, what] of fields) {
    if (!value) v.push({ field, description: "is required" });
    else if (!re.test(value)) v.push({ field, description: `must be ${what}` });
  }
  if (v.length > 0) throw new ValidationError(v);
}

/** The internal service nests paging under `page`; this API's requests have the fields at their top level. */
async function flatPage<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof LinkflowError && err.violations.length > 0)
      throw new ValidationError(err.violations.map((v) => ({ ...v, field: v.field.replace(/^page\./, "") })));
    throw err;
  }
}

const SUB = /^whs_[0-9a-z]{1,60}$/;
const DLV = /^dlv_[0-9a-z]{1,60}$/;
const subscription = (id: string) => check([["subscription_id", id, SUB, "a subscription id like whs_…"]]);

/** The public WebhookService over the notifications service, scoped to the caller's business. */
export function webhookServiceImpl(deps: {
  rpc: Rpc;
  notifications: NotificationsServiceClient;
}): WebhookServiceServer {
  const { rpc, notifications: n } = deps;
  return {
    createWebhook: rpc.mutation("CreateWebhook", null, async (req, ctx) => {
      const res = await callOrThrow(
        n,
        "createWebhookSubscription",
        {
          businessId: ctx.tenant.businessId,
          url: req.url,
          eventTypes: req.eventTypes,
          idempotencyKey: internalKey("CreateWebhook", req.idempotencyKey),
        },
        ctx.callOpts(),
      );
      return { subscription: res.subscription, secret: res.secret };
    }),
    listWebhooks: rpc.unary("ListWebhooks", async (_req, ctx) => ({
      subscriptions: (
        await callOrThrow(
          n,
          "listWebhookSubscriptions",
          { businessId: ctx.tenant.businessId },
          ctx.callOpts(),
        )
      ).subscriptions,
    })),
    deleteWebhook: rpc.mutation("DeleteWebhook", DeleteWebhookResponse, async (req, ctx) => {
      subscription(req.subscriptionId);
      await callOrThrow(
        n,
        "deleteWebhookSubscription",
        { businessId: ctx.tenant.businessId, subscriptionId: req.subscriptionId },
        ctx.callOpts(),
      );
      return {};
    }),
    rollWebhookSecret: rpc.mutation("RollWebhookSecret", null, async (req, ctx) => {
      subscription(req.subscriptionId);
      const res = await callOrThrow(
        n,
        "rotateWebhookSecret",
        {
          businessId: ctx.tenant.businessId,
          subscriptionId: req.subscriptionId,
          overlapSeconds: req.overlapSeconds,
          idempotencyKey: internalKey("RollWebhookSecret", req.idempotencyKey),
        },
        ctx.callOpts(),
      );
      return { subscription: res.subscription, secret: res.secret };
    }),
    suspendWebhook: rpc.mutation("SuspendWebhook", SuspendWebhookResponse, async (req, ctx) => {
      subscription(req.subscriptionId);
      if ((req.reason?.length ?? 0) > 500)
        throw new ValidationError([{ field: "reason", description: "must be at most 500 characters" }]);
      const res = await callOrThrow(
        n,
        "suspendWebhookSubscription",
        { businessId: ctx.tenant.businessId, subscriptionId: req.subscriptionId, reason: req.reason },
        ctx.callOpts(),
      );
      return { subscription: res.subscription };
    }),
    resumeWebhook: rpc.mutation("ResumeWebhook", ResumeWebhookResponse, async (req, ctx) => {
      subscription(req.subscriptionId);
      const res = await callOrThrow(
        n,
        "resumeWebhookSubscription",
        { businessId: ctx.tenant.businessId, subscriptionId: req.subscriptionId },
        ctx.callOpts(),
      );
      return { subscription: res.subscription };
    }),
    listWebhookEvents: rpc.unary("ListWebhookEvents", async (req, ctx) => {
      const v: FieldViolation[] = [];
      if (req.pageSize < 0 || req.pageSize > 500)
        v.push({ field: "page_size", description: "must be 0 to 500" });
      if (req.workflowId && !/^wf_[0-9a-z]{26}$/.test(req.workflowId))
        v.push({ field: "workflow_id", description: "must be a workflow id like wf_…" });
      if ((req.type?.length ?? 0) > 100)
        v.push({ field: "type", description: "must be at most 100 characters" });
      if (v.length > 0) throw new ValidationError(v);
      const res = await flatPage(
        callOrThrow(
          n,
          "listEvents",
          {
            businessId: ctx.tenant.businessId,
            type: req.type,
            workflowId: req.workflowId,
            page: { pageSize: req.pageSize, pageToken: req.pageToken },
          },
          ctx.callOpts(),
        ),
      );
      return { events: res.events, nextPageToken: res.nextPageToken };
    }),
    listWebhookDeliveries: rpc.unary("ListWebhookDeliveries", async (req, ctx) => {
      const v: FieldViolation[] = [];
      if (req.pageSize < 0 || req.pageSize > 500)
        v.push({ field: "page_size", description: "must be 0 to 500" });
      if (req.eventId && !/^evt_[0-9a-z]{1,60}$/.test(req.eventId))
        v.push({ field: "event_id", description: "must be an event id like evt_…" });
      if (v.length > 0) throw new ValidationError(v);
      const res = await callOrThrow(
        n,
        "listDeliveries",
        { businessId: ctx.tenant.businessId, eventId: req.eventId, pageSize: req.pageSize },
        ctx.callOpts(),
      );
      return { deliveries: res.deliveries };
    }),
    redeliverWebhook: rpc.mutation("RedeliverWebhook", RedeliverWebhookResponse, async (req, ctx) => {
      check([["delivery_id", req.deliveryId, DLV, "a delivery id like dlv_…"]]);
      const res = await callOrThrow(
        n,
        "redeliver",
        { businessId: ctx.tenant.businessId, deliveryId: req.deliveryId },
        ctx.callOpts(),
      );
      return { delivery: res.delivery };
    }),
  };
}
