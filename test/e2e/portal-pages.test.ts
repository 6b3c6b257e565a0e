import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../core/index.ts";
import { WorkflowStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import type { ChromiumHandle } from "../infra/index.ts";
import { startBrowserStack, stopBrowserStack } from "../support/browser-stack.ts";
import { CustomerOnPhone } from "../support/customer.ts";
import { Screenshots } from "../support/screenshots.ts";
import { linkIn, type Stack } from "../support/stack.ts";

/** The budget for one page: its HTML and everything it loads. */
const PAGE_BUDGET = 50 * 1024;

let browser: ChromiumHandle;
let stack: Stack;
/** Time moves only when a test says so (to reach an expired link without waiting). */
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  ({ browser, stack } = await startBrowserStack({ transport: "local", clock }));
});
afterAll(() => stopBrowserStack({ browser, stack }));

/**
 * What each page the customer reached weighed: the bytes of its HTML plus
 * every resource it loaded (the stylesheet is cached after the first page, so
 * its size is added to every page, as a first visit would pay it).
 */
class PageWeights {
  readonly pages = new Map<string, number>();
  readonly scripts: string[] = [];
  #documents: Promise<number>[] = [];
  #stylesheets = new Map<string, Promise<number>>();

  watch(page: Page): void {
    page.on("response", (r) => {
      const type = r.request().resourceType();
      if (type === "script") this.scripts.push(r.url());
      if (r.status() >= 300 && r.status() < 400) return;
      const size = r.body().then(
        (b) => b.length,
        () => 0,
      );
      if (type === "document") this.#documents.push(size);
      else this.#stylesheets.set(r.url(), size);
    });
  }

  #shots = new Screenshots();

