import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../core/index.ts";
import {
  AccountsServiceClient,
  CustomerStatus,
  TransactionsServiceClient,
  WorkflowStatus,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { launchChromium, saveScreenshot } from "../infra/index.ts";
import { HttpCustomer } from "../support/http-customer.ts";
import { linkIn, type Stack, startStack } from "../support/stack.ts";

const DAY = 86_400_000;
let stack: Stack;
let clock: ManualClock;

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  // Three runtime nodes over a real nats-server, sharing Postgres; time moves only when the test says so.
  stack = await startStack({ transport: "nats", nodes: 3, clock });
});
afterAll(async () => {
  await stack?.stop();
});

const get = async (id: string) =>
  (await call(stack.api, "getWorkflow", { workflowId: id }, { metadata: stack.auth() })).workflow!;

async function create(template: string, phone: string, key: string, extra: Record<string, unknown> = {}) {
  const res = await call(
    stack.api,
    "createWorkflow",
    {
      templateName: template,
      templateVersion: 0,
      inputs: {},
      customerPhone: phone,
      customerEmail: "",
      customerId: "",
      channel: 0,
      externalId: key,
      memo: "",
      idempotencyKey: key,
      ...extra,
    },
    { metadata: stack.auth() },
  );
  const sms = await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
  return { id: res.workflow!.id, customer: new HttpCustomer(linkIn(sms.body), stack.twilio, phone) };
}

/** Moves the clock and lets every node's timers and the rails catch up. */
async function advance(ms: number) {
  clock.advance(ms);
  await new Promise((r) => setTimeout(r, 400));
}

const smsTo = (phone: string) => stack.twilio.messages.filter((m) => m.to === phone);

async function history(id: string) {
  return call(stack.api, "getWorkflowHistory", { workflowId: id }, { metadata: stack.auth() });
}

async function completeOnboarding(c: HttpCustomer, account: string) {
  await c.verify();
  await c.waitFor("Confirm your details");
  await c.submit({
    first_name: "Mary",
    last_name: "Jackson",
    email: "mary@example.com",
    decision: "approve",
  });
  await c.waitFor("Where should we send the money?");
  expect(
    await c.submit({
      kind: "bank_account",
      routing_number: "011000015",
      account_number: account,
      account_type: "checking",
      name_on_account: "Mary Jackson",
    }),
  ).toBe("Terms");
  await c.submit({ accept_0: "on", accept_1: "on", decision: "approve" });
  await c.waitFor("Review your payment");
  await c.submit({ decision: "approve" });
}

