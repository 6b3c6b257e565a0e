import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../core/index.ts";
import {
  AccountsServiceClient,
  CustomerStatus,
  StepStatus,
  TransactionsServiceClient,
  WorkflowStatus,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { type ChromiumHandle, launchChromium, saveScreenshot } from "../infra/index.ts";
import { CustomerOnPhone } from "../support/customer.ts";
import { HttpCustomer } from "../support/http-customer.ts";
import { linkIn, type Stack, startStack } from "../support/stack.ts";

const DAY = 86_400_000;
let stack: Stack;
let clock: ManualClock;
let browser: ChromiumHandle;

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  browser = await launchChromium();
  // Three runtime nodes over a real nats-server with Redis, sharing Postgres; time moves only when the test says so.
  stack = await startStack({ transport: "nats", nodes: 3, clock });
});
afterAll(async () => {
  await stack?.stop();
  await browser?.close();
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

/**
 * Moves the clock, then waits until every node has fired the timers now due
 * and run the effects they caused (the SMS are at the Twilio server by then):
 * an assertion that nothing happened is only meaningful after that.
 */
async function advance(ms: number) {
  clock.advance(ms);
  const now = clock.now();
  await expect
    .poll(
      async () => {
        const [row] = await stack.node.sql<{ n: number }[]>`
          select (select count(*) from runtime.timers where fire_at <= ${now}::bigint)::int
               + (select count(*) from runtime.effects)::int as n`;
        return row!.n;
      },
      { timeout: 30_000 },
    )
    .toBe(0);
}

const smsTo = (phone: string) => stack.twilio.messages.filter((m) => m.to === phone);

async function history(id: string) {
  return call(stack.api, "getWorkflowHistory", { workflowId: id }, { metadata: stack.auth() });
}

/**
 * The customer goes through onboard_and_pay on a phone (code, profile, bank
 * account, terms) and approves the payout; the page is left open on whatever follows.
 */
async function completeOnboarding(c: HttpCustomer, account: string): Promise<CustomerOnPhone> {
  const page = await browser.newPhonePage();
  const phone = new CustomerOnPhone(page, stack.twilio, c.phone!);
  await page.goto(c.link);
  await phone.waitForTitle("Enter your code");
  await phone.enterCode(await phone.latestCode());
  await phone.waitForTitle("Confirm your details");
  await phone.fill({ "First name": "Mary", "Last name": "Jackson", Email: "mary@example.com" });
  await phone.continue();
  await phone.waitForTitle("Where should we send the money?");
  await page.getByLabel("Bank account", { exact: true }).check();
  await phone.fill({
    "Routing number": "011000015",
    "Account number": account,
    "Name on the account": "Mary Jackson",
  });
  await phone.continue();
  await phone.waitForTitle("Terms");
  for (const box of await page.getByRole("checkbox").all()) await box.check();
  await phone.continue();
  await phone.waitForTitle("Review your payment");
  await phone.continue("Approve");
  return phone;
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

  it("extend re-arms expiry and reminders; resend shows as MANUAL; completed in Chromium; cancel stops everything", async () => {
    const phone = "+14155552002";
    const { id } = await create("welcome", phone, "extend-1");
    const reminders = () => smsTo(phone).filter((m) => m.body.startsWith("Reminder")).length;
    // welcome: expires in 7 days, a reminder every 2 days (days 2, 4 and 6; day 8 is past the expiry).
    for (let d = 0; d < 3; d++) await advance(2 * DAY);
    expect(reminders()).toBe(3);
    const extended = await call(
      stack.api,
      "extendExpiry",
      { workflowId: id, extendBy: { seconds: 7 * 86_400, nanos: 0 }, idempotencyKey: "extend-1-a" },
      { metadata: stack.auth() },
    );
    expect(extended.workflow!.expireAt!.getTime()).toBeGreaterThan(clock.now() + 7 * DAY);
    await advance(2 * DAY); // day 8: past the original expiry, and a reminder the extension re-armed
    expect((await get(id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_LINK_SENT);
    expect(reminders()).toBe(4);

    const links = () => smsTo(phone).filter((m) => m.body.includes("/l/"));
    const before = links().length;
    await call(
      stack.api,
      "resendLink",
      { workflowId: id, channel: 0, idempotencyKey: "resend-1" },
      { metadata: stack.auth() },
    );
    await expect.poll(() => links().length).toBe(before + 1);
    const origins = (await history(id)).notifications.map((n) => n.origin);
    expect(origins.filter((o) => o === "MANUAL")).toHaveLength(1);
    expect(origins.filter((o) => o === "REMINDER")).toHaveLength(4);

    // The customer completes the resent link on a phone.
    const page = await browser.newPhonePage();
    const c = new CustomerOnPhone(page, stack.twilio, phone);
    await page.goto(linkIn(links().at(-1)!.body));
    await c.waitForTitle("Confirm your details");
    await c.fill({ "First name": "Dorothy", "Last name": "Vaughan" });
    await c.continue();
    await c.waitForTitle("All done");
    await page.context().close();
    expect((await get(id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
    // Completion ends the reminder schedule.
    const sent = smsTo(phone).length;
    await advance(8 * DAY);
    expect(smsTo(phone)).toHaveLength(sent);

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
    // No reminder and no expiry notice after a cancel, and the workflow stays cancelled.
    const cancelledSms = smsTo("+14155552003").length;
    await advance(8 * DAY);
    expect(smsTo("+14155552003")).toHaveLength(cancelledSms);
    expect((await get(other.id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_CANCELLED);
  });

  it("a failing activity is retried per the policy, then its step is FAILED with a reason for the business", async () => {
    const phone = "+14155552008";
    const { id, customer } = await create("welcome", phone, "retry-1");
    const sql = stack.node.sql;
    // While this trigger is in place Postgres refuses every new customer, so the accounts service
    // answers INTERNAL (a failure worth retrying); the sequence counts the tries, rolled back or not.
    await sql.unsafe(`
      create sequence public.e2e_customer_tries;
      create function public.e2e_refuse_customers() returns trigger language plpgsql as $$
        begin perform nextval('public.e2e_customer_tries'); raise exception 'refused by the test'; end $$;
      create trigger e2e_refuse_customers before insert on accounts.customers
        for each row execute function public.e2e_refuse_customers();`);
    try {
      const page = await browser.newPhonePage();
      const c = new CustomerOnPhone(page, stack.twilio, phone);
      await page.goto(customer.link);
      await c.waitForTitle("Confirm your details");
      await c.fill({ "First name": "Mae", "Last name": "Jemison" });
      await c.continue();
      await expect
        .poll(async () => (await get(id)).status, { timeout: 30_000 })
        .toBe(WorkflowStatus.WORKFLOW_STATUS_FAILED);
      await page.context().close();
    } finally {
      await sql.unsafe(`
        drop trigger e2e_refuse_customers on accounts.customers;
        drop function public.e2e_refuse_customers();`);
    }
    // The stack's policy is five attempts.
    const [tries] = await sql<{ n: string }[]>`select last_value::text as n from public.e2e_customer_tries`;
    expect(tries!.n).toBe("5");
    const wf = await get(id);
    expect(wf.steps.find((s) => s.id === "profile")?.status).toBe(StepStatus.STEP_STATUS_FAILED);
    expect(wf.failureReason).toMatch(/^step profile failed: .+ \(gave up after 5 attempts\)$/);
    const hook = await stack.webhooks.waitForDelivery(
      (d) =>
        (d.json as { type: string }).type === "workflow.failed" &&
        (d.json as { data: { workflow_id: string } }).data.workflow_id === id,
    );
    expect(JSON.stringify(hook.json)).toContain("gave up after 5 attempts");
    // A failed workflow sends no more reminders.
    const sent = smsTo(phone).length;
    await advance(8 * DAY);
    expect(smsTo(phone)).toHaveLength(sent);
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
    const onPhone = await completeOnboarding(customer, "000555666777");
    await expect.poll(async () => (await get(id)).status).toBe(WorkflowStatus.WORKFLOW_STATUS_FAILED);
    await onPhone.page.context().close();
    const wf = await get(id);
    expect(wf.failureReason).toMatch(/suspended/i);
    const payout = wf.steps.find((s) => s.id === "payout");
    expect(payout?.status).toBe(StepStatus.STEP_STATUS_FAILED);
    expect(wf.failureReason).toMatch(/^step payout failed: .*suspended/i);
    // Refused: no transaction was made for the workflow.
    const txns = new TransactionsServiceClient(stack.node.internalAddress, credentials.createInsecure());
    const list = (await call(txns, "listTransactions", {
      businessId: stack.business.businessId,
      customerId: cus!.id,
    } as never)) as { transactions: { workflowId: string }[] };
    txns.close();
    expect(list.transactions.filter((t) => t.workflowId === id)).toHaveLength(0);
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
    const onPhone = await completeOnboarding(customer, "000123459901"); // R01 after settlement
    await onPhone.waitForTitle("All done");
    await onPhone.page.context().close();
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
