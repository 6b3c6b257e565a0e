import {
  Channel,
  StepStatus,
  type Workflow,
  type WorkflowEvent as WorkflowEventMessage,
  WorkflowStatus,
} from "../../proto/index.ts";
import type { WorkflowEvent, WorkflowView } from "../../services/workflows/index.ts";

const STATUS: Record<WorkflowView["status"], WorkflowStatus> = {
  created: WorkflowStatus.WORKFLOW_STATUS_CREATED,
  link_sent: WorkflowStatus.WORKFLOW_STATUS_LINK_SENT,
  opened: WorkflowStatus.WORKFLOW_STATUS_OPENED,
  in_progress: WorkflowStatus.WORKFLOW_STATUS_IN_PROGRESS,
  completed: WorkflowStatus.WORKFLOW_STATUS_COMPLETED,
  declined: WorkflowStatus.WORKFLOW_STATUS_DECLINED,
  expired: WorkflowStatus.WORKFLOW_STATUS_EXPIRED,
  cancelled: WorkflowStatus.WORKFLOW_STATUS_CANCELLED,
  failed: WorkflowStatus.WORKFLOW_STATUS_FAILED,
};

const STEP: Record<WorkflowView["steps"][number]["status"], StepStatus> = {
  pending: StepStatus.STEP_STATUS_PENDING,
  active: StepStatus.STEP_STATUS_ACTIVE,
  completed: StepStatus.STEP_STATUS_COMPLETED,
  skipped: StepStatus.STEP_STATUS_SKIPPED,
  failed: StepStatus.STEP_STATUS_FAILED,
  declined: StepStatus.STEP_STATUS_DECLINED,
};

const date = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms));

export function channelOf(channels: string[]): Channel {
  if (channels.includes("sms") && channels.includes("email")) return Channel.CHANNEL_SMS_AND_EMAIL;
  if (channels.includes("email")) return Channel.CHANNEL_EMAIL;
  return Channel.CHANNEL_SMS;
}

export function requestedChannel(c: Channel): "sms" | "email" | "sms_and_email" | undefined {
  if (c === Channel.CHANNEL_SMS) return "sms";
  if (c === Channel.CHANNEL_EMAIL) return "email";
  if (c === Channel.CHANNEL_SMS_AND_EMAIL) return "sms_and_email";
  return undefined;
}

export function toWorkflowMessage(v: WorkflowView): Workflow {
  return {
    id: v.id,
    templateName: v.templateName,
    templateVersion: v.templateVersion,
    status: STATUS[v.status],
    currentStep: v.currentStep ?? "",
    steps: v.steps.map((s) => ({ id: s.id, title: s.title, status: STEP[s.status] })),
    customerId: v.customerId ?? "",
    createdAt: date(v.createdAt),
    expireAt: date(v.expireAt),
    completedAt: date(v.completedAt),
    nextNotificationAt: date(v.nextNotificationAt),
    declineReason: v.declineReason ?? "",
    externalId: v.externalId ?? "",
    memo: v.memo ?? "",
    failureReason: v.failureReason ?? "",
    channel: channelOf(v.channels),
    inputs: {},
  };
}

/** A journal event as the API shows it; internal bookkeeping is left out. */
export function toEventMessage(seq: number, e: WorkflowEvent): WorkflowEventMessage | undefined {
  if (e.type === "effects.requested" || e.type === "effect.settled" || e.type === "reminder.scheduled")
    return undefined;
  const { type, at, ...rest } = e as WorkflowEvent & Record<string, unknown>;
  if (type === "workflow.created") {
    return {
      sequence: seq,
      type,
      occurredAt: new Date(at),
      status: 0,
      stepId: "",
      actor: "business",
      dataJson: "{}",
    };
  }
  const data = { ...rest } as Record<string, unknown>;
  const stepId = typeof data.stepId === "string" ? data.stepId : "";
  const actor = typeof data.by === "string" ? data.by : type.startsWith("step.") ? "customer" : "linkflow";
  return {
    sequence: seq,
    type,
    occurredAt: new Date(at),
    status: 0,
    stepId,
    actor,
    dataJson: JSON.stringify(data),
  };
}
