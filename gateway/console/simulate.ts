import type { Channel, LiteralValue, WorkflowProgram } from "../../dsl/index.ts";
import { bindInputs } from "../../dsl/index.ts";
import type { Decision } from "../../runtime/index.ts";
import {
  LINK_PLACEHOLDER,
  type WorkflowCommand,
  type WorkflowEvent,
  type WorkflowState,
  workflowBehavior,
} from "../../services/workflows/index.ts";

/** What the customer would receive: one entry per message (SMS body or email text). */
export interface Message {
  channel: "sms" | "email";
  origin: string;
  to: string;
  subject?: string;
  text: string;
}

/** One line of a simulation: the command given and what the workflow decided. */
export interface SimStep {
  command: string;
  rejected?: string;
  events: { type: string; detail: string }[];
  messages: Message[];
  status: string;
}

export interface SimAnswer {
  stepId: string;
  /** Field values the customer submits, or a decline with its reason. */
  data?: Record<string, unknown>;
  decline?: string;
}

const T0 = Date.UTC(2030, 0, 1, 12);

/** Fake but well-formed activity results, so the walk continues as if the services said yes. */
function fakeResult(type: string, n: number): Record<string, unknown> {
  switch (type) {
    case "accounts.upsertCustomer":
      return { customerId: "cus_simulated" };
    case "accounts.lookupCustomer":
      return { customerId: "cus_simulated", found: true, first_name: "Sam", last_name: "Ple" };
    case "accounts.recordAcceptances":
      return { accepted: true, acceptedAt: T0 };
    case "transactions.create":
      return { transactionId: `txn_simulated${n}`, status: "pending" };
    case "accounts.addFinancialAccount":
      return { financialAccountId: "fa_simulated" };
    default:
      return {};
  }
}

function messagesOf(d: Decision<WorkflowEvent>): Message[] {
  const out: Message[] = [];
  for (const e of d.effects ?? []) {
    const p = e.payload as { to?: string; body?: string; text?: string; subject?: string; origin?: string };
    if (e.type === "notify.sms")
      out.push({ channel: "sms", origin: p.origin ?? "", to: p.to ?? "", text: p.body ?? "" });
    if (e.type === "notify.email")
      out.push({
        channel: "email",
        origin: p.origin ?? "",
        to: p.to ?? "",
        text: p.text ?? "",
        ...(p.subject ? { subject: p.subject } : {}),
      });
  }
  return out.map((m) => ({ ...m, text: m.text.replaceAll(LINK_PLACEHOLDER, "https://…/l/<secure link>") }));
}

function describe(e: WorkflowEvent): string {
  const { type: _t, at: _a, ...rest } = e as WorkflowEvent & Record<string, unknown>;
  if ("program" in rest) delete (rest as Record<string, unknown>).program;
  const s = JSON.stringify(rest);
  return s === "{}" ? "" : s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

/** What a simulated or previewed workflow is created with. */
export interface WorkflowSetup {
  businessName: string;
  inputs: Record<string, string>;
  recipient: { phone?: string; email?: string };
  channels?: Channel[];
  memo?: string;
}

/** The create command a simulation or preview starts from. */
function createCommand(
  program: WorkflowProgram,
  setup: WorkflowSetup,
  inputs: Record<string, LiteralValue>,
  businessId: string,
): WorkflowCommand {
  return {
    type: "create",
    businessId,
    businessName: setup.businessName,
    program,
    inputs,
    recipient: setup.recipient,
    channels: setup.channels ?? program.link.channels,
    ...(setup.memo ? { memo: setup.memo } : {}),
  };
}

/**
 * Walks a compiled program through the workflow decider with no I/O: create,
 * open, then each answer; every effect is answered as a success with a fake
 * result. Returns each command's events and the messages the customer gets.
 */
export function simulate(
  program: WorkflowProgram,
  opts: WorkflowSetup & { answers: SimAnswer[] },
): { steps: SimStep[]; violations: { field: string; description: string }[] } {
  const bound = bindInputs(program, opts.inputs);
  if (!bound.ok) return { steps: [], violations: bound.violations };
  const b = workflowBehavior;
  let state: WorkflowState = b.initialState("wf_simulation");
  let now = T0;
  let seq = 1;
  const steps: SimStep[] = [];
  const run = (label: string, command: WorkflowCommand, depth = 0): void => {
    now += 60_000;
    const d = b.decide(state, command, { actorId: "wf_simulation", now, nextEffectSeq: seq });
    if (d.reject) {
      steps.push({
        command: label,
        rejected: d.reject.message,
        events: [],
        messages: [],
        status: state.status,
      });
      return;
    }
    for (const e of d.events) state = b.evolve(state, e);
    const effects = d.effects ?? [];
    const firstSeq = seq;
    seq += effects.length;
    steps.push({
      command: label,
      events: d.events.map((e) => ({ type: e.type, detail: describe(e) })),
      messages: messagesOf(d),
      status: state.status,
    });
    if (depth > 20) return;
    effects.forEach((e, i) => {
      run(
        `${e.type} succeeded`,
        {
          type: "effect.result",
          effectSeq: firstSeq + i,
          effectType: e.type,
          ok: true,
          result: fakeResult(e.type, firstSeq + i),
        },
        depth + 1,
      );
    });
  };
  run("create", createCommand(program, opts, bound.values, "biz_simulation"));
  run("customer opens the link", { type: "open" });
  for (const a of opts.answers) {
    if (a.decline !== undefined)
      run(`decline ${a.stepId}`, { type: "decline", stepId: a.stepId, reason: a.decline });
    else run(`submit ${a.stepId}`, { type: "submit_step", stepId: a.stepId, data: a.data ?? {} });
  }
  return { steps, violations: [] };
}

/** The messages the customer gets when the workflow is created (the console's preview). */
export function previewMessages(
  program: WorkflowProgram,
  opts: WorkflowSetup,
): Message[] | { field: string; description: string }[] {
  const b = workflowBehavior;
  const bound = bindInputs(program, opts.inputs);
  if (!bound.ok) return bound.violations;
  const d = b.decide(
    b.initialState("wf_preview"),
    createCommand(program, opts, bound.values, "biz_preview"),
    {
      actorId: "wf_preview",
      now: Date.now(),
      nextEffectSeq: 1,
    },
  );
  return messagesOf(d);
}