describe("workflow life cycle on three nodes over NATS", () => {
  it("sends reminders on schedule, then expires with a final notice and tells the business", async () => {
    const phone = "+14155552001";
    const { id, customer } = await create("onboard_and_pay", phone, "expire-1", {
      inputs: { amount: "20.00 USD" },
    });
    await advance(2 * DAY + 1000);
    await expect.poll(() => smsTo(phone).filter((m) => m.body.startsWith("Reminder")).length).toBe(1);
    await advance(2 * DAY);
    await expect.poll(() => smsTo(phone).filter((m) => m.body.startsWith("Reminder")).length).toBe(2);
    await advance(2 * DAY);
    await expect.poll(() => smsTo(phone).filter((m) => m.body.startsWith("Reminder")).length).toBe(3);
    expect((await get(id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_LINK_SENT);
    await advance(DAY);
    await expect.poll(async () => (await get(id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_EXPIRED);
    await expect.poll(() => smsTo(phone).some((m) => m.body.includes("has expired"))).toBe(true);
    expect(smsTo(phone).filter((m) => m.body.startsWith("Reminder"))).toHaveLength(3);
    const hook = await stack.webhooks.waitForDelivery(
      (d) =>
        (d.json as { type: string; data: { workflow_id: string } }).type === "workflow.expired" &&
        (d.json as { data: { workflow_id: string } }).data.workflow_id === id,
    );
    expect(hook.verified).toBe(true);
    const h = await history(id);
    expect(h.notifications.map((n) => n.origin)).toEqual([
      "INITIAL",
      "REMINDER",
      "REMINDER",
      "REMINDER",
      "EXPIRY",
    ]);
    expect(await customer.open()).toBe("This link has expired");
    // And in a phone browser.
    const browser = await launchChromium();
    try {
      const page = await browser.newPhonePage();
      await page.goto(customer.link);
      expect(await page.title()).toBe("This link has expired");
      expect(await page.textContent("h1")).toContain("expired");
      await saveScreenshot(page, "link-expired");
    } finally {
      await browser.close();
    }
    // Nothing more happens after expiry.
    await advance(10 * DAY);
    expect(smsTo(phone)).toHaveLength(5);
  });

  it("extend then complete; resend shows as MANUAL; cancel stops everything", async () => {
    const phone = "+14155552002";
    const { id, customer } = await create("welcome", phone, "extend-1");
    await advance(6 * DAY);
    const extended = await call(
      stack.api,
      "extendExpiry",
      { workflowId: id, extendBy: { seconds: 7 * 86_400, nanos: 0 }, idempotencyKey: "extend-1-a" },
      { metadata: stack.auth() },
    );
    expect(extended.workflow!.expireAt!.getTime()).toBeGreaterThan(clock.now() + 7 * DAY);
    await advance(2 * DAY); // past the original expiry
    expect((await get(id)).status).not.toBe(WorkflowStatus.WORKFLOW_STATUS_EXPIRED);

    await call(
      stack.api,
      "resendLink",
      { workflowId: id, channel: 0, idempotencyKey: "resend-1" },
      { metadata: stack.auth() },
    );
    await expect.poll(async () => (await history(id)).notifications.map((n) => n.origin)).toContain("MANUAL");

    await customer.open();
    await customer.submit({ first_name: "Dorothy", last_name: "Vaughan", decision: "approve" });
    await customer.waitFor("All done");
    expect((await get(id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);

    const other = await create("welcome", "+14155552003", "cancel-1");
    const cancelled = await call(
      stack.api,
      "cancelWorkflow",
      { workflowId: other.id, reason: "sent by mistake", idempotencyKey: "cancel-1-a" },
      { metadata: stack.auth() },
    );
    expect(cancelled.workflow!.status).toBe(WorkflowStatus.WORKFLOW_STATUS_CANCELLED);
    expect(await other.customer.open()).toBe("This request was cancelled");
    await expect(
      call(
        stack.api,
        "cancelWorkflow",
        { workflowId: other.id, reason: "", idempotencyKey: "cancel-1-b" },
        { metadata: stack.auth() },
      ),
    ).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    const before = smsTo("+14155552003").length;
    await advance(8 * DAY);
    expect(smsTo("+14155552003")).toHaveLength(before);
  });

  it("a suspended customer's payment is refused and the workflow fails with the reason", async () => {
    const accounts = new AccountsServiceClient(stack.node.internalAddress, credentials.createInsecure());
    const phone = "+14155552004";
    const { customer: cus } = await call(accounts, "createCustomer", {
      businessId: stack.business.businessId,
      idempotencyKey: "suspended-customer-1",
      profile: {
        $case: "individual",
        value: { firstName: "Sus", lastName: "Pended", email: "", phone, addresses: [] },
      },
      externalId: "",
    });
    await call(accounts, "setCustomerStatus", {
      businessId: stack.business.businessId,
      customerId: cus!.id,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: "fraud review",
      idempotencyKey: "suspend-1",
    } as never);
    accounts.close();
    const { id, customer } = await create("onboard_and_pay", phone, "suspended-1", {
      inputs: { amount: "75.00 USD" },
      customerId: cus!.id,
    });
    await completeOnboarding(customer, "000555666777");
    await expect.poll(async () => (await get(id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_FAILED);
    const wf = await get(id);
    expect(wf.failureReason).toMatch(/suspended/i);
    expect(wf.steps.find((s) => s.id === "payout")?.status).toBeDefined();
    await stack.webhooks.waitForDelivery(
      (d) =>
        (d.json as { type: string; data: { workflow_id: string } }).type === "workflow.failed" &&
        (d.json as { data: { workflow_id: string } }).data.workflow_id === id,
    );
  });

  it("an ACH return after completion reaches the customer by SMS, the business by webhook and the history", async () => {
    const phone = "+14155552005";
    const { id, customer } = await create("onboard_and_pay", phone, "ach-return-1", {
      inputs: { amount: "42.00 USD" },
    });
    await completeOnboarding(customer, "000123459901"); // R01 after settlement
    await customer.waitFor("All done");
    expect((await get(id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
    for (let i = 0; i < 4; i++) await advance(DAY);
    await expect
      .poll(() => smsTo(phone).some((m) => m.body.includes("Your payment is returned")), { timeout: 10_000 })
      .toBe(true);
    const hook = await stack.webhooks.waitForDelivery(
      (d) =>
        (d.json as { type: string }).type === "transaction.status_changed" &&
        (d.json as { data: { workflow_id?: string; status?: string } }).data.workflow_id === id &&
        /returned/i.test(String((d.json as { data: { status?: string } }).data.status)),
    );
    expect(JSON.stringify(hook.json)).toContain("R01");
    const h = await history(id);
    const statuses = h.events
      .filter((e) => e.type === "transaction.status_changed")
      .map((e) => JSON.parse(e.dataJson).status);
    expect(statuses).toEqual(expect.arrayContaining(["processing", "settled", "returned"]));
    // Exactly one transaction for the workflow.
    const txns = new TransactionsServiceClient(stack.node.internalAddress, credentials.createInsecure());
    const list = (await call(txns, "listTransactions", {
      businessId: stack.business.businessId,
      customerId: (await get(id)).customerId,
    } as never)) as { transactions: { workflowId: string }[] };
    txns.close();
    expect(list.transactions.filter((t) => t.workflowId === id)).toHaveLength(1);
  });

  it("a running workflow keeps the template version it started with when a new version is published", async () => {
    const phone = "+14155552006";
    const { id, customer } = await create("welcome", phone, "pinned-1");
    const v2 = `template welcome "Welcome aboard (v2)" version 2

link {
  send via sms
  expires in 7 days
}

step profile "Tell us about you" {
  collect individual { first_name, last_name, email required }
}

step terms "Terms" {
  accept "terms-of-service" version "2026-01"
}

on completed { notify business }
`;
    await stack.node.templates.publish("*", v2, "welcome-v2.flow");
    // The running workflow still has v1's single step, without the required email.
    expect((await get(id)).templateVersion).toBe(1);
    await customer.open();
    expect(customer.title).toBe("Confirm your details");
    await customer.submit({ first_name: "Annie", last_name: "Easley", decision: "approve" });
    await customer.waitFor("All done");
    const done = await get(id);
    expect(done.status).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
    expect(done.steps.map((s) => s.id)).toEqual(["profile"]);
    // New workflows get the new version.
    const next = await create("welcome", "+14155552007", "pinned-2");
    const wf2 = await get(next.id);
    expect(wf2.templateVersion).toBe(2);
    expect(wf2.steps.map((s) => s.id)).toEqual(["profile", "terms"]);
  });
});
