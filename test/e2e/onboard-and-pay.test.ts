import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StepStatus, TransactionsServiceClient, WorkflowStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { type ChromiumHandle, saveScreenshot } from "../infra/index.ts";
import { startBrowserStack, stopBrowserStack } from "../support/browser-stack.ts";
import { CustomerOnPhone } from "../support/customer.ts";
import { linkIn, type Stack } from "../support/stack.ts";

let browser: ChromiumHandle;
let stack: Stack;

beforeAll(async () => {
  // The whole deployment: three runtime nodes over a real nats-server, Redis, SMTP, Twilio and webhooks.
  ({ browser, stack } = await startBrowserStack({ transport: "nats", nodes: 3, smtp: true }));
});
afterAll(() => stopBrowserStack({ browser, stack }));

async function create(phone: string, inputs: Record<string, string>, key: string) {
  return call(
    stack.api,
    "createWorkflow",
    {
      templateName: "onboard_and_pay",
      templateVersion: 0,
      inputs,
      customerPhone: phone,
      customerEmail: "",
      customerId: "",
      channel: 0,
      externalId: key,
      memo: "Your April payout",
      idempotencyKey: key,
    },
    { metadata: stack.auth() },
  );
}

async function openAndVerify(phone: string): Promise<CustomerOnPhone> {
  const sms = await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
  const page = await browser.newPhonePage();
  const customer = new CustomerOnPhone(page, stack.twilio, phone);
  await page.goto(linkIn(sms.body));
  await customer.waitForTitle("Enter your code");
  await customer.enterCode(await customer.latestCode());
  return customer;
}

/**
 * Confirms the customer's details, picks the debit card and accepts every
 * term, each page checked by its title, leaving the customer past the terms.
 */
async function toCardThroughTerms(c: CustomerOnPhone, first: string, last: string, email: string) {
  await c.waitForTitle("Confirm your details");
  await c.fill({ "First name": first, "Last name": last, Email: email });
  await c.continue();
  await c.waitForTitle("Where should we send the money?");
  await c.page.getByLabel("Debit card", { exact: true }).check();
  await c.fill({ "Card number": "4000056655665556", "Expiry (MM/YY)": "12/30" });
  await c.continue();
  await c.waitForTitle("Terms");
  for (const box of await c.page.getByRole("checkbox").all()) await box.check();
  await c.continue();
}

