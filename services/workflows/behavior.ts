import { createHash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { SerializedError } from "../../core/index.ts";
import {
  type AcceptedDocument,
  type Channel,
  type Env,
  evaluate,
  type HandlerEvent,
  type Money,
  renderText,
  type StepIR,
  type TransactionMethod,
  type WorkflowProgram,
} from "../../dsl/index.ts";
import type { ActorBehavior, Decision, EffectRequest, TimerSpec } from "../../runtime/index.ts";
import {
  type CustomerSession,
  type EffectPurpose,
  FINAL_STATUSES,
  type NotificationOrigin,
  type WorkflowCommand,
  type WorkflowEvent,
  type WorkflowState,
  type WorkflowView,
} from "./model.ts";
import { nextReminderAt } from "./schedule.ts";
import { validateStepData } from "./steps.ts";

type D = Decision<WorkflowEvent>;

/** Placeholder the notification effect replaces with the customer's link (the token is never journaled). */
export const LINK_PLACEHOLDER = "{link}";

const reject = (code: string, message: string, grpcStatus: status, violations = []): D => ({
  events: [],
  reject: { code, message, grpcStatus, retryable: false, violations } satisfies SerializedError,
});

function initialState(id: string): WorkflowState {
  return {
    id,
    exists: false,
    status: "created",
    businessId: "",
    businessName: "",
    inputs: {},
    recipient: {},
    channels: [],
    createdAt: 0,
    expireAt: 0,
    linkVersion: 1,
    steps: [],
    remindersSent: 0,
    awaiting: {},
    tags: [],
    transactions: {},
  };
}

export function view(s: WorkflowState): WorkflowView {
  const p = s.program;
  return {
    id: s.id,
    status: s.status,
    businessId: s.businessId,
    businessName: s.businessName,
    templateName: p?.template.name ?? "",
    templateVersion: p?.template.version ?? 0,
    templateTitle: p?.template.title ?? "",
    currentStep: s.steps.find((st) => st.status === "active")?.id,
    steps: s.steps.map((st) => ({ id: st.id, title: st.title, status: st.status })),
    customerId: s.customerId,
    createdAt: s.createdAt,
    expireAt: s.expireAt,
    completedAt: s.completedAt,
    nextNotificationAt: FINAL_STATUSES.has(s.status) ? undefined : s.nextReminderAt,
    declineReason: s.declineReason,
    failureReason: s.failureReason,
    externalId: s.externalId,
    memo: s.memo,
    linkVersion: s.linkVersion,
    channels: s.channels,
  };
}

/** Values later expressions can read: `input.*` and each completed step's result by step id. */
export function envOf(s: WorkflowState): Env {
  const env: Env = { input: s.inputs };
  for (const st of s.steps) if (st.result) env[st.id] = st.result;
  if (s.customerId) env.customer = { id: s.customerId };
  return env;
}

/**
 * Builds a decision incrementally: applies each event to a working copy of the
 * state so later choices in the same turn see earlier ones, and numbers the
 * effects as the runtime will.
 */
class Turn {
  events: WorkflowEvent[] = [];
  effects: EffectRequest[] = [];
  purposes: { seq: number; purpose: EffectPurpose }[] = [];
  armTimers: TimerSpec[] = [];
  cancelTimers: string[] = [];

  constructor(
    public state: WorkflowState,
    readonly now: number,
    private nextSeq: number,
  ) {}

  emit(e: WorkflowEvent): void {
    this.events.push(e);
    this.state = evolve(this.state, e);
  }

  effect(type: string, payload: unknown, purpose: EffectPurpose): void {
    this.effects.push({ type, payload });
    this.purposes.push({ seq: this.nextSeq++, purpose });
  }

  decision(reply?: unknown): D {
    const events = [...this.events];
    if (this.purposes.length > 0) {
      const e: WorkflowEvent = { type: "effects.requested", at: this.now, effects: this.purposes };
      events.push(e);
      this.state = evolve(this.state, e);
    }
    return {
      events,
      effects: this.effects,
      armTimers: this.armTimers,
      cancelTimers: this.cancelTimers,
      reply: reply ?? view(this.state),
    };
  }
}

/**
 * A contact the customer gave in a step (`collect individual { email }`): a
 * workflow started with a phone only can still email the customer afterwards.
 */
function collected(s: WorkflowState, key: "phone" | "email"): string | undefined {
  for (const step of s.steps) {
    const v = step.result?.[key];
    if (typeof v === "string" && v !== "") return v;
  }
  return undefined;
}

function notify(t: Turn, origin: NotificationOrigin, channel: Channel, text: string, subject?: string): void {
  const s = t.state;
  const to =
    channel === "sms"
      ? s.recipient.phone || collected(s, "phone")
      : s.recipient.email || collected(s, "email");
  if (!to) return;
  const base = { businessId: s.businessId, workflowId: s.id, to, origin, linkVersion: s.linkVersion };
  if (channel === "sms") t.effect("notify.sms", { ...base, body: text }, { kind: "notify", origin, channel });
  else
    t.effect(
      "notify.email",
      { ...base, subject: subject ?? `${s.businessName}: ${s.program?.template.title ?? ""}`, text },
      { kind: "notify", origin, channel },
    );
}

function sendLink(t: Turn, origin: NotificationOrigin): void {
  const s = t.state;
  const title = s.program?.template.title ?? "";
  const memo = s.memo ? ` ${s.memo}` : "";
  const lead =
    origin === "REMINDER"
      ? `Reminder from ${s.businessName}: please complete "${title}" before ${new Date(s.expireAt).toUTCString()}.`
      : `${s.businessName} asks you to complete "${title}".${memo}`;
  for (const ch of s.channels) {
    notify(
      t,
      origin,
      ch,
      `${lead} Open your secure link: ${LINK_PLACEHOLDER}`,
      `${s.businessName}: ${title}`,
    );
  }
}

function armSchedule(t: Turn): void {
  const s = t.state;
  t.armTimers.push({ id: "expire", fireAt: s.expireAt, command: { type: "timer.expire" } });
  const policy = s.program?.link.reminders;
  const next = policy
    ? nextReminderAt(policy, s.linkSentAt ?? s.createdAt, s.expireAt, s.remindersSent, t.now)
    : undefined;
  if (next !== undefined) t.armTimers.push({ id: "remind", fireAt: next, command: { type: "timer.remind" } });
  else t.cancelTimers.push("remind");
  t.emit({ type: "reminder.scheduled", at: t.now, at_: next ?? null });
}

function stopSchedule(t: Turn): void {
  t.cancelTimers.push("expire", "remind");
}

function runHandlers(t: Turn, on: HandlerEvent, stepId?: string, transactionId?: string): void {
  const s = t.state;
  const p = s.program;
  if (!p) return;
  const env = envOf(s);
  if (transactionId) {
    const step = s.steps.find((x) => x.id === s.transactions[transactionId]?.stepId);
    const tx = s.transactions[transactionId]!;
    env.transaction = {
      ...(step?.result ?? {}),
      transaction_id: transactionId,
      status: tx.status,
      return_code: tx.returnCode ?? "",
    };
  }
  for (const h of p.handlers) {
    if (h.on !== on || (h.on === "step_completed" && h.step && h.step !== stepId)) continue;
    for (const a of h.actions) {
      try {
        if (a.kind === "text_customer") notify(t, "HANDLER", "sms", renderText(a.message, env));
        else if (a.kind === "email_customer")
          notify(
            t,
            "HANDLER",
            "email",
            renderText(a.message, env),
            a.subject ? renderText(a.subject, env) : undefined,
          );
        else if (a.kind === "notify_business") publishBusinessEvent(t, `workflow.${on}`, stepId);
        else if (a.kind === "tag") t.emit({ type: "tagged", at: t.now, tag: a.tag });
      } catch {
        // A message that cannot be rendered (missing value) is skipped rather than failing the workflow.
      }
    }
  }
}

function publishBusinessEvent(t: Turn, event: string, stepId?: string): void {
  const s = t.state;
  const v = view(s);
  t.effect(
    "notify.business",
    {
      businessId: s.businessId,
      workflowId: s.id,
      type: event,
      data: {
        workflow_id: s.id,
        status: v.status,
        template: v.templateName,
        template_version: v.templateVersion,
        customer_id: s.customerId ?? null,
        external_id: s.externalId ?? null,
        step: stepId ?? null,
        decline_reason: s.declineReason ?? null,
        failure_reason: s.failureReason ?? null,
      },
    },
    { kind: "business_event", event },
  );
}

/** Starts the next step whose condition holds, skipping the others; completes the workflow when none is left. */
function advance(t: Turn): void {
  const p = t.state.program!;
  for (const st of t.state.steps) {
    if (st.status !== "pending") continue;
    const ir = p.steps.find((x) => x.id === st.id)!;
    let applies = true;
    if (ir.when) {
      try {
        applies = evaluate(ir.when, envOf(t.state)) === true;
      } catch {
        applies = false;
      }
    }
    if (!applies) {
      t.emit({ type: "step.skipped", at: t.now, stepId: st.id });
      continue;
    }
    t.emit({ type: "step.started", at: t.now, stepId: st.id });
    return;
  }
  t.emit({ type: "workflow.completed", at: t.now });
  stopSchedule(t);
  runHandlers(t, "completed");
}

function activityFor(
  t: Turn,
  step: StepIR,
  values: Record<string, string>,
  session?: CustomerSession,
): boolean {
  const s = t.state;
  const a = step.action;
  const purpose = { kind: "activity", stepId: step.id } as const;
  const base = {
    businessId: s.businessId,
    workflowId: s.id,
    customerId: s.customerId,
    recipient: s.recipient,
  };
  switch (a.kind) {
    case "collect_profile":
      t.effect(
        "accounts.upsertCustomer",
        {
          ...base,
          profile: a.profile,
          values,
          phone: s.recipient.phone,
          email: values.email ?? s.recipient.email,
        },
        purpose,
      );
      return true;
    case "lookup_customer":
      t.effect("accounts.lookupCustomer", base, purpose);
      return true;
    case "accept_documents": {
      const authorizations = new Set(
        s.program!.steps.flatMap((x) =>
          x.action.kind === "confirm_transaction" && x.action.authorizationDocument
            ? [x.action.authorizationDocument]
            : [],
        ),
      );
      t.effect(
        "accounts.recordAcceptances",
        {
          ...base,
          documents: a.documents.map((d) => ({
            id: d.id,
            // Documents declared without a version are recorded as "current".
            version: d.version ?? "current",
            contentHash: documentHash(d),
            scope: authorizations.has(d.id) ? "ach_debit_authorization" : "workflow",
          })),
          acceptedAt: t.now,
          ip: session?.ip ?? "",
          userAgent: session?.userAgent ?? "",
        },
        purpose,
      );
      return true;
    }
    case "confirm_transaction": {
      const d = confirmDetails(s, step);
      t.effect(
        "transactions.create",
        {
          ...base,
          financialAccountId: d.financialAccountId,
          direction: a.direction,
          method: d.method,
          amount: d.amount,
        },
        purpose,
      );
      return true;
    }
    default:
      return false;
  }
}

/**
 * The text a customer accepts for a document: the template's `reading` text,
 * or (without one) its title and version. Its hash is what the acceptance records.
 */
export function documentText(d: AcceptedDocument): string {
  return d.text ?? `${d.title ?? d.id}${d.version ? ` (version ${d.version})` : ""}`;
}

export function documentHash(d: AcceptedDocument): string {
  return `sha256:${createHash("sha256")
    .update(`${d.id}\n${d.version ?? ""}\n${documentText(d)}`)
    .digest("hex")}`;
}

/** The reasons a customer may give when declining at a step. */
export function declineOptions(step: StepIR): { reasons: string[]; allowOther: boolean } {
  const a = step.action;
  return {
    reasons: step.declineReasons ?? (a.kind === "confirm_transaction" ? a.declineReasons : []),
    allowOther: step.allowOtherReason ?? (a.kind === "confirm_transaction" ? a.allowOtherReason : false),
  };
}

/** What a confirm step will do: the evaluated amount, the chosen method and the destination account. */
export function confirmDetails(
  s: WorkflowState,
  step: StepIR,
): {
  amount: Money;
  method: TransactionMethod;
  financialAccountId: string;
  accountLast4: string;
  accountKind: string;
} {
  const a = step.action;
  if (a.kind !== "confirm_transaction") throw new Error("not a confirm step");
  const env = envOf(s);
  const amount = evaluate(a.amount, env) as Money;
  const method =
    a.methods.find((m) => !m.when || evaluate(m.when, env) === true)?.method ??
    a.methods[0]?.method ??
    "ach_credit";
  const account = (env[a.account] ?? {}) as Record<string, unknown>;
  return {
    amount,
    method,
    financialAccountId: String(account.account_id ?? account.financial_account_id ?? ""),
    accountLast4: String(account.last4 ?? ""),
    accountKind: String(account.kind ?? ""),
  };
}

function decide(s: WorkflowState, c: WorkflowCommand, ctx: { now: number; nextEffectSeq: number }): D {
  const t = new Turn(s, ctx.now, ctx.nextEffectSeq);
  if (c.type === "create") {
    if (s.exists) return { events: [], reply: view(s) };
    const expireAt = ctx.now + (c.expiresInMs ?? c.program.link.expiresInMs);
    t.emit({
      type: "workflow.created",
      at: ctx.now,
      businessId: c.businessId,
      businessName: c.businessName,
      program: c.program,
      inputs: c.inputs,
      recipient: c.recipient,
      customerId: c.customerId,
      channels: c.channels,
      memo: c.memo,
      externalId: c.externalId,
      expireAt,
    });
    advance(t);
    sendLink(t, "INITIAL");
    armSchedule(t);
    return t.decision();
  }
  if (!s.exists) return reject("workflow_not_found", `workflow ${s.id} not found`, status.NOT_FOUND);

  if (c.type === "effect.result") return onEffectResult(t, c);
  if (c.type === "transaction.status") {
    const known = s.transactions[c.transactionId];
    if (!known || known.status === c.status) return { events: [], reply: view(s) };
    t.emit({
      type: "transaction.status_changed",
      at: ctx.now,
      transactionId: c.transactionId,
      status: c.status,
      returnCode: c.returnCode || undefined,
      reason: c.reason || undefined,
    });
    runHandlers(t, "transaction_status_changed", known.stepId, c.transactionId);
    return t.decision();
  }

  const final = FINAL_STATUSES.has(s.status);
  if (c.type === "timer.expire") {
    if (final || ctx.now < s.expireAt) return { events: [] };
    t.emit({ type: "workflow.expired", at: ctx.now });
    stopSchedule(t);
    for (const ch of s.channels) {
      notify(
        t,
        "EXPIRY",
        ch,
        `Your link from ${s.businessName} for "${s.program?.template.title}" has expired.`,
      );
    }
    runHandlers(t, "expired");
    return t.decision();
  }
  if (c.type === "timer.remind") {
    if (final) return { events: [] };
    t.emit({ type: "reminder.sent", at: ctx.now, n: s.remindersSent + 1 });
    sendLink(t, "REMINDER");
    armSchedule(t);
    return t.decision();
  }
  if (final) {
    return reject("workflow_not_active", `the workflow is ${s.status}`, status.FAILED_PRECONDITION);
  }
  switch (c.type) {
    case "open":
      if (s.status === "created" || s.status === "link_sent") {
        t.emit({ type: "link.opened", at: ctx.now });
        return t.decision();
      }
      return { events: [], reply: view(s) };
    case "submit_step": {
      const step = s.steps.find((x) => x.id === c.stepId);
      if (step?.status !== "active") {
        return reject(
          "step_not_current",
          `step ${c.stepId} is not the current step`,
          status.FAILED_PRECONDITION,
        );
      }
      if (activityRunning(s, step.id)) {
        return reject("step_in_progress", `step ${c.stepId} is already being processed`, status.ABORTED);
      }
      const ir = s.program!.steps.find((x) => x.id === step.id)!;
      const checked = validateStepData(ir, c.data);
      if (!checked.ok) {
        return {
          events: [],
          reject: {
            code: "invalid_argument",
            message: checked.violations.map((v) => v.description).join("; "),
            grpcStatus: status.INVALID_ARGUMENT,
            retryable: false,
            violations: checked.violations,
          },
        };
      }
      if (!s.openedAt) t.emit({ type: "link.opened", at: ctx.now });
      t.emit({ type: "step.submitted", at: ctx.now, stepId: step.id, values: checked.values });
      const vaultedCustomer = c.data.customer_id;
      if (typeof vaultedCustomer === "string" && /^cus_/.test(vaultedCustomer) && !t.state.customerId) {
        t.emit({ type: "customer.linked", at: ctx.now, customerId: vaultedCustomer });
      }
      if (ir.action.kind === "confirm_transaction") {
        try {
          confirmDetails(t.state, ir);
        } catch (err) {
          return reject(
            "step_not_ready",
            `the payment cannot be prepared: ${(err as Error).message}`,
            status.FAILED_PRECONDITION,
          );
        }
      }
      if (!activityFor(t, ir, checked.values, c.session)) {
        t.emit({ type: "step.completed", at: ctx.now, stepId: step.id, result: checked.values });
        runHandlers(t, "step_completed", step.id);
        advance(t);
      }
      return t.decision();
    }
    case "decline": {
      const step = s.steps.find((x) => x.id === c.stepId);
      const ir = s.program!.steps.find((x) => x.id === c.stepId);
      if (!step || !ir || step.status !== "active") {
        return reject(
          "step_not_current",
          `step ${c.stepId} is not the current step`,
          status.FAILED_PRECONDITION,
        );
      }
      if (!ir.declinable)
        return reject(
          "step_not_declinable",
          `step ${c.stepId} cannot be declined`,
          status.FAILED_PRECONDITION,
        );
      const { reasons, allowOther } = declineOptions(ir);
      let reason = c.reason;
      if (reason === "other") {
        const text = (c.otherText ?? "").trim();
        if (!allowOther || !text) {
          return {
            events: [],
            reject: {
              code: "invalid_argument",
              message: "please tell us why you are declining",
              grpcStatus: status.INVALID_ARGUMENT,
              retryable: false,
              violations: [{ field: "other_reason", description: "please tell us why you are declining" }],
            },
          };
        }
        reason = text.slice(0, 500);
      } else if (!reasons.includes(reason)) {
        return {
          events: [],
          reject: {
            code: "invalid_argument",
            message: "choose one of the reasons",
            grpcStatus: status.INVALID_ARGUMENT,
            retryable: false,
            violations: [{ field: "reason", description: "choose one of the reasons" }],
          },
        };
      }
      t.emit({ type: "workflow.declined", at: ctx.now, stepId: step.id, reason });
      stopSchedule(t);
      runHandlers(t, "declined", step.id);
      return t.decision();
    }
    case "resend":
      t.emit({ type: "link.resent", at: ctx.now, linkVersion: s.linkVersion, by: c.by });
      sendLink(t, "MANUAL");
      return t.decision();
    case "extend":
      if (c.expireAt <= ctx.now) {
        return {
          events: [],
          reject: {
            code: "invalid_argument",
            message: "the new expiry must be in the future",
            grpcStatus: status.INVALID_ARGUMENT,
            retryable: false,
            violations: [{ field: "expire_at", description: "must be in the future" }],
          },
        };
      }
      t.emit({ type: "expiry.extended", at: ctx.now, expireAt: c.expireAt, by: c.by });
      armSchedule(t);
      return t.decision();
    case "cancel":
      t.emit({ type: "workflow.cancelled", at: ctx.now, by: c.by, reason: c.reason });
      stopSchedule(t);
      runHandlers(t, "cancelled");
      return t.decision();
  }
}

function onEffectResult(t: Turn, c: Extract<WorkflowCommand, { type: "effect.result" }>): D {
  const s = t.state;
  const purpose = s.awaiting[c.effectSeq];
  t.emit({ type: "effect.settled", at: t.now, seq: c.effectSeq, ok: c.ok, error: c.error?.message });
  if (!purpose) return t.decision(null);
  if (purpose.kind === "notify") {
    if (c.ok) {
      t.emit({ type: "notification.sent", at: t.now, origin: purpose.origin, channel: purpose.channel });
      if (purpose.origin === "INITIAL" && s.status === "created") t.emit({ type: "link.sent", at: t.now });
    } else {
      const reason = c.error?.message ?? "delivery failed";
      t.emit({
        type: "notification.failed",
        at: t.now,
        origin: purpose.origin,
        channel: purpose.channel,
        reason,
      });
      const otherChannelOk = s.channels.length > 1;
      if (
        purpose.origin === "INITIAL" &&
        s.status === "created" &&
        !otherChannelOk &&
        !FINAL_STATUSES.has(s.status)
      ) {
        t.emit({ type: "workflow.failed", at: t.now, reason: `the link could not be delivered: ${reason}` });
        stopSchedule(t);
        publishBusinessEvent(t, "workflow.failed");
      }
    }
    return t.decision(null);
  }
  if (purpose.kind === "activity") {
    if (FINAL_STATUSES.has(s.status)) return t.decision(null);
    const step = s.steps.find((x) => x.id === purpose.stepId);
    if (!step) return t.decision(null);
    if (c.ok) {
      const res = (c.result ?? {}) as Record<string, unknown>;
      if (typeof res.customerId === "string" && res.customerId !== s.customerId) {
        t.emit({ type: "customer.linked", at: t.now, customerId: res.customerId });
      }
      // Expressions read snake_case results (`profile.customer_id`), as the template language documents.
      const result: Record<string, unknown> = { ...(step.result ?? {}), ...activityResult(res) };
      t.emit({ type: "step.completed", at: t.now, stepId: step.id, result });
      runHandlers(t, "step_completed", step.id);
      advance(t);
    } else {
      const message = c.error?.message ?? "the activity failed";
      // A failure that could have passed on a later try means the retry policy ran out: say so.
      const reason =
        c.error?.retryable && c.attempts ? `${message} (gave up after ${c.attempts} attempts)` : message;
      t.emit({ type: "step.failed", at: t.now, stepId: step.id, reason });
      t.emit({ type: "workflow.failed", at: t.now, reason: `step ${step.id} failed: ${reason}` });
      stopSchedule(t);
      publishBusinessEvent(t, "workflow.failed", step.id);
    }
    return t.decision(null);
  }
  return t.decision(null);
}

/** An activity's reply, in the snake_case names template expressions read. */
function activityResult(res: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof res.customerId === "string") out.customer_id = res.customerId;
  if (typeof res.transactionId === "string") {
    out.transaction_id = res.transactionId;
    out.status = res.status;
    out.amount = res.amount;
    out.method = res.method;
  }
  if (res.accepted === true) {
    out.accepted = true;
    out.accepted_at = res.acceptedAt;
  }
  if (typeof res.found === "boolean") {
    out.found = res.found;
    for (const k of ["first_name", "last_name", "email", "phone"])
      if (typeof res[k] === "string") out[k] = res[k];
  }
  return out;
}