  /** Records the page now shown under `label`, and saves its screenshot (error states included). */
  async weigh(label: string, page: Page): Promise<number> {
    await this.#shots.take(page, `weighed-${label}`);
    const docs = await Promise.all(this.#documents);
    const rest = await Promise.all(this.#stylesheets.values());
    const bytes = (docs.at(-1) ?? 0) + rest.reduce((a, b) => a + b, 0);
    expect(docs.at(-1), `${label}: its HTML was seen`).toBeGreaterThan(0);
    this.pages.set(label, bytes);
    return bytes;
  }
}

const weights = new PageWeights();

/** A phone's browser context, like `newPhonePage`, optionally with JavaScript turned off. */
async function phone(number: string, javaScriptEnabled = true): Promise<CustomerOnPhone> {
  const context = await browser.browser.newContext({
    viewport: { width: 390, height: 844 },
    screen: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: "en-US",
    javaScriptEnabled,
  });
  const page = await context.newPage();
  weights.watch(page);
  return new CustomerOnPhone(page, stack.twilio, number);
}

async function create(template: string, to: string, key: string, inputs: Record<string, string> = {}) {
  const { workflow } = await call(
    stack.api,
    "createWorkflow",
    {
      templateName: template,
      templateVersion: 0,
      inputs,
      customerPhone: to.startsWith("+") ? to : "",
      customerEmail: to.includes("@") ? to : "",
      customerId: "",
      channel: 0,
      externalId: key,
      memo: "Your April payout from Acme",
      idempotencyKey: key,
    },
    { metadata: stack.auth() },
  );
  return workflow!.id;
}

const pdf = (n: number) => ({
  name: `statement-${n}.pdf`,
  mimeType: "application/pdf",
  buffer: Buffer.from(`%PDF-1.4\n% statement ${n}\n%%EOF\n`),
});

const codesTo = (to: string) =>
  stack.twilio.messages
    .filter((m) => m.to === to && /verification code is \d{6}/.test(m.body))
    .map((m) => /verification code is (\d{6})/.exec(m.body)![1]!);

const smsLink = async (to: string) =>
  linkIn((await stack.twilio.waitForMessage((m) => m.to === to && m.body.includes("/l/"))).body);

const getWorkflow = async (id: string) =>
  (await call(stack.api, "getWorkflow", { workflowId: id }, { metadata: stack.auth() })).workflow!;

describe("the customer page without JavaScript, on two phones", () => {
  it("a customer with JavaScript off starts on one phone, resumes on another where they left off, and declines with their own reason", async () => {
    const number = "+14155556001";
    const id = await create("onboard_and_pay", number, "nojs-1", { amount: "75.00 USD" });
    const link = await smsLink(number);

    const first = await phone(number, false);
    await first.page.goto(link);
    await first.waitForTitle("Enter your code");
    await weights.weigh("code", first.page);
    expect(await first.page.textContent("header")).toContain("Acme Payroll");
    await expect.poll(() => codesTo(number).length).toBe(1);
    const [code] = codesTo(number);
    await first.enterCode(code === "000000" ? "111111" : "000000");
    await expect.poll(() => first.page.locator("#f-code-err").textContent()).toContain("4 attempts left");
    expect(await first.page.locator("#f-code-err").getAttribute("role")).toBe("alert");
    await weights.weigh("code, wrong", first.page);
    await first.enterCode(code!);

    // The profile: a business name, the memo, a progress indicator, and errors next to their fields.
    await first.waitForTitle("Confirm your details");
    await weights.weigh("profile", first.page);
    const main = first.page.locator("main");
    expect(await main.textContent()).toContain("Your April payout from Acme");
    expect(await first.page.locator(".progress").textContent()).toBe("Step 1 of 4");
    await first.fill({ "Last name": "Hamilton", Email: "not an email" });
    await first.continue();
    await expect.poll(() => first.page.locator("#f-first_name").getAttribute("aria-invalid")).toBe("true");
    await weights.weigh("profile, invalid", first.page);
    for (const name of ["first_name", "email"]) {
      const input = first.page.locator(`#f-${name}`);
      expect(await input.getAttribute("aria-invalid"), name).toBe("true");
      expect(await input.getAttribute("aria-describedby"), name).toContain(`f-${name}-err`);
      expect(await first.page.locator(`#f-${name}-err`).textContent(), name).toBeTruthy();
    }
    expect(await first.page.locator("#f-last_name").getAttribute("aria-invalid")).toBeNull();
    expect(await first.page.locator("#errors").getAttribute("role")).toBe("alert");
    // What was typed is kept.
    expect(await first.page.getByLabel("Last name", { exact: true }).inputValue()).toBe("Hamilton");
    await first.fill({ "First name": "Margaret", Email: "margaret@example.com" });
    await first.continue();
    await first.waitForTitle("Where should we send the money?");
    await weights.weigh("financial account", first.page);
    expect(await first.page.locator(".progress").textContent()).toBe("Step 2 of 4");
    await first.page.context().close();

    // Another phone: a new session must prove the phone again, then lands on the step left off.
    const second = await phone(number, false);
    await second.page.goto(link);
    await second.waitForTitle("Enter your code");
    await expect.poll(() => codesTo(number).length).toBe(2);
    await second.enterCode(codesTo(number)[1]!);
    await second.waitForTitle("Where should we send the money?");
    expect((await getWorkflow(id)).currentStep).toBe("bank");
    await second.page.getByLabel("Bank account", { exact: true }).check();
    await second.fill({
      "Routing number": "011000015",
      "Account number": "000444555666",
      "Name on the account": "Margaret Hamilton",
    });
    await second.continue();

    await second.waitForTitle("Terms");
    await weights.weigh("documents", second.page);
    // Each document is shown with its version before it is accepted.
    expect(await second.page.locator("section.doc").first().textContent()).toContain("version 2024-03");
    for (const box of await second.page.getByRole("checkbox").all()) await box.check();
    await second.continue();

    await second.waitForTitle("Review your payment");
    await weights.weigh("transaction", second.page);
    expect(await second.page.textContent("main")).toContain("75.00 USD");
    await second.page.getByLabel("Other", { exact: true }).check();
    await second.page.getByLabel("Your reason").fill("I already have a payout set up");
    await second.page.getByRole("button", { name: "Decline" }).click();
    await second.waitForTitle("Declined");
    await weights.weigh("declined", second.page);
    await second.page.context().close();

    const got = await getWorkflow(id);
    expect(got.status).toBe(WorkflowStatus.WORKFLOW_STATUS_DECLINED);
    expect(got.declineReason).toBe("I already have a payout set up");
  });
});

describe("the weight of every kind of page", () => {
  it("a completed link, uploads, identity, a cancelled link, an unknown link, a refused form, a locked link and an expired link", async () => {
    // Completed.
    const done = "+14155556002";
    await create("welcome", done, "weights-welcome");
    const a = await phone(done);
    await a.page.goto(await smsLink(done));
    await a.waitForTitle("Confirm your details");
    await a.fill({ "First name": "Katherine", "Last name": "Johnson" });
    await a.continue();
    await a.waitForTitle("All done");
    await weights.weigh("completed", a.page);

    // Unknown link: the same address with one character changed.
    const url = new URL(a.page.url());
    const token = url.pathname.split("/l/")[1]!;
    await a.page.goto(new URL(`/l/${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`, url).href);
    await a.waitForTitle("Link not found");
    await weights.weigh("not found", a.page);
    await a.page.context().close();

    // Cancelled.
    const gone = "+14155556003";
    const cancelled = await create("welcome", gone, "weights-cancelled");
    const link = await smsLink(gone);
    await call(
      stack.api,
      "cancelWorkflow",
      { workflowId: cancelled, reason: "sent by mistake", idempotencyKey: "" },
      { metadata: stack.auth() },
    );
    const b = await phone(gone);
    await b.page.goto(link);
    await b.waitForTitle("This request was cancelled");
    await weights.weigh("cancelled", b.page);
    await b.page.context().close();

    // Uploads and identity (vixo_invite, sent by email), with a refused upload.
    const email = "weights@example.com";
    const vixo = await create("vixo_invite", email, "weights-vixo", { company: "Acme Lending" });
    const { linkUrl } = await call(
      stack.api,
      "getWorkflowLink",
      { workflowId: vixo },
      { metadata: stack.auth() },
    );
    const c = await phone("");
    await c.page.goto(linkUrl);
    await c.waitForTitle("About you");
    await c.fill({
      "First name": "Ada",
      "Last name": "Byron",
      Email: email,
      "Mobile number": "+14155556004",
    });
    await c.continue();
    await c.waitForTitle("Link your bank account");
    await weights.weigh("financial account, bank link", c.page);
    await c.page.getByLabel("Your bank").selectOption({ label: "First Platypus Bank" });
    await c.fill({ "Online banking username": "user_good", "Online banking password": "pass_good" });
    await c.continue("Connect bank");
    await c.waitForTitle("Upload your statements");
    await weights.weigh("uploads", c.page);
    await c.page.getByLabel("Files").setInputFiles([pdf(1)]);
    await c.continue();
    await expect.poll(() => c.page.locator("#f-files-err").textContent()).toBeTruthy();
    await weights.weigh("uploads, refused", c.page);
    await c.page.getByLabel("Files").setInputFiles([pdf(1), pdf(2), pdf(3)]);
    await c.continue();
    await c.waitForTitle("Verify your identity");
    await weights.weigh("identity", c.page);
    await c.page.context().close();

    // A forged CSRF token, then a wrong code until the link locks.
    const locked = "+14155556005";
    await create("onboard_and_pay", locked, "weights-locked", { amount: "5.00 USD" });
    const d = await phone(locked);
    await d.page.goto(await smsLink(locked));
    await d.waitForTitle("Enter your code");
    await expect.poll(() => codesTo(locked).length).toBe(1);
    const wrong = codesTo(locked)[0] === "000000" ? "111111" : "000000";
    await d.page
      .locator('input[name="_csrf"]')
      .first()
      .evaluate((el) => {
        (el as unknown as { value: string }).value = "forged";
      });
    await d.enterCode(codesTo(locked)[0]!);
    await d.waitForTitle("This form has expired");
    await weights.weigh("refused form", d.page);
    await d.page.goBack();
    await d.page.reload();
    await d.waitForTitle("Enter your code");
    for (let i = 0; i < 5; i++) await d.enterCode(wrong);
    await d.waitForTitle("Too many attempts");
    await weights.weigh("locked", d.page);
    await d.page.context().close();

    // Expired: a week and a day later.
    const late = "+14155556006";
    const expiring = await create("welcome", late, "weights-expired");
    const lateLink = await smsLink(late);
    clock.advance(8 * 86_400_000);
    await expect
      .poll(async () => (await getWorkflow(expiring)).status, { timeout: 30_000 })
      .toBe(WorkflowStatus.WORKFLOW_STATUS_EXPIRED);
    const e = await phone(late);
    await e.page.goto(lateLink);
    await e.waitForTitle("This link has expired");
    await weights.weigh("expired", e.page);
    await e.page.context().close();

    const every = [
      "code",
      "code, wrong",
      "profile",
      "profile, invalid",
      "financial account",
      "financial account, bank link",
      "documents",
      "uploads",
      "uploads, refused",
      "identity",
      "transaction",
      "declined",
      "completed",
      "cancelled",
      "expired",
      "not found",
      "refused form",
      "locked",
    ];
    for (const label of every) {
      const bytes = weights.pages.get(label);
      expect(bytes, `${label} was weighed`).toBeGreaterThan(0);
      expect(bytes, `${label}: ${bytes} bytes`).toBeLessThan(PAGE_BUDGET);
    }
    // No page needs a script.
    expect(weights.scripts).toEqual([]);
  });
});
