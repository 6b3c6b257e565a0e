import { describe, expect, it } from "vitest";
import { compileTemplate } from "../../dsl/index.ts";
import { replay } from "../../runtime/index.ts";
import { documentHash, documentText, workflowBehavior as wf } from "./behavior.ts";
import type { WorkflowCommand, WorkflowEvent, WorkflowState } from "./model.ts";
import { nextReminderAt } from "./schedule.ts";

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

const source = `template welcome "Welcome aboard" version 1
link {
  send via sms
  expires in 7 days
  remind every 2 days
}
step profile "Confirm your details" {
  collect individual { first_name, last_name required; email optional }
}
on completed { notify business }
`;
const program = compileTemplate(source).program!;

const create: WorkflowCommand = {
  type: "create",
  businessId: "biz_1",
  businessName: "Acme",
  program,
  inputs: {},
  recipient: { phone: "+14155550123" },
  channels: ["sms"],
};

/** given events → when command → then decision, with the effect sequence the runtime would assign. */
function run(given: WorkflowEvent[], command: WorkflowCommand, now = T0, nextEffectSeq = 1) {
  const s = replay(wf, "wf_test", given);
  const d = wf.decide(s, command, { actorId: "wf_test", now, nextEffectSeq });
  const after = d.events.reduce<WorkflowState>((acc, e) => wf.evolve(acc, e), s);
  return { d, after };
}

describe("workflow decider", () => {
  it("create: starts the first step, sends the link by SMS and arms expiry and the first reminder", () => {
    const { d, after } = run([], create);
    expect(after.status).toBe("created");
    expect(after.steps[0]?.status).toBe("active");
    expect(d.effects).toEqual([
      expect.objectContaining({
        type: "notify.sms",
        payload: expect.objectContaining({ origin: "INITIAL", to: "+14155550123" }),
      }),
    ]);
    expect(d.armTimers).toEqual(
      expect.arrayContaining([
        { id: "expire", fireAt: T0 + 7 * DAY, command: { type: "timer.expire" } },
        { id: "remind", fireAt: T0 + 2 * DAY, command: { type: "timer.remind" } },
      ]),
    );
    // The link token is never in the journal: only a placeholder the effect fills in.
    expect(JSON.stringify(d.events)).not.toContain("/l/");
  });

  it("a second create is a no-op that answers the same workflow", () => {
    const first = run([], create);
    const again = run(first.d.events, create);
    expect(again.d.events).toEqual([]);
  });

  it("the SMS going out moves it to link_sent", () => {
    const c = run([], create);
    const r = run(c.d.events, { type: "effect.result", effectSeq: 1, effectType: "notify.sms", ok: true });
    expect(r.after.status).toBe("link_sent");
  });

  it("a submission missing a required field is rejected with field violations and writes nothing", () => {
    const c = run([], create);
    const r = run(c.d.events, { type: "submit_step", stepId: "profile", data: { first_name: "Ada" } });
    expect(r.d.events).toEqual([]);
    expect(r.d.reject?.violations).toEqual([{ field: "last_name", description: "Last name is required" }]);
  });

  it("submitting the profile creates the customer; its success completes the workflow and notifies the business", () => {
    const c = run([], create);
    const s = run(
      c.d.events,
      { type: "submit_step", stepId: "profile", data: { first_name: "Ada", last_name: "Lovelace" } },
      T0,
      2,
    );
    expect(s.d.effects?.[0]).toMatchObject({
      type: "accounts.upsertCustomer",
      payload: { values: { first_name: "Ada" } },
    });
    expect(s.after.status).toBe("in_progress");
    const done = run(
      [...c.d.events, ...s.d.events],
      {
        type: "effect.result",
        effectSeq: 2,
        effectType: "accounts.upsertCustomer",
        ok: true,
        result: { customerId: "cus_1" },
      },
      T0 + 1000,
      3,
    );
    expect(done.after.status).toBe("completed");
    expect(done.after.customerId).toBe("cus_1");
    expect(done.after.steps[0]?.result).toMatchObject({ first_name: "Ada", customer_id: "cus_1" });
    expect(done.d.effects).toEqual([
      expect.objectContaining({
        type: "notify.business",
        payload: expect.objectContaining({ type: "workflow.completed" }),
      }),
    ]);
    expect(done.d.cancelTimers).toEqual(expect.arrayContaining(["expire", "remind"]));
  });

  it("an activity that fails for good fails the step and the workflow with a reason", () => {
    const c = run([], create);
    const s = run(
      c.d.events,
      { type: "submit_step", stepId: "profile", data: { first_name: "A", last_name: "B" } },
      T0,
      2,
    );
    const f = run([...c.d.events, ...s.d.events], {
      type: "effect.result",
      effectSeq: 2,
      effectType: "accounts.upsertCustomer",
      ok: false,
      error: { code: "invalid_argument", message: "phone is not valid" },
    });
    expect(f.after.status).toBe("failed");
    expect(f.after.failureReason).toContain("phone is not valid");
    expect(f.after.steps[0]?.status).toBe("failed");
  });

  it("an activity that still fails after the retry policy's attempts says so in the step's reason", () => {
    const c = run([], create);
    const s = run(
      c.d.events,
      { type: "submit_step", stepId: "profile", data: { first_name: "A", last_name: "B" } },
      T0,
      2,
    );
    const f = run([...c.d.events, ...s.d.events], {
      type: "effect.result",
      effectSeq: 2,
      effectType: "accounts.upsertCustomer",
      ok: false,
      error: { code: "internal", message: "internal error", retryable: true },
      attempts: 5,
    });
    expect(f.after.steps[0]).toMatchObject({
      status: "failed",
      failureReason: "internal error (gave up after 5 attempts)",
    });
    expect(f.after.failureReason).toBe("step profile failed: internal error (gave up after 5 attempts)");
  });

  it("a workflow started by SMS emails the customer at the address given in a step", () => {
    const emailing = compileTemplate(
      source.replace(
        "on completed { notify business }",
        'on completed { email customer "Thanks {profile.first_name}." }',
      ),
    ).program!;
    // The API passes an unset email as "".
    const c = run([], { ...create, program: emailing, recipient: { phone: "+14155550123", email: "" } });
    const s = run(
      c.d.events,
      {
        type: "submit_step",
        stepId: "profile",
        data: { first_name: "Ada", last_name: "Lovelace", email: "ada@example.com" },
      },
      T0,
      2,
    );
    const done = run(
      [...c.d.events, ...s.d.events],
      { type: "effect.result", effectSeq: 2, effectType: "accounts.upsertCustomer", ok: true, result: {} },
      T0 + 1000,
      3,
    );
    expect(done.after.status).toBe("completed");
    expect(done.d.effects).toEqual([
      expect.objectContaining({
        type: "notify.email",
        payload: expect.objectContaining({ to: "ada@example.com", text: "Thanks Ada." }),
      }),
    ]);
  });

  it("expiry fires only when due, sends the expiry notice and ends the workflow", () => {
    const c = run([], create);
    expect(run(c.d.events, { type: "timer.expire" }, T0 + DAY).d.events).toEqual([]);
    const e = run(c.d.events, { type: "timer.expire" }, T0 + 7 * DAY);
    expect(e.after.status).toBe("expired");
    expect(e.d.effects?.[0]).toMatchObject({ type: "notify.sms", payload: { origin: "EXPIRY" } });
    // Once expired, the customer can no longer submit.
    const late = run([...c.d.events, ...e.d.events], { type: "submit_step", stepId: "profile", data: {} });
    expect(late.d.reject?.code).toBe("workflow_not_active");
  });

  it("extend re-arms expiry and reminders; cancel stops everything", () => {
    const c = run([], create);
    const x = run(c.d.events, { type: "extend", expireAt: T0 + 14 * DAY, by: "api" }, T0 + DAY);
    expect(x.after.expireAt).toBe(T0 + 14 * DAY);
    expect(x.d.armTimers).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: "expire", fireAt: T0 + 14 * DAY })]),
    );
    const k = run([...c.d.events, ...x.d.events], { type: "cancel", by: "api" }, T0 + 2 * DAY);
    expect(k.after.status).toBe("cancelled");
    expect(k.d.cancelTimers).toEqual(expect.arrayContaining(["expire", "remind"]));
    const again = run([...c.d.events, ...x.d.events, ...k.d.events], { type: "cancel", by: "api" });
    expect(again.d.reject?.code).toBe("workflow_not_active");
  });

  it("resend sends the same link again with origin MANUAL", () => {
    const c = run([], create);
    const r = run(c.d.events, { type: "resend", by: "api_key:k1" });
    expect(r.d.effects?.[0]).toMatchObject({ type: "notify.sms", payload: { origin: "MANUAL" } });
  });
});