export function evolve(s: WorkflowState, e: WorkflowEvent): WorkflowState {
  const setStep = (id: string, patch: Partial<WorkflowState["steps"][number]>) =>
    s.steps.map((x) => (x.id === id ? { ...x, ...patch } : x));
  switch (e.type) {
    case "workflow.created": {
      const p: WorkflowProgram = e.program;
      return {
        ...s,
        exists: true,
        status: "created",
        businessId: e.businessId,
        businessName: e.businessName,
        program: p,
        inputs: e.inputs,
        recipient: e.recipient,
        customerId: e.customerId,
        channels: e.channels,
        memo: e.memo,
        externalId: e.externalId,
        createdAt: e.at,
        expireAt: e.expireAt,
        steps: p.steps.map((st) => ({ id: st.id, title: st.title, status: "pending" })),
      };
    }
    case "effects.requested": {
      const awaiting = { ...s.awaiting };
      for (const x of e.effects) awaiting[x.seq] = x.purpose;
      return { ...s, awaiting };
    }
    case "effect.settled": {
      const awaiting = { ...s.awaiting };
      delete awaiting[e.seq];
      return { ...s, awaiting };
    }
    case "notification.sent":
    case "notification.failed":
    case "tagged":
      return e.type === "tagged" ? { ...s, tags: [...s.tags, e.tag] } : s;
    case "link.sent":
      return {
        ...s,
        status: s.status === "created" ? "link_sent" : s.status,
        linkSentAt: s.linkSentAt ?? e.at,
      };
    case "link.opened":
      return {
        ...s,
        status: s.status === "created" || s.status === "link_sent" ? "opened" : s.status,
        openedAt: s.openedAt ?? e.at,
      };
    case "link.resent":
      return { ...s, linkVersion: e.linkVersion };
    case "reminder.scheduled":
      return { ...s, nextReminderAt: e.at_ ?? undefined };
    case "reminder.sent":
      return { ...s, remindersSent: e.n };
    case "expiry.extended":
      return { ...s, expireAt: e.expireAt };
    case "step.started":
      return { ...s, steps: setStep(e.stepId, { status: "active" }) };
    case "step.skipped":
      return { ...s, steps: setStep(e.stepId, { status: "skipped" }) };
    case "step.submitted":
      // The submitted values are the step's result until its activity completes it.
      return { ...s, status: "in_progress", steps: setStep(e.stepId, { result: e.values }) };
    case "step.completed": {
      const txId = e.result.transaction_id;
      const transactions =
        typeof txId === "string"
          ? { ...s.transactions, [txId]: { stepId: e.stepId, status: String(e.result.status ?? "pending") } }
          : s.transactions;
      return { ...s, transactions, steps: setStep(e.stepId, { status: "completed", result: e.result }) };
    }
    case "transaction.status_changed": {
      const prev = s.transactions[e.transactionId];
      if (!prev) return s;
      const transactions = {
        ...s.transactions,
        [e.transactionId]: { ...prev, status: e.status, returnCode: e.returnCode },
      };
      const steps = s.steps.map((x) =>
        x.id === prev.stepId && x.result ? { ...x, result: { ...x.result, status: e.status } } : x,
      );
      return { ...s, transactions, steps };
    }
    case "step.failed":
      return { ...s, steps: setStep(e.stepId, { status: "failed", failureReason: e.reason }) };
    case "customer.linked":
      return { ...s, customerId: e.customerId };
    case "workflow.completed":
      return { ...s, status: "completed", completedAt: e.at, endedAt: e.at };
    case "workflow.declined":
      return {
        ...s,
        status: "declined",
        declineReason: e.reason,
        declinedStep: e.stepId,
        endedAt: e.at,
        steps: setStep(e.stepId, { status: "declined" }),
      };
    case "workflow.expired":
      return { ...s, status: "expired", endedAt: e.at };
    case "workflow.cancelled":
      return { ...s, status: "cancelled", endedAt: e.at };
    case "workflow.failed":
      return { ...s, status: "failed", failureReason: e.reason, endedAt: e.at };
  }
}

/** What the workflow actor answers: its view, or with `full` its whole state. */
export interface WorkflowQuery {
  full?: boolean;
  /** With a wait: ready once this step's activity is no longer running. */
  settledStep?: string;
}

/** True while the step's activity (create the customer, add the account, …) is still running. */
export function activityRunning(s: WorkflowState, stepId: string): boolean {
  return Object.values(s.awaiting).some((p) => p.kind === "activity" && p.stepId === stepId);
}

/** The workflow actor: interprets the pinned WorkflowProgram on the generic runtime. */
export const workflowBehavior: ActorBehavior<WorkflowState, WorkflowCommand, WorkflowEvent> = {
  kind: "workflow",
  initialState,
  decide: (s, c, ctx) => decide(s, c, ctx),
  evolve,
  query: (s, q) => ((q as WorkflowQuery | undefined)?.full ? s : view(s)),
  queryReady: (s, q) => {
    const step = (q as WorkflowQuery | undefined)?.settledStep;
    return step === undefined || !activityRunning(s, step);
  },
};
