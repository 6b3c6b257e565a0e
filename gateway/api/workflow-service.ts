import { createHash } from "node:crypto";
import type { EventEmitter } from "node:events";
import { status } from "@grpc/grpc-js";
import { type FieldViolation, LinkflowError, ValidationError } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  CancelWorkflowResponse,
  type Customer,
  ExtendExpiryResponse,
  type NotificationsServiceClient,
  notificationOriginToJSON,
  notificationStatusToJSON,
  ResendLinkResponse,
  type WorkflowServiceServer,
  WorkflowStatus,
} from "../../proto/index.ts";
import { callOrThrow } from "../../services/grpc/index.ts";
import type { WorkflowFilter, WorkflowQueries } from "../../services/workflows/index.ts";
import {
  FINAL_STATUSES,
  type WorkflowStatus as InternalStatus,
  type Workflows,
} from "../../services/workflows/index.ts";
import { channelOf, requestedChannel, toEventMessage, toWorkflowMessage } from "./convert.ts";
import type { Rpc } from "./rpc.ts";

const WF_ID = /^wf_[0-9a-z]{26}$/;
const CUS_ID = /^cus_[0-9A-Za-z_]{1,60}$/;
const WATCH_POLL_MS = 200;

function requireWorkflowId(id: string): string {
  if (!WF_ID.test(id ?? "")) {
    throw new ValidationError([{ field: "workflow_id", description: "must be a workflow id like wf_…" }]);
  }
  return id;
}

function durationMs(d: { seconds: number; nanos: number } | undefined): number | undefined {
  return d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : undefined;
}

const STATUS_NAMES: Partial<Record<WorkflowStatus, InternalStatus>> = {
  [WorkflowStatus.WORKFLOW_STATUS_CREATED]: "created",
  [WorkflowStatus.WORKFLOW_STATUS_LINK_SENT]: "link_sent",
  [WorkflowStatus.WORKFLOW_STATUS_OPENED]: "opened",
  [WorkflowStatus.WORKFLOW_STATUS_IN_PROGRESS]: "in_progress",
  [WorkflowStatus.WORKFLOW_STATUS_COMPLETED]: "completed",
  [WorkflowStatus.WORKFLOW_STATUS_DECLINED]: "declined",
  [WorkflowStatus.WORKFLOW_STATUS_EXPIRED]: "expired",
  [WorkflowStatus.WORKFLOW_STATUS_CANCELLED]: "cancelled",
  [WorkflowStatus.WORKFLOW_STATUS_FAILED]: "failed",
};

interface ListRequest {
  pageSize: number;
  pageToken: string;
  statuses: WorkflowStatus[];
  customerId: string;
  externalId: string;
  templateName: string;
  templateVersion?: number;
  createdAfter?: Date | undefined;
  createdBefore?: Date | undefined;
  query?: string;
}

/** Validates a list request into a filter, page size and cursor; the token is bound to the filter. */
function parseList(req: ListRequest) {
  const v: FieldViolation[] = [];
  if (req.pageSize < 0 || req.pageSize > 500) v.push({ field: "page_size", description: "must be 0 to 500" });
  const statuses: InternalStatus[] = [];
  for (const s of req.statuses ?? []) {
    const name = STATUS_NAMES[s];
    if (name) statuses.push(name);
    else v.push({ field: "statuses", description: `${s} is not a workflow status` });
  }
  if (req.customerId && !CUS_ID.test(req.customerId))
    v.push({ field: "customer_id", description: "must be a customer id like cus_…" });
  if ((req.externalId?.length ?? 0) > 255)
    v.push({ field: "external_id", description: "must be at most 255 characters" });
  if ((req.templateName?.length ?? 0) > 100)
    v.push({ field: "template_name", description: "must be at most 100 characters" });
  if ((req.templateVersion ?? 0) < 0)
    v.push({ field: "template_version", description: "must be 0 (all) or a version" });
  if (req.templateVersion && !req.templateName)
    v.push({ field: "template_version", description: "needs template_name" });
  if (req.createdAfter && req.createdBefore && req.createdAfter >= req.createdBefore)
    v.push({ field: "created_before", description: "must be later than created_after" });
  if ((req.query?.length ?? 0) > 200)
    v.push({ field: "query", description: "must be at most 200 characters" });
  const filter: WorkflowFilter = {
    ...(statuses.length ? { statuses } : {}),
    ...(req.customerId ? { customerId: req.customerId } : {}),
    ...(req.externalId ? { externalId: req.externalId } : {}),
    ...(req.templateName ? { templateName: req.templateName } : {}),
    ...(req.templateVersion ? { templateVersion: req.templateVersion } : {}),
    ...(req.createdAfter ? { createdAfter: req.createdAfter } : {}),
    ...(req.createdBefore ? { createdBefore: req.createdBefore } : {}),
    ...(req.query?.trim() ? { query: req.query.trim() } : {}),
  };
  const fingerprint = createHash("sha256").update(JSON.stringify(filter)).digest("base64url").slice(0, 12);
  let after: { createdAt: string; id: string } | undefined;
  if (req.pageToken) {
    try {
      const t = JSON.parse(Buffer.from(req.pageToken, "base64url").toString("utf8")) as Record<
        string,
        unknown
      >;
      if (
        typeof t.c !== "string" ||
        typeof t.i !== "string" ||
        t.f !== fingerprint ||
        Number.isNaN(Date.parse(t.c))
      )
        throw new Error("bad token");
      after = { createdAt: t.c, id: t.i };
    } catch {
      v.push({
        field: "page_token",
        description: "is not a token from a previous page of this same listing",
      });
    }
  }
  if (v.length > 0) throw new ValidationError(v);
  const token = (next?: { createdAt: string; id: string }) =>
    next
      ? Buffer.from(JSON.stringify({ c: next.createdAt, i: next.id, f: fingerprint })).toString("base64url")
      : "";
  return { filter, pageSize: req.pageSize || 50, after, token };
}