describe("reminder schedule", () => {
  const policy = { everyMs: 2 * DAY, beforeExpiryMs: [DAY] };
  it("takes the earliest of the periodic series and the offsets before expiry", () => {
    expect(nextReminderAt(policy, T0, T0 + 7 * DAY, 0, T0)).toBe(T0 + 2 * DAY);
    expect(nextReminderAt(policy, T0, T0 + 7 * DAY, 2, T0 + 4 * DAY)).toBe(T0 + 6 * DAY);
    expect(nextReminderAt(policy, T0, T0 + 7 * DAY, 3, T0 + 6 * DAY)).toBeUndefined();
  });
  it("stops at the maximum count", () => {
    expect(nextReminderAt({ ...policy, maxCount: 1 }, T0, T0 + 7 * DAY, 1, T0 + 2 * DAY)).toBeUndefined();
  });
});

describe("documents to accept", () => {
  it("the recorded hash covers the text shown, so changing a word changes the hash", () => {
    const base = { id: "tos", version: "1", title: "Terms", text: "You agree." };
    expect(documentText(base)).toBe("You agree.");
    expect(documentHash(base)).not.toBe(documentHash({ ...base, text: "You agree!" }));
    expect(documentHash(base)).not.toBe(documentHash({ ...base, version: "2" }));
    expect(documentHash(base)).toBe(documentHash({ ...base }));
    // Without a text, the title and version are what the customer accepts.
    expect(documentText({ id: "tos", version: "1", title: "Terms" })).toBe("Terms (version 1)");
  });
});
