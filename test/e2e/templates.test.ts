import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountsServiceClient, FinancialAccountSource, WorkflowStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { type ChromiumHandle, saveScreenshot } from "../infra/index.ts";
import { startBrowserStack, stopBrowserStack } from "../support/browser-stack.ts";
import { CustomerOnPhone } from "../support/customer.ts";
import { linkIn, type Stack } from "../support/stack.ts";

let browser: ChromiumHandle;
let stack: Stack;

beforeAll(async () => {
  ({ browser, stack } = await startBrowserStack({ transport: "nats", nodes: 3, smtp: true }));
});
afterAll(() => stopBrowserStack({ browser, stack }));

async function create(
  template: string,
  key: string,
  who: { phone?: string; email?: string },
  inputs: Record<string, string> = {},
) {
  const res = await call(
    stack.api,
    "createWorkflow",
    {
      templateName: template,
      templateVersion: 0,
      inputs,
      customerPhone: who.phone ?? "",
      customerEmail: who.email ?? "",
      customerId: "",
      channel: 0,
      externalId: key,
      memo: "",
      idempotencyKey: key,
    },
    { metadata: stack.auth() },
  );
  return res.workflow!.id;
}

const status = async (id: string) =>
  (await call(stack.api, "getWorkflow", { workflowId: id }, { metadata: stack.auth() })).workflow!.status;

async function emailedLink(to: string): Promise<string> {
  const mail = await stack.smtp!.waitForMessage((m) => m.to.includes(to) && m.text.includes("/l/"));
  return linkIn(mail.text);
}

const pdf = (n: number) => ({
  name: `statement-${n}.pdf`,
  mimeType: "application/pdf",
  buffer: Buffer.from(`%PDF-1.4\n% statement ${n}\n%%EOF\n`),
});
const png = (name: string) => ({
  name,
  mimeType: "image/png",
  buffer: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]),
});

async function checkAll(c: CustomerOnPhone) {
  for (const box of await c.page.getByRole("checkbox").all()) await box.check();
}