/** Waits `ms`, or less when the call is cancelled or the server closes; leaves no timer or listener behind. */
function sleep(ms: number, call: EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      call.removeListener("cancelled", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    call.once("cancelled", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The business a workflow belongs to, from its first journal event. */
function ownerOf(history: { event: { type: string } }[]): string | undefined {
  const created = history.find((h) => h.event.type === "workflow.created")?.event as
    | { businessId?: string }
    | undefined;
  return created?.businessId;
}

/** A customer's phone and email: an individual's own, or a business's primary contact's. */
function contactOf(c: Customer | undefined): { phone: string; email: string } {
  const p = c?.profile;
  const contact = p?.$case === "individual" ? p.value : p?.value.primaryContact;
  return { phone: contact?.phone ?? "", email: contact?.email ?? "" };
}

export interface WorkflowServiceDeps {
  workflows: Workflows;
  /** Resolves CreateWorkflow's customer_id within the tenant. */
  accounts: AccountsServiceClient;
  notifications: NotificationsServiceClient;
  rpc: Rpc;
  queries?: WorkflowQueries;
}

/** The public WorkflowService: authenticates, validates, then goes through the workflows service. */
export function workflowServiceImpl(deps: WorkflowServiceDeps): WorkflowServiceServer {
  const { workflows, rpc } = deps;
  const list = async (req: ListRequest, scope: string[]) => {
    const p = parseList(req);
    if (!deps.queries) {
      throw new LinkflowError("unimplemented", "listing workflows is not available on this node", {
        grpcStatus: status.UNIMPLEMENTED,
      });
    }
    const page = await deps.queries.list(scope, p.filter, p.pageSize, p.after);
    return { workflows: page.workflows.map(toWorkflowMessage), nextPageToken: p.token(page.next) };
  };

  return {
    // Workflows.create deduplicates on the key itself; the response holds the customer's link, so it is not stored here.
    createWorkflow: rpc.mutation("CreateWorkflow", null, async (req, ctx) => {
      const { tenant } = ctx;
      // What the workflows service cannot see: an unknown enum number reads as "unspecified" there.
      const v: FieldViolation[] = [];
      if (req.channel && requestedChannel(req.channel) === undefined)
        v.push({ field: "channel", description: `${req.channel} is not a channel` });
      if (req.customerId && !CUS_ID.test(req.customerId))
        v.push({ field: "customer_id", description: "must be a customer id like cus_…" });
      if (v.length > 0) throw new ValidationError(v);
      let phone = req.customerPhone;
      let email = req.customerEmail;
      if (req.customerId) {
        // The customer must be this business's (another tenant's answers NOT_FOUND) ...
        const { customer } = await callOrThrow(
          deps.accounts,
          "getCustomer",
          { businessId: tenant.businessId, customerId: req.customerId },
          ctx.callOpts(),
        );
        // ... and, unless the request says otherwise, the link goes to its own phone and email.
        if (!phone && !email) ({ phone, email } = contactOf(customer));
      }
      const { workflow, linkUrl } = await workflows.create(tenant, {
        templateName: req.templateName,
        templateVersion: req.templateVersion,
        inputs: req.inputs,
        customerPhone: phone,
        customerEmail: email,
        customerId: req.customerId,
        channel: requestedChannel(req.channel),
        externalId: req.externalId,
        memo: req.memo,
        expiresInMs: durationMs(req.expiresIn),
        idempotencyKey: req.idempotencyKey || undefined,
      });
      return { workflow: toWorkflowMessage(workflow), linkUrl };
    }),
    getWorkflow: rpc.unary("GetWorkflow", async (req, { tenant }) => ({
      workflow: toWorkflowMessage(await workflows.get(tenant, requireWorkflowId(req.workflowId))),
    })),
    getWorkflowLink: rpc.unary("GetWorkflowLink", async (req, { tenant }) => {
      const id = requireWorkflowId(req.workflowId);
      const v = await workflows.get(tenant, id);
      if (FINAL_STATUSES.has(v.status)) {
        throw new LinkflowError("workflow_not_active", `the workflow is ${v.status}`, {
          grpcStatus: status.FAILED_PRECONDITION,
        });
      }
      return { linkUrl: await workflows.link(tenant, id), expireAt: new Date(v.expireAt) };
    }),
    resendLink: rpc.mutation("ResendLink", ResendLinkResponse, async (req, { tenant }) => {
      const id = requireWorkflowId(req.workflowId);
      if (req.channel) {
        if (requestedChannel(req.channel) === undefined)
          throw new ValidationError([{ field: "channel", description: `${req.channel} is not a channel` }]);
        // The workflow resends on its own channel; refuse rather than silently ignore another one.
        if (channelOf((await workflows.get(tenant, id)).channels) !== req.channel) {
          throw new ValidationError([
            { field: "channel", description: "must be unspecified or the workflow's own channel" },
          ]);
        }
      }
      const v = await workflows.resend(
        tenant,
        id,
        `api_key:${tenant.keyId}`,
        req.idempotencyKey ? `resend:${req.idempotencyKey}` : undefined,
      );
      return { workflow: toWorkflowMessage(v) };
    }),
    extendExpiry: rpc.mutation("ExtendExpiry", ExtendExpiryResponse, async (req, { tenant }) => {
      const id = requireWorkflowId(req.workflowId);
      let expireAt = req.expireAt?.getTime();
      if (expireAt === undefined) {
        const by = durationMs(req.extendBy);
        if (by === undefined)
          throw new ValidationError([{ field: "expire_at", description: "give expire_at or extend_by" }]);
        if (by <= 0) throw new ValidationError([{ field: "extend_by", description: "must be positive" }]);
        expireAt = (await workflows.get(tenant, id)).expireAt + by;
      }
      const v = await workflows.extend(
        tenant,
        id,
        expireAt,
        `api_key:${tenant.keyId}`,
        req.idempotencyKey ? `extend:${req.idempotencyKey}` : undefined,
      );
      return { workflow: toWorkflowMessage(v) };
    }),
    cancelWorkflow: rpc.mutation("CancelWorkflow", CancelWorkflowResponse, async (req, { tenant }) => {
      if ((req.reason?.length ?? 0) > 500) {
        throw new ValidationError([{ field: "reason", description: "must be at most 500 characters" }]);
      }
      const v = await workflows.cancel(
        tenant,
        requireWorkflowId(req.workflowId),
        `api_key:${tenant.keyId}`,
        req.reason || undefined,
        req.idempotencyKey ? `cancel:${req.idempotencyKey}` : undefined,
      );
      return { workflow: toWorkflowMessage(v) };
    }),
    listWorkflows: rpc.unary("ListWorkflows", (req, { tenant }) => list(req, tenant.scope)),
    searchWorkflows: rpc.unary("SearchWorkflows", (req, { tenant }) => list(req, tenant.scope)),
    getWorkflowHistory: rpc.unary("GetWorkflowHistory", async (req, ctx) => {
      const { tenant } = ctx;
      const id = requireWorkflowId(req.workflowId);
      const history = await workflows.history(tenant, id);
      const { notifications } = await callOrThrow(
        deps.notifications,
        "listWorkflowNotifications",
        // The workflow's own business: a parent reading a child's workflow must see the child's notifications.
        { businessId: ownerOf(history) ?? tenant.businessId, workflowId: id },
        ctx.callOpts(),
      );
      return {
        events: history.flatMap((h) => toEventMessage(h.seq, h.event) ?? []),
        notifications: notifications.map((n) => ({
          serial: n.serial,
          channel: channelOf([n.channel === 2 ? "email" : "sms"]),
          origin: notificationOriginToJSON(n.origin).replace(/^NOTIFICATION_ORIGIN_/, ""),
          sentBy: n.sentBy,
          sentAt: n.sentAt,
          status: notificationStatusToJSON(n.status).replace(/^NOTIFICATION_STATUS_/, ""),
        })),
      };
    }),
    // Polls the journal and streams events newer than the last one sent; ends
    // after the workflow reaches a final status, on cancel, or at the deadline.
    watchWorkflow: rpc.stream("WatchWorkflow", async (call, { tenant, signal }) => {
      const id = requireWorkflowId(call.request.workflowId);
      let after = call.request.afterSequence;
      if (after < 0)
        throw new ValidationError([{ field: "after_sequence", description: "must be 0 or more" }]);
      let current = await workflows.get(tenant, id);
      while (!call.cancelled && !signal.aborted) {
        // `current` was read before this journal read: if it was final, the journal holds its last event.
        const ended = FINAL_STATUSES.has(current.status);
        const fresh = (await workflows.history(tenant, id)).filter((h) => h.seq > after);
        if (fresh.length > 0) {
          current = await workflows.get(tenant, id);
          const workflow = toWorkflowMessage(current);
          for (const h of fresh) {
            if (call.cancelled) return;
            after = h.seq;
            const event = toEventMessage(h.seq, h.event);
            if (event) call.write({ event, workflow });
          }
        }
        if (ended) return;
        await sleep(WATCH_POLL_MS, call, signal);
      }
    }),
  };
}
