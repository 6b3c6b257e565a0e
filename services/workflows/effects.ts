import { status } from "@grpc/grpc-js";
import { LinkflowError } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  NotificationOrigin,
  type NotificationsServiceClient,
} from "../../proto/index.ts";
import type { EffectHandler } from "../../runtime/index.ts";
import { callOrThrow } from "../grpc/index.ts";
import { LINK_PLACEHOLDER } from "./behavior.ts";
import type { NotificationOrigin as Origin, Recipient } from "./model.ts";

/** Statuses after which retrying the same request cannot succeed. */
const TERMINAL = new Set<number>([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.FAILED_PRECONDITION,
  status.ALREADY_EXISTS,
  status.PERMISSION_DENIED,
  status.UNAUTHENTICATED,
  status.OUT_OF_RANGE,
]);

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof LinkflowError) {
      throw new LinkflowError(err.code, err.message, {
        grpcStatus: err.grpcStatus,
        retryable: !TERMINAL.has(err.grpcStatus),
        violations: err.violations,
      });
    }
    throw err;
  }
}

const ORIGINS: Record<Origin, NotificationOrigin> = {
  INITIAL: NotificationOrigin.NOTIFICATION_ORIGIN_INITIAL,
  MANUAL: NotificationOrigin.NOTIFICATION_ORIGIN_MANUAL,
  REMINDER: NotificationOrigin.NOTIFICATION_ORIGIN_REMINDER,
  EXPIRY: NotificationOrigin.NOTIFICATION_ORIGIN_EXPIRY,
  TRANSACTION: NotificationOrigin.NOTIFICATION_ORIGIN_TRANSACTION,
  HANDLER: NotificationOrigin.NOTIFICATION_ORIGIN_TRANSACTION,
};

export interface WorkflowEffectDeps {
  accounts: AccountsServiceClient;
  notifications: NotificationsServiceClient;
  /** The customer's link for a workflow and link version (recomputed, never stored). */
  linkFor(workflowId: string, linkVersion: number): string;
}

interface NotifyPayload {
  businessId: string;
  workflowId: string;
  to: string;
  origin: Origin;
  linkVersion: number;
  body?: string;
  subject?: string;
  text?: string;
}

/**
 * The workflow actor's effects: calls to the accounts and notifications
 * services, each carrying the runtime's idempotency key so a retried effect
 * happens once at the service.
 */
export function workflowEffects(deps: WorkflowEffectDeps): Record<string, EffectHandler> {
  const fill = (p: NotifyPayload, s: string) =>
    s.split(LINK_PLACEHOLDER).join(deps.linkFor(p.workflowId, p.linkVersion));
  return {
    "notify.sms": (payload, ctx) =>
      guarded(async () => {
        const p = payload as NotifyPayload;
        const res = await callOrThrow(deps.notifications, "sendSms", {
          businessId: p.businessId,
          workflowId: p.workflowId,
          to: p.to,
          body: fill(p, p.body ?? ""),
          origin: ORIGINS[p.origin],
          sentBy: p.origin === "MANUAL" ? "business" : "linkflow",
          idempotencyKey: ctx.idempotencyKey,
        });
        return { notificationId: res.notification?.id ?? null };
      }),
    "notify.email": (payload, ctx) =>
      guarded(async () => {
        const p = payload as NotifyPayload;
        const res = await callOrThrow(deps.notifications, "sendEmail", {
          businessId: p.businessId,
          workflowId: p.workflowId,
          to: p.to,
          subject: p.subject ?? "",
          text: fill(p, p.text ?? ""),
          html: "",
          origin: ORIGINS[p.origin],
          sentBy: p.origin === "MANUAL" ? "business" : "linkflow",
          idempotencyKey: ctx.idempotencyKey,
        });
        return { notificationId: res.notification?.id ?? null };
      }),
    "notify.business": (payload, ctx) =>
      guarded(async () => {
        const p = payload as { businessId: string; workflowId: string; type: string; data: unknown };
        const res = await callOrThrow(deps.notifications, "publishEvent", {
          businessId: p.businessId,
          type: p.type,
          payloadJson: JSON.stringify(p.data),
          workflowId: p.workflowId,
          idempotencyKey: ctx.idempotencyKey,
        });
        return { eventId: res.eventId };
      }),
    "accounts.upsertCustomer": (payload, ctx) =>
      guarded(async () => {
        const p = payload as {
          businessId: string;
          customerId?: string;
          profile: "individual" | "business";
          values: Record<string, string>;
        } & Recipient;
        const v = p.values;
        const individual = {
          firstName: v.first_name ?? "",
          lastName: v.last_name ?? "",
          email: v.email ?? p.email ?? "",
          phone: v.phone ?? p.phone ?? "",
          addresses: [],
        };
        const business = {
          dbaName: v.dba_name ?? "",
          primaryContact: {
            firstName: v.contact_first_name ?? "",
            lastName: v.contact_last_name ?? "",
            email: v.contact_email ?? p.email ?? "",
            phone: v.contact_phone ?? p.phone ?? "",
          },
          contacts: [],
          addresses: [],
        };
        const profile =
          p.profile === "business"
            ? ({ $case: "business", value: business } as const)
            : ({ $case: "individual", value: individual } as const);
        if (p.customerId) {
          const res = await callOrThrow(deps.accounts, "updateCustomer", {
            businessId: p.businessId,
            customerId: p.customerId,
            profile,
            idempotencyKey: ctx.idempotencyKey,
          } as never);
          return { customerId: (res as { customer?: { id: string } }).customer?.id ?? p.customerId };
        }
        const res = await callOrThrow(deps.accounts, "createCustomer", {
          businessId: p.businessId,
          idempotencyKey: ctx.idempotencyKey,
          profile,
          externalId: "",
        } as never);
        return { customerId: (res as { customer?: { id: string } }).customer?.id };
      }),
  };
}
