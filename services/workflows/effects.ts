import { status } from "@grpc/grpc-js";
import { LinkflowError } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  NotificationOrigin,
  type NotificationsServiceClient,
  TransactionDirection,
  TransactionMethod,
  type TransactionsServiceClient,
  transactionStatusToJSON,
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
  transactions?: TransactionsServiceClient;
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

interface ActivityBase {
  businessId: string;
  workflowId: string;
  customerId?: string;
  recipient: Recipient;
}

/**
 * The customer a step acts for: the workflow's, or, when no earlier step
 * created one, a minimal record reachable by the link's phone or email
 * (created once per workflow thanks to the idempotency key).
 */
export async function ensureCustomer(accounts: AccountsServiceClient, p: ActivityBase): Promise<string> {
  if (p.customerId) return p.customerId;
  const res = await callOrThrow(accounts, "createCustomer", {
    businessId: p.businessId,
    idempotencyKey: `${p.workflowId}:customer`,
    profile: {
      $case: "individual",
      value: {
        firstName: "Customer",
        lastName: "(via link)",
        email: p.recipient.email ?? "",
        phone: p.recipient.phone ?? "",
        addresses: [],
      },
    },
    externalId: "",
  });
  return res.customer!.id;
}

const METHODS: Record<string, TransactionMethod> = {
  push_to_card: TransactionMethod.TRANSACTION_METHOD_PUSH_TO_CARD,
  ach_credit: TransactionMethod.TRANSACTION_METHOD_ACH_CREDIT,
  ach_debit: TransactionMethod.TRANSACTION_METHOD_ACH_DEBIT,
};

/** `TRANSACTION_STATUS_PENDING` → `pending`. */
export function transactionStatusName(s: number): string {
  return transactionStatusToJSON(s)
    .replace(/^TRANSACTION_STATUS_/, "")
    .toLowerCase();
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
    "accounts.lookupCustomer": (payload) =>
      guarded(async () => {
        const p = payload as ActivityBase;
        if (!p.customerId) return { found: false };
        const { customer } = await callOrThrow(deps.accounts, "getCustomer", {
          businessId: p.businessId,
          customerId: p.customerId,
        });
        const ind = customer?.profile?.$case === "individual" ? customer.profile.value : undefined;
        return {
          found: true,
          customerId: p.customerId,
          first_name: ind?.firstName ?? "",
          last_name: ind?.lastName ?? "",
          email: ind?.email ?? "",
          phone: ind?.phone ?? "",
        };
      }),
    "accounts.recordAcceptances": (payload, ctx) =>
      guarded(async () => {
        const p = payload as ActivityBase & {
          documents: { id: string; version: string; contentHash: string; scope: string }[];
          acceptedAt: number;
          ip: string;
          userAgent: string;
        };
        const customerId = await ensureCustomer(deps.accounts, p);
        // All the step's documents in one call: recorded together or not at all.
        await callOrThrow(deps.accounts, "recordDocumentAcceptances", {
          businessId: p.businessId,
          customerId,
          documents: p.documents.map((d) => ({
            documentId: d.id,
            version: d.version,
            contentHash: d.contentHash,
            scope: d.scope,
          })),
          acceptedAt: new Date(p.acceptedAt),
          ip: p.ip,
          userAgent: p.userAgent,
          idempotencyKey: ctx.idempotencyKey,
          workflowId: p.workflowId,
        });
        return { customerId, accepted: true, acceptedAt: new Date(p.acceptedAt).toISOString() };
      }),
    "transactions.create": (payload, ctx) =>
      guarded(async () => {
        if (!deps.transactions)
          throw new LinkflowError("transactions_unavailable", "no transactions service", { retryable: true });
        const p = payload as ActivityBase & {
          financialAccountId: string;
          direction: "send" | "request";
          method: string;
          amount: { amountMinor: number; currency: string };
        };
        const customerId = await ensureCustomer(deps.accounts, p);
        const { transaction } = await callOrThrow(deps.transactions, "createTransaction", {
          businessId: p.businessId,
          customerId,
          financialAccountId: p.financialAccountId,
          direction:
            p.direction === "request"
              ? TransactionDirection.TRANSACTION_DIRECTION_REQUEST
              : TransactionDirection.TRANSACTION_DIRECTION_SEND,
          method: METHODS[p.method] ?? TransactionMethod.TRANSACTION_METHOD_UNSPECIFIED,
          amount: p.amount,
          idempotencyKey: ctx.idempotencyKey,
          workflowId: p.workflowId,
          externalId: "",
        });
        return {
          customerId,
          transactionId: transaction!.id,
          status: transactionStatusName(transaction!.status),
          amount: p.amount,
          method: p.method,
        };
      }),
  };
}