describe("onboard and pay, through the customer page in Chromium (three nodes over NATS)", () => {
  it("happy path: code, profile, bank account, terms, approve; the payout settles and the customer is told", async () => {
    const phone = "+14155551001";
    const { workflow } = await create(phone, { amount: "250.00 USD" }, "happy-path-1");
    const c = await openAndVerify(phone);

    await c.waitForTitle("Confirm your details");
    await saveScreenshot(c.page, "onboard-profile");
    await c.fill({ "First name": "Grace", "Last name": "Hopper", Email: "grace@example.com" });
    await c.continue();

    await c.waitForTitle("Where should we send the money?");
    await saveScreenshot(c.page, "onboard-bank");
    // A bad routing number is refused next to the field, and the account number is not echoed back.
    await c.page.getByLabel("Bank account", { exact: true }).check();
    await c.fill({
      "Routing number": "123456789",
      "Account number": "000555666777",
      "Name on the account": "Grace Hopper",
    });
    await c.continue();
    if (process.env.DEBUG_E2E)
      console.log("PAGE", await c.page.title(), (await c.page.textContent("main"))?.slice(0, 800));
    await expect.poll(() => c.page.locator("#f-routing_number-err").textContent()).toBeTruthy();
    expect(await c.page.content()).not.toContain("000555666777");
    await c.fill({ "Routing number": "011000015", "Account number": "000555666777" });
    await c.continue();

    await c.waitForTitle("Terms");
    await saveScreenshot(c.page, "onboard-terms");
    await c.continue();
    await expect.poll(() => c.page.locator(".summary").count()).toBe(1);
    for (const box of await c.page.getByRole("checkbox").all()) await box.check();
    await c.continue();

    await c.waitForTitle("Review your payment");
    expect(await c.page.textContent("main")).toContain("250.00 USD");
    expect(await c.page.textContent("main")).toContain("ending 6777");
    await saveScreenshot(c.page, "onboard-payout");
    await c.continue("Approve");

    await c.waitForTitle("All done");
    await saveScreenshot(c.page, "onboard-done");
    await c.page.context().close();

    const got = (
      await call(stack.api, "getWorkflow", { workflowId: workflow!.id }, { metadata: stack.auth() })
    ).workflow!;
    expect(got.status).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
    expect(got.steps.map((s) => s.id)).toEqual(["profile", "bank", "terms", "payout"]);

    // Exactly one transaction, created by this workflow, that settles on the simulated rails.
    const txns = new TransactionsServiceClient(stack.node.internalAddress, credentials.createInsecure());
    const list = await call(txns, "listTransactions", {
      businessId: stack.business.businessId,
      customerId: got.customerId,
    } as never);
    txns.close();
    const mine = (
      list as { transactions: { workflowId: string; amount?: { amountMinor: number } }[] }
    ).transactions.filter((t) => t.workflowId === workflow!.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.amount?.amountMinor).toBe(25_000);

    await stack.twilio.waitForMessage(
      (m) => m.to === phone && m.body.includes("Your payment is settled"),
      15_000,
    );
    const done = await stack.webhooks.waitForDelivery(
      (d) =>
        (d.json as { type?: string; data?: { workflow_id?: string } }).type === "workflow.completed" &&
        (d.json as { data: { workflow_id: string } }).data.workflow_id === workflow!.id,
    );
    expect(done.verified).toBe(true);
    // The template's completion handler emails the customer by name, through the SMTP server.
    const mail = await stack.smtp!.waitForMessage((m) => m.to.includes("grace@example.com"));
    expect(mail.text).toContain("All done, Grace.");
  });

  it("decline at the payout with a predefined reason, and with a free-text reason", async () => {
    for (const [i, reason] of ["Incorrect amount", "other"].entries()) {
      const phone = `+1415555110${i}`;
      const { workflow } = await create(phone, { amount: "99.00 USD" }, `decline-${i}`);
      const c = await openAndVerify(phone);
      await toCardThroughTerms(c, "Alan", "Turing", "alan@example.com");
      await c.waitForTitle("Review your payment");
      expect(await c.page.textContent("main")).toContain("instant transfer to your card");
      if (reason === "other") {
        // "Other" without a reason is refused with a message.
        await c.page.getByLabel("Other", { exact: true }).check();
        await c.page.getByRole("button", { name: "Decline" }).click();
        await expect.poll(() => c.page.locator("#decline-err").textContent()).toContain("why");
        await c.page.getByLabel("Your reason").fill("I was paid in cash already");
        await c.page.getByLabel("Other", { exact: true }).check();
      } else {
        await c.page.getByLabel(reason, { exact: true }).check();
      }
      await c.page.getByRole("button", { name: "Decline" }).click();
      await c.waitForTitle("Declined");
      await saveScreenshot(c.page, `decline-${i}`);
      await c.page.context().close();
      const got = (
        await call(stack.api, "getWorkflow", { workflowId: workflow!.id }, { metadata: stack.auth() })
      ).workflow!;
      expect(got.status).toBe(WorkflowStatus.WORKFLOW_STATUS_DECLINED);
      expect(got.declineReason).toBe(reason === "other" ? "I was paid in cash already" : reason);
      const hook = await stack.webhooks.waitForDelivery(
        (d) =>
          (d.json as { type?: string; data?: { workflow_id?: string } }).data?.workflow_id === workflow!.id &&
          (d.json as { type: string }).type === "workflow.declined",
      );
      expect(hook.json).toMatchObject({ data: { decline_reason: got.declineReason } });
    }
  });

  it("a step whose condition is false is skipped: 0.00 USD completes after the terms, with no payout", async () => {
    const phone = "+14155551401";
    const { workflow } = await create(phone, { amount: "0.00 USD" }, "skip-1");
    const c = await openAndVerify(phone);
    await toCardThroughTerms(c, "Hedy", "Lamarr", "hedy@example.com");
    await c.waitForTitle("All done");
    await c.page.context().close();
    const got = (
      await call(stack.api, "getWorkflow", { workflowId: workflow!.id }, { metadata: stack.auth() })
    ).workflow!;
    expect(got.status).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
    expect(got.steps.map((s) => [s.id, s.status])).toEqual([
      ["profile", StepStatus.STEP_STATUS_COMPLETED],
      ["bank", StepStatus.STEP_STATUS_COMPLETED],
      ["terms", StepStatus.STEP_STATUS_COMPLETED],
      ["payout", StepStatus.STEP_STATUS_SKIPPED],
    ]);
    const txns = new TransactionsServiceClient(stack.node.internalAddress, credentials.createInsecure());
    const list = (await call(txns, "listTransactions", {
      businessId: stack.business.businessId,
      customerId: got.customerId,
    } as never)) as { transactions: { workflowId: string }[] };
    txns.close();
    expect(list.transactions.filter((t) => t.workflowId === workflow!.id)).toHaveLength(0);
  });

  it("a wrong one-time code five times locks the link", async () => {
    const phone = "+14155551201";
    await create(phone, { amount: "10.00 USD" }, "lockout-1");
    const sms = await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
    const page = await browser.newPhonePage();
    const c = new CustomerOnPhone(page, stack.twilio, phone);
    await page.goto(linkIn(sms.body));
    await c.waitForTitle("Enter your code");
    const real = await c.latestCode();
    const wrong = real === "000000" ? "111111" : "000000";
    for (let i = 0; i < 4; i++) {
      await c.enterCode(wrong);
      await expect.poll(() => page.locator("#f-code-err").textContent()).toContain(`${4 - i}`);
    }
    await c.enterCode(wrong);
    await c.waitForTitle("Too many attempts");
    await saveScreenshot(page, "otp-locked");
    // Even the right code no longer works while locked.
    await page.goto(linkIn(sms.body));
    await c.waitForTitle("Too many attempts");
    await page.context().close();
  });

  it("a forged CSRF token is refused and changes nothing", async () => {
    const phone = "+14155551301";
    const { workflow } = await create(phone, { amount: "10.00 USD" }, "csrf-1");
    const c = await openAndVerify(phone);
    await c.waitForTitle("Confirm your details");
    await c.page
      .locator('input[name="_csrf"]')
      .first()
      .evaluate((el) => {
        (el as unknown as { value: string }).value = "forged";
      });
    await c.fill({ "First name": "Eve", "Last name": "Forger", Email: "eve@example.com" });
    await c.continue();
    await c.waitForTitle("This form has expired");
    await c.page.context().close();
    const got = (
      await call(stack.api, "getWorkflow", { workflowId: workflow!.id }, { metadata: stack.auth() })
    ).workflow!;
    expect(got.currentStep).toBe("profile");
    expect(got.status).not.toBe(WorkflowStatus.WORKFLOW_STATUS_IN_PROGRESS);
  });
});
