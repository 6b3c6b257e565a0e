import { type Metadata, type ServerUnaryCall, type sendUnaryData, status } from "@grpc/grpc-js";
import { createLogger, inServerSpan, LinkflowError, type Logger, ValidationError } from "../../core/index.ts";
import type { NotificationsServiceClient, WorkflowServiceServer } from "../../proto/index.ts";
import { callOrThrow, toServiceError } from "../../services/grpc/index.ts";
import type { Workflows } from "../../services/workflows/index.ts";
import type { ApiKeyAuthenticator } from "./auth.ts";
import { channelOf, requestedChannel, toEventMessage, toWorkflowMessage } from "./convert.ts";

const WF_ID = /^wf_[0-9a-z]{26}$/;

function requireWorkflowId(id: string): string {
  if (!WF_ID.test(id ?? "")) {
    throw new ValidationError([{ field: "workflow_id", description: "must be a workflow id like wf_…" }]);
  }
  return id;
}

function durationMs(d: { seconds: number; nanos: number } | undefined): number | undefined {
  return d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : undefined;
}

export interface WorkflowServiceDeps {
  workflows: Workflows;
  auth: ApiKeyAuthenticator;
  notifications: NotificationsServiceClient;
  log?: Logger;
}

/** The public WorkflowService: authenticates, validates, then goes through the workflows service. */
export function workflowServiceImpl(deps: WorkflowServiceDeps): WorkflowServiceServer {
  const log = deps.log ?? createLogger({ component: "gateway.api" });
  const handle =
    <Req, Res>(method: string, fn: (req: Req, md: Metadata, deadline: number) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
      const dl = call.getDeadline();
      const deadline =
        dl instanceof Date
          ? dl.getTime()
          : Number.isFinite(dl) && dl !== Infinity
            ? Number(dl)
            : Date.now() + 15_000;
      inServerSpan(method, call.metadata, () => fn(call.request, call.metadata, deadline)).then(
        (res) => cb(null, res),
        (err) => {
          if (!(err instanceof LinkflowError))
            log.error("request failed", { method, error: (err as Error)?.name });
          cb(toServiceError(err));
        },
      );
    };
  const { workflows, auth } = deps;

  return {
    createWorkflow: handle("CreateWorkflow", async (req, md) => {
      const tenant = await auth.authenticate(md);
      const { workflow, linkUrl } = await workflows.create(tenant, {
        templateName: req.templateName,
        templateVersion: req.templateVersion,
        inputs: req.inputs,
        customerPhone: req.customerPhone,
        customerEmail: req.customerEmail,
        customerId: req.customerId,
        channel: requestedChannel(req.channel),
        externalId: req.externalId,
        memo: req.memo,
        expiresInMs: durationMs(req.expiresIn),
        idempotencyKey: req.idempotencyKey || undefined,
      });
      return { workflow: toWorkflowMessage(workflow), linkUrl };
    }),
    getWorkflow: handle("GetWorkflow", async (req, md) => {
      const tenant = await auth.authenticate(md);
      return { workflow: toWorkflowMessage(await workflows.get(tenant, requireWorkflowId(req.workflowId))) };
    }),
    getWorkflowLink: handle("GetWorkflowLink", async (req, md) => {
      const tenant = await auth.authenticate(md);
      const id = requireWorkflowId(req.workflowId);
      const v = await workflows.get(tenant, id);
      if (["completed", "declined", "expired", "cancelled", "failed"].includes(v.status)) {
        throw new LinkflowError("workflow_not_active", `the workflow is ${v.status}`, {
          grpcStatus: status.FAILED_PRECONDITION,
        });
      }
      return { linkUrl: await workflows.link(tenant, id), expireAt: new Date(v.expireAt) };
    }),
    resendLink: handle("ResendLink", async (req, md) => {
      const tenant = await auth.authenticate(md);
      const v = await workflows.resend(
        tenant,
        requireWorkflowId(req.workflowId),
        `api_key:${tenant.keyId}`,
        req.idempotencyKey ? `resend:${req.idempotencyKey}` : undefined,
      );
      return { workflow: toWorkflowMessage(v) };
    }),
    extendExpiry: handle("ExtendExpiry", async (req, md) => {
      const tenant = await auth.authenticate(md);
      const id = requireWorkflowId(req.workflowId);
      let expireAt = req.expireAt?.getTime();
      if (expireAt === undefined) {
        const by = durationMs(req.extendBy);
        if (!by || by <= 0) {
          throw new ValidationError([
            { field: "expire_at", description: "give expire_at or a positive extend_by" },
          ]);
        }
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
    cancelWorkflow: handle("CancelWorkflow", async (req, md) => {
      const tenant = await auth.authenticate(md);
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
    listWorkflows: handle("ListWorkflows", async (_req, md) => {
      await auth.authenticate(md);
      throw new LinkflowError("unimplemented", "ListWorkflows is not available yet", {
        grpcStatus: status.UNIMPLEMENTED,
      });
    }),
    getWorkflowHistory: handle("GetWorkflowHistory", async (req, md) => {
      const tenant = await auth.authenticate(md);
      const id = requireWorkflowId(req.workflowId);
      const history = await workflows.history(tenant, id);
      const { notifications } = await callOrThrow(deps.notifications, "listWorkflowNotifications", {
        businessId: tenant.businessId,
        workflowId: id,
      });
      return {
        events: history.flatMap((h) => toEventMessage(h.seq, h.event) ?? []),
        notifications: notifications.map((n) => ({
          serial: n.serial,
          channel: channelOf([n.channel === 2 ? "email" : "sms"]),
          origin: String(n.origin),
          sentBy: n.sentBy,
          sentAt: n.sentAt,
          status: String(n.status),
        })),
      };
    }),
    watchWorkflow: (call) => {
      call.emit("error", { code: status.UNIMPLEMENTED, details: "WatchWorkflow is not available yet" });
    },
  };
}
