import type { Channel, LiteralValue, WorkflowProgram } from "../../dsl/index.ts";

export type WorkflowStatus =
  | "created"
  | "link_sent"
  | "opened"
  | "in_progress"
  | "completed"
  | "declined"
  | "expired"
  | "cancelled"
  | "failed";

export type StepStatus = "pending" | "active" | "completed" | "skipped" | "failed" | "declined";

export const FINAL_STATUSES: ReadonlySet<WorkflowStatus> = new Set([
  "completed",
  "declined",
  "expired",
  "cancelled",
  "failed",
]);

export type NotificationOrigin = "INITIAL" | "MANUAL" | "REMINDER" | "EXPIRY" | "TRANSACTION" | "HANDLER";

export interface Recipient {
  phone?: string;
  email?: string;
}

export interface StepState {
  id: string;
  title: string;
  status: StepStatus;
  /** What the step produced (e.g. the customer's profile, the customer id); visible to later expressions. */
  result?: Record<string, unknown>;
  failureReason?: string;
}

/** Why the workflow is waiting on an effect, by effect sequence. */
export type EffectPurpose =
  | { kind: "notify"; origin: NotificationOrigin; channel: Channel }
  | { kind: "activity"; stepId: string }
  | { kind: "business_event"; event: string };

export interface WorkflowState {
  id: string;
  exists: boolean;
  status: WorkflowStatus;
  businessId: string;
  businessName: string;
  program?: WorkflowProgram;
  inputs: Record<string, LiteralValue>;
  recipient: Recipient;
  customerId?: string;
  channels: Channel[];
  memo?: string;
  externalId?: string;
  createdAt: number;
  expireAt: number;
  linkSentAt?: number;
  openedAt?: number;
  completedAt?: number;
  endedAt?: number;
  declineReason?: string;
  declinedStep?: string;
  failureReason?: string;
  linkVersion: number;
  steps: StepState[];
  remindersSent: number;
  nextReminderAt?: number;
  awaiting: Record<number, EffectPurpose>;
  tags: string[];
  /** Transactions this workflow created, by id, with their latest status. */
  transactions: Record<string, { stepId: string; status: string; returnCode?: string }>;
}

/** Facts recorded in the workflow's journal. Every event carries the clock time it happened at. */
export type WorkflowEvent = { at: number } & (
  | {
      type: "workflow.created";
      businessId: string;
      businessName: string;
      program: WorkflowProgram;
      inputs: Record<string, LiteralValue>;
      recipient: Recipient;
      customerId?: string;
      channels: Channel[];
      memo?: string;
      externalId?: string;
      expireAt: number;
    }
  | { type: "effects.requested"; effects: { seq: number; purpose: EffectPurpose }[] }
  | { type: "effect.settled"; seq: number; ok: boolean; error?: string }
  | { type: "notification.sent"; origin: NotificationOrigin; channel: Channel }
  | { type: "notification.failed"; origin: NotificationOrigin; channel: Channel; reason: string }
  | { type: "link.sent" }
  | { type: "link.opened" }
  | { type: "link.resent"; linkVersion: number; by: string }
  | { type: "reminder.scheduled"; at_: number | null }
  | { type: "reminder.sent"; n: number }
  | { type: "expiry.extended"; expireAt: number; by: string }
  | { type: "step.started"; stepId: string }
  | { type: "step.skipped"; stepId: string }
  | { type: "step.submitted"; stepId: string; values: Record<string, string> }
  | { type: "step.completed"; stepId: string; result: Record<string, unknown> }
  | { type: "step.failed"; stepId: string; reason: string }
  | { type: "customer.linked"; customerId: string }
  | { type: "workflow.completed" }
  | { type: "workflow.declined"; stepId: string; reason: string }
  | { type: "workflow.expired" }
  | { type: "workflow.cancelled"; by: string; reason?: string }
  | { type: "workflow.failed"; reason: string }
  | { type: "tagged"; tag: string }
  | {
      type: "transaction.status_changed";
      transactionId: string;
      status: string;
      returnCode?: string;
      reason?: string;
    }
);

/** The session facts the customer page records with a submission. */
export interface CustomerSession {
  ip?: string;
  userAgent?: string;
}

export type WorkflowCommand =
  | {
      type: "create";
      businessId: string;
      businessName: string;
      program: WorkflowProgram;
      inputs: Record<string, LiteralValue>;
      recipient: Recipient;
      customerId?: string;
      channels: Channel[];
      memo?: string;
      externalId?: string;
      expiresInMs?: number;
    }
  | { type: "open" }
  | { type: "submit_step"; stepId: string; data: Record<string, unknown>; session?: CustomerSession }
  | { type: "decline"; stepId: string; reason: string; otherText?: string }
  | { type: "resend"; by: string }
  | { type: "extend"; expireAt: number; by: string }
  | { type: "cancel"; by: string; reason?: string }
  | { type: "timer.expire" }
  | { type: "timer.remind" }
  | {
      type: "transaction.status";
      transactionId: string;
      status: string;
      returnCode?: string;
      reason?: string;
    }
  | {
      type: "effect.result";
      effectSeq: number;
      effectType: string;
      ok: boolean;
      result?: unknown;
      error?: { code: string; message: string; retryable?: boolean };
      /** How many times the effect ran (the runtime's retry policy), this one included. */
      attempts?: number;
    };

/** What callers see of a workflow (GetWorkflow, the customer page). */
export interface WorkflowView {
  id: string;
  status: WorkflowStatus;
  businessId: string;
  businessName: string;
  templateName: string;
  templateVersion: number;
  templateTitle: string;
  currentStep?: string;
  steps: { id: string; title: string; status: StepStatus }[];
  customerId?: string;
  createdAt: number;
  expireAt: number;
  completedAt?: number;
  nextNotificationAt?: number;
  declineReason?: string;
  failureReason?: string;
  externalId?: string;
  memo?: string;
  linkVersion: number;
  channels: Channel[];
}