describe("every example template, through the API and the customer page in Chromium (three nodes over NATS)", () => {
  it("terms_only: the link arrives by email; accepting both documents completes it", async () => {
    const email = "terms@example.com";
    const id = await create("terms_only", "terms-1", { email });
    const page = await browser.newPhonePage();
    const c = new CustomerOnPhone(page, stack.twilio, "");
    await page.goto(await emailedLink(email));
    await c.waitForTitle("Updated terms");
    expect(await page.textContent("main")).toContain("Privacy Policy");
    // Each document's own text is on the page, a paragraph per blank-line-separated block.
    expect(await page.locator("section.doc .doc-text p").allTextContents()).toEqual([
      "These terms govern your use of the service.",
      "You may close your account at any time. Payments already sent are not reversed.",
      "We keep your contact details and payment accounts only to provide the service.",
      "We never sell your data.",
    ]);
    await saveScreenshot(page, "terms-only");
    await checkAll(c);
    await c.continue();
    await c.waitForTitle("All done");
    await page.context().close();
    expect(await status(id)).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
  });

  it("vixo_invite: bank linked through the provider waterfall, statements uploaded, identity verified, thank-you email", async () => {
    const email = "applicant@example.com";
    const id = await create("vixo_invite", "vixo-1", { email }, { company: "Acme Lending" });
    const page = await browser.newPhonePage();
    const c = new CustomerOnPhone(page, stack.twilio, "");
    await page.goto(await emailedLink(email));
    await c.waitForTitle("About you");
    await c.fill({
      "First name": "Ada",
      "Last name": "Byron",
      Email: email,
      "Mobile number": "+14155554001",
    });
    await c.continue();

    await c.waitForTitle("Link your bank account");
    await saveScreenshot(page, "vixo-bank");
    // Wrong credentials stop the waterfall with a message; Tartan Bank is not on Plaid, so Finicity links it.
    await page.getByLabel("Your bank").selectOption({ label: "Tartan Bank" });
    await c.fill({ "Online banking username": "user_good", "Online banking password": "wrong" });
    await c.continue("Connect bank");
    await expect.poll(() => page.locator("#f-username-err").textContent()).toContain("did not accept");
    await page.getByLabel("Your bank").selectOption({ label: "Tartan Bank" });
    await c.fill({ "Online banking username": "user_good", "Online banking password": "pass_good" });
    await c.continue("Connect bank");

    await c.waitForTitle("Upload your statements");
    // Too few files, and a file that only pretends to be a PDF, are refused.
    await page
      .getByLabel("Files")
      .setInputFiles([
        pdf(1),
        { name: "fake.pdf", mimeType: "application/pdf", buffer: Buffer.from("not a pdf") },
      ]);
    await c.continue();
    await expect.poll(() => page.locator("#f-files-err").textContent()).toBeTruthy();
    await page.getByLabel("Files").setInputFiles([pdf(1), pdf(2), pdf(3)]);
    await c.continue();

    await c.waitForTitle("Verify your identity");
    await page.getByLabel("A photo of your ID document").setInputFiles(png("id.png"));
    await page.getByLabel("A selfie").setInputFiles(png("selfie.png"));
    await saveScreenshot(page, "vixo-identity");
    await c.continue();
    await c.waitForTitle("All done");
    await page.context().close();
    expect(await status(id)).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);

    const thanks = await stack.smtp!.waitForMessage(
      (m) => m.to.includes(email) && m.subject === "Application complete",
    );
    expect(thanks.text).toContain("Thanks Ada, Acme Lending has everything it needs.");
    const uploads = await stack.node
      .sql`select kind, content_type from workflows.uploads where workflow_id = ${id} order by kind`;
    expect(uploads.map((u) => u.content_type).sort()).toEqual([
      "application/pdf",
      "application/pdf",
      "application/pdf",
      "image/png",
      "image/png",
    ]);
    expect(uploads).toHaveLength(5);
    // The linked account came from Finicity and only its last four digits are kept.
    const accounts = new AccountsServiceClient(stack.node.internalAddress, credentials.createInsecure());
    const wf = (await call(stack.api, "getWorkflow", { workflowId: id }, { metadata: stack.auth() }))
      .workflow!;
    const list = (await call(accounts, "listFinancialAccounts", {
      businessId: stack.business.businessId,
      customerId: wf.customerId,
    } as never)) as { financialAccounts: { source: number; numberMasked: string }[] };
    accounts.close();
    expect(list.financialAccounts.map((a) => a.source)).toEqual([
      FinancialAccountSource.FINANCIAL_ACCOUNT_SOURCE_FINICITY,
    ]);
    expect(list.financialAccounts[0]?.numberMasked).toMatch(/^••••\d{4}$/);
  });

  it("rent_collection: lookup, manual bank account, authorization, then an ACH debit", async () => {
    const phone = "+14155554002";
    const id = await create("rent_collection", "rent-1", { phone }, { rent: "1200.00 USD", unit: "4B" });
    const sms = await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
    const page = await browser.newPhonePage();
    const c = new CustomerOnPhone(page, stack.twilio, phone);
    await page.goto(linkIn(sms.body));
    await c.waitForTitle("Confirm it's you");
    await c.continue();
    await c.waitForTitle("Your bank account");
    await c.fill({
      "Routing number": "011000015",
      "Account number": "000111222333",
      "Name on the account": "Tenant",
    });
    await c.continue();
    await c.waitForTitle("Rent payment authorization");
    await checkAll(c);
    await c.continue();
    await c.waitForTitle("Pay your rent");
    expect(await page.textContent("main")).toContain("You will pay 1200.00 USD");
    await c.continue("Approve");
    await c.waitForTitle("All done");
    await page.context().close();
    expect(await status(id)).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
    await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("Rent for unit 4B"), 15_000);
  });

  it("ach_debit_collection: SMS and email, one-time code, bank via Plaid, mandate, debit", async () => {
    const phone = "+14155554003";
    const email = "payer@example.com";
    const id = await create(
      "ach_debit_collection",
      "ach-debit-1",
      { phone, email },
      { amount: "310.00 USD", invoice: "INV-7" },
    );
    expect(await emailedLink(email)).toContain("/l/");
    const sms = await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("/l/"));
    const page = await browser.newPhonePage();
    const c = new CustomerOnPhone(page, stack.twilio, phone);
    await page.goto(linkIn(sms.body));
    await c.waitForTitle("Enter your code");
    await c.enterCode(await c.latestCode());
    await c.waitForTitle("Confirm your details");
    await c.fill({ "First name": "Pat", "Last name": "Payer", Email: email });
    await c.continue();
    await c.waitForTitle("Which account should we debit?");
    await page.getByLabel("Your bank").selectOption({ label: "First Platypus Bank" });
    await c.fill({ "Online banking username": "user_good", "Online banking password": "pass_good" });
    await c.continue("Connect bank");
    await c.waitForTitle("Authorize the debit");
    await checkAll(c);
    await c.continue();
    await c.waitForTitle("Review your payment");
    await c.continue("Approve");
    await c.waitForTitle("All done");
    await page.context().close();
    expect(await status(id)).toBe(WorkflowStatus.WORKFLOW_STATUS_COMPLETED);
    await stack.twilio.waitForMessage((m) => m.to === phone && m.body.includes("Invoice INV-7"), 15_000);
  });
});
