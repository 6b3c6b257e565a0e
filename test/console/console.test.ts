import { existsSync } from "node:fs";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FinancialAccountStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import type { ApiHarness } from "../api/harness.ts";
import { type ChromiumHandle, verifyWebhookSignature } from "../infra/index.ts";
import { CustomerOnPhone } from "../support/customer.ts";
import { HttpCustomer } from "../support/http-customer.ts";
import { linkIn } from "../support/stack.ts";
import { acceptedTerms, createCustomer, declinedWorkflow, startWorkflow } from "./fixtures.ts";
import { type ConsoleEnv, ConsolePage, DESKTOP, PASSWORD, startConsole } from "./setup.ts";

let env: ConsoleEnv;
let h: ApiHarness;
let browser: ChromiumHandle;
let base: string;

beforeAll(async () => {
  env = await startConsole();
  ({ h, browser, base } = env);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

describe("business console", () => {
  let ui: ConsolePage;
  let admin: Page;
  let completedId = "";
  /** The secret the walk-through rotated the stack's webhook subscription to. */
  let rotated = "";

  it("refuses a wrong password, then signs in with a CSP and no secrets in the page", async () => {
    const ctx = await env.desktop();
    ui = new ConsolePage(await ctx.newPage(), base, env.shots, env.neverShown);
    const page = ui.page;
    await ui.goto("/console/login");
    await page.getByLabel("Email").fill("admin@acme.test");
    await page.getByLabel("Password").fill("not the password at all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.textContent("[role=alert]")).toContain("not right");
    await ui.shot("wrong password");
    await page.getByLabel("Password").fill(PASSWORD);
    const resp = page.waitForResponse((r) => r.url().endsWith("/console/workflows"));
    await page.getByRole("button", { name: "Sign in" }).click();
    const r = await resp;
    expect(r.headers()["content-security-policy"]).toContain("script-src 'self'");
    // No API key of any business (and never the page source in a failure message: it would hold it).
    await ui.expectNoSecrets();
    expect((await page.content()).includes("lf_test_"), "the page holds an API key").toBe(false);
    admin = page;
    await ui.shot();
  });

  it("creates a workflow from a template with a preview, and watches it complete live", async () => {
    const phone = "+14155550161";
    await ui.goto(`/console/workflows/new`);
    await admin.getByLabel("Template", { exact: true }).selectOption("welcome");
    await admin.getByRole("button", { name: "Use template" }).click();
    await admin.getByLabel("Mobile phone").fill(phone);
    await admin.getByRole("button", { name: "Preview message" }).click();
    await expect
      .poll(() => admin.textContent("pre.preview"))
      .toContain('Acme Payroll asks you to complete "Welcome aboard"');
    await ui.shot("new workflow preview");
    await admin.getByRole("button", { name: "Create workflow" }).click();
    await admin.waitForURL(/\/console\/workflows\/wf_/);
    completedId = /\/(wf_[0-9a-z]+)$/.exec(admin.url())![1]!;

    // The customer finishes it on a phone in a second browser context; the business's tab
    // follows each stage without being reloaded (the marker would be gone after a reload).
    await admin.evaluate("window.__sameDocument = true");
    const sms = await h.stack.twilio.waitForMessage((m) => m.to === phone);
    await expect
      .poll(() => admin.getAttribute("#wf-facts [data-status]", "data-status"), { timeout: 20_000 })
      .toBe("link_sent");
    const customer = new CustomerOnPhone(await browser.newPhonePage(), h.stack.twilio, phone);
    await customer.page.goto(linkIn(sms.body));
    await customer.waitForTitle("Confirm your details");
    await expect
      .poll(() => admin.getAttribute("#wf-facts [data-status]", "data-status"), { timeout: 20_000 })
      .toMatch(/^(opened|in_progress)$/);
    await expect.poll(() => admin.textContent("#wf-timeline"), { timeout: 20_000 }).toContain("link.opened");
    await ui.shot("workflow opened by the customer");
    await customer.fill({ "First name": "Ada", "Last name": "Lovelace" });
    await customer.continue();
    await customer.page.waitForSelector("h1.done", { timeout: 15_000 });
    await customer.waitForTitle(await customer.title());
    await customer.page.context().close();

    // No reload: the live region updates and a notification pops up.
    await admin.locator('#wf-facts [data-status="completed"]').waitFor({ timeout: 20_000 });
    await admin
      .locator(".toast", { hasText: `completed workflow ${completedId}` })
      .waitFor({ timeout: 20_000 });
    expect(await admin.textContent("#wf-timeline")).toContain("workflow.completed");
    expect(await admin.evaluate("window.__sameDocument")).toBe(true);
    await ui.shot("workflow completed");

    // The list's search (through the form) finds it by phone, id and name, and not by another phone.
    await ui.goto("/console/workflows");
    const search = async (q: string) => {
      await admin.getByLabel("Search").fill(q);
      await admin.getByRole("button", { name: "Apply" }).click();
      await admin.waitForURL((u) => u.searchParams.get("q") === q);
      return (await admin.textContent("#workflow-table")) ?? "";
    };
    expect(await search(phone)).toContain(completedId);
    expect(await search(completedId)).toContain(completedId);
    expect(await search("Lovelace")).toContain(completedId);
    expect(await search("+14155550199")).not.toContain(completedId);
    await ui.shot("search without a match");
    // Filters by status, template and creation date, each also leaving it out when it does not match.
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const listed = async (query: string) => {
      await ui.goto(`/console/workflows?${query}`);
      return (await admin.textContent("#workflow-table")) ?? "";
    };
    expect(await listed("status=completed")).toContain(completedId);
    expect(await listed("status=declined")).not.toContain(completedId);
    expect(await listed("template=welcome")).toContain(completedId);
    expect(await listed("template=terms_only")).not.toContain(completedId);
    expect(await listed(`from=${today}&to=${today}`)).toContain(completedId);
    expect(await listed(`from=${tomorrow}`)).not.toContain(completedId);
    expect(await admin.inputValue("#f-from")).toBe(tomorrow);
  });

  it("the new-workflow form is built from the template's typed inputs and says what is wrong", async () => {
    const asA = { metadata: h.auth(h.a.apiKey) };
    const count = async () =>
      (
        await call(
          h.workflows,
          "searchWorkflows",
          {
            pageSize: 100,
            pageToken: "",
            statuses: [],
            customerId: "",
            externalId: "",
            templateName: "rent_collection",
            templateVersion: 0,
            query: "",
          },
          asA,
        )
      ).workflows.length;
    const before = await count();
    await ui.goto("/console/workflows/new?template=rent_collection");
    // One control per declared input, labelled by its description, of the input's type.
    expect(await admin.getByLabel("Monthly rent").getAttribute("pattern")).toBeTruthy();
    expect(await admin.getByLabel("period").evaluate((e) => e.tagName)).toBe("SELECT");
    expect(await admin.locator("#in-period option").allTextContents()).toEqual(["monthly", "quarterly"]);
    expect(await admin.getByLabel(/late_fee/).inputValue()).toBe("0.00 USD");
    await admin.getByLabel("Monthly rent").fill("twelve hundred");
    await admin.getByLabel("unit").fill("4B");
    await admin.getByLabel("Mobile phone").fill("+14155550164");
    await admin.getByRole("button", { name: "Create workflow" }).click();
    await admin.waitForLoadState();
    expect(await ui.text("[role=alert]")).toContain("Please correct the fields below.");
    expect(await admin.getByLabel("Monthly rent").getAttribute("aria-invalid")).toBe("true");
    // Focus starts on the field to fix.
    expect(await admin.evaluate("document.activeElement && document.activeElement.id")).toBe("in-rent");
    const described = await admin.getByLabel("Monthly rent").getAttribute("aria-describedby");
    expect(await ui.text(`#${described}`)).not.toBe("");
    // What was typed is kept, and nothing was created.
    expect(await admin.getByLabel("unit").inputValue()).toBe("4B");
    await ui.shot("invalid input");
    expect(await count()).toBe(before);

    // Without a phone or email: the phone field is marked, described and focused.
    await admin.getByLabel("Monthly rent").fill("1200.00 USD");
    await admin.getByLabel("Mobile phone").fill("");
    await admin.getByRole("button", { name: "Create workflow" }).click();
    await admin.waitForLoadState();
    expect(await ui.text("#recipient-err")).toContain("Enter the customer's phone or email.");
    expect(await admin.getByLabel("Mobile phone").getAttribute("aria-describedby")).toBe("recipient-err");
    expect(await admin.evaluate("document.activeElement && document.activeElement.id")).toBe("nw-phone");
    expect(await count()).toBe(before);
    await admin.getByLabel("Mobile phone").fill("+14155550164");
    await admin.getByRole("button", { name: "Preview message" }).click();
    await expect.poll(() => admin.textContent("pre.preview")).toContain("Pay your rent");
    await admin.getByRole("button", { name: "Create workflow" }).click();
    await admin.waitForURL(/\/console\/workflows\/wf_/);
    expect(await ui.text("#wf-facts")).toContain("rent_collection v1");
    expect(await count()).toBe(before + 1);
  });

  it("copies the link, resends and cancels another workflow", async () => {
    const phone = "+14155550162";
    await ui.goto(`/console/workflows/new?template=welcome`);
    await admin.getByLabel("Mobile phone").fill(phone);
    await admin.getByRole("button", { name: "Create workflow" }).click();
    await admin.waitForURL(/\/console\/workflows\/wf_/);
    const id = /\/(wf_[0-9a-z]+)$/.exec(admin.url())![1]!;
    await h.stack.twilio.waitForMessage((m) => m.to === phone);

    await admin.getByRole("button", { name: "Copy link" }).click();
    expect(await admin.inputValue("#link-url")).toMatch(/\/l\/[A-Za-z0-9_-]+$/);

    await admin.getByRole("button", { name: "Resend link" }).click();
    await expect.poll(() => admin.textContent(".flash")).toContain("sent again");
    await expect.poll(() => h.stack.twilio.messages.filter((m) => m.to === phone).length).toBe(2);
    // The same form submitted twice (a double click, a resent request) resends once.
    await admin.evaluate(`(async () => {
      const form = document.querySelector('form[action$="/resend"]');
      const body = new URLSearchParams(new FormData(form));
      await fetch(form.action, { method: "POST", body });
      await fetch(form.action, { method: "POST", body });
    })()`);
    await expect.poll(() => h.stack.twilio.messages.filter((m) => m.to === phone).length).toBe(3);
    // Both requests have been answered, so the journal holds every resend they caused: one each click.
    const { events } = await call(
      h.workflows,
      "getWorkflowHistory",
      { workflowId: id },
      { metadata: h.auth(h.a.apiKey) },
    );
    expect(events.filter((e) => /resen/.test(e.type))).toHaveLength(2);
    await admin.reload();

    const expiry = async () =>
      (await call(h.workflows, "getWorkflow", { workflowId: id }, { metadata: h.auth(h.a.apiKey) })).workflow!
        .expireAt!;
    const shown = (d: Date) => `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
    const before = await expiry();
    expect(await admin.textContent("#wf-facts")).toContain(shown(before));
    await admin.getByLabel("Extend expiry by (days)").fill("3");
    await admin.getByRole("button", { name: "Extend expiry" }).click();
    await expect.poll(() => admin.textContent(".flash")).toContain("extended");
    expect((await expiry()).getTime() - before.getTime()).toBe(3 * 86_400_000);
    const facts = (await admin.textContent("#wf-facts")) ?? "";
    expect(facts).toContain(shown(await expiry()));
    expect(facts).not.toContain(shown(before));
    await ui.shot("workflow extended");

    await admin.getByLabel("Reason for cancelling").fill("sent to the wrong person");
    await admin.getByLabel(/Yes, cancel this workflow/).check();
    await admin.getByRole("button", { name: "Cancel workflow" }).click();
    await expect.poll(() => admin.textContent(".flash")).toContain("cancelled");
    await admin.locator('#wf-facts [data-status="cancelled"]').waitFor();
    expect(await admin.textContent("#wf-actions")).toContain("no actions are available");
    expect(await admin.textContent("#wf-timeline")).toContain("workflow.cancelled");
    expect(admin.url()).toContain(id);
    await ui.shot("workflow cancelled");
  });

  it("shows a diagnostic for a deliberate error, simulates, then publishes a new version", async () => {
    await ui.goto(`/console/templates`);
    // Versions and usage: the welcome row counts the workflows this file started with it.
    const { templates: before } = await call(
      h.templates,
      "listTemplateVersions",
      { name: "welcome" },
      { metadata: h.auth(h.a.apiKey) },
    );
    const used = before.reduce((n, t) => n + Number(t.usage?.workflowCount ?? 0), 0);
    expect(used).toBeGreaterThanOrEqual(2);
    const welcome = admin.locator("tr", { hasText: "welcome" }).first();
    expect(await welcome.locator('td[data-label="Workflows"]').textContent()).toBe(String(used));
    expect(await welcome.locator('td[data-label="Versions"]').textContent()).toContain(`v1 · ${used}`);
    await ui.goto(`/console/templates/edit?name=welcome`);
    const editor = admin.locator("#source");
    const good = await editor.inputValue();
    expect(good).toMatch(/version 2/);
    await editor.fill(good.replace("collect individual", "collect individul"));
    await expect.poll(() => admin.textContent("#diagnostics"), { timeout: 10_000 }).toMatch(/error/);
    expect(await admin.textContent("#diag-summary")).toMatch(/1 error|errors/);
    await ui.shot("template diagnostic");
    // Published anyway (a form sent without the script's help): refused with the same diagnostic.
    const refused = await ui.post("/console/templates/publish", {
      source: good.replace("collect individual", "collect individul"),
    });
    expect(refused.status()).toBe(422);
    const refusedPage = await refused.text();
    expect(refusedPage).toMatch(/Not published: \d+ errors?/);
    expect(refusedPage).toContain("individul");
    const { templates: unchanged } = await call(
      h.templates,
      "listTemplateVersions",
      { name: "welcome" },
      { metadata: h.auth(h.a.apiKey) },
    );
    expect(unchanged.map((t) => t.version)).toEqual([1]);
    await editor.fill(good);
    await expect.poll(() => admin.textContent("#diag-summary"), { timeout: 10_000 }).toContain("No problems");
    expect(await admin.textContent("#graph")).toContain("profile");

    // The simulator walks the chosen answers: a required field left out is rejected, nothing completes.
    const answers = admin.getByLabel(/^Answers/);
    const goodAnswers = await answers.inputValue();
    await answers.fill('profile: {"first_name": "Ada"}');
    await admin.getByRole("button", { name: "Simulate" }).click();
    await expect.poll(() => admin.textContent("#simulation")).toContain("Rejected");
    expect(await admin.textContent("#simulation")).not.toContain("workflow.completed");
    await ui.shot("simulation rejected");
    await answers.fill(goodAnswers);
    await admin.getByRole("button", { name: "Simulate" }).click();
    await expect.poll(() => admin.textContent("#simulation")).toContain("workflow.completed");
    expect(await admin.textContent("#simulation")).not.toContain("Rejected");

    await admin.getByRole("button", { name: "Publish new version" }).click();
    await expect.poll(() => admin.textContent(".flash")).toContain("Published welcome version 2");
    const { templates } = await call(
      h.templates,
      "listTemplateVersions",
      { name: "welcome" },
      { metadata: h.auth(h.a.apiKey) },
    );
    expect(templates.map((t) => t.version)).toContain(2);
  });

  it("rotates a webhook secret, creates and revokes an API key", async () => {
    await ui.goto(`/console/webhooks`);
    const card = admin.locator(".card[data-subscription]", { hasText: h.stack.webhooks.url });
    await card.getByRole("button", { name: "Rotate secret" }).click();
    await expect.poll(() => admin.inputValue("#new-secret")).toMatch(/.{16,}/);
    rotated = await admin.inputValue("#new-secret");
    expect(await admin.textContent("body")).toContain("shown only once");
    await ui.shot("webhook rotated");
    // Shown once: the webhooks page never holds it again.
    await ui.goto(`/console/webhooks`);
    expect(await admin.content()).not.toContain(rotated);
    expect(await card.textContent()).toContain("previous secret valid until");

    await ui.goto(`/console/keys`);
    await admin.getByLabel("Name").fill("reporting");
    await admin.getByRole("button", { name: "Create key" }).click();
    const key = await admin.inputValue("#new-secret");
    expect(key.length).toBeGreaterThan(20);
    await ui.goto(`/console/keys`);
    expect(await admin.content()).not.toContain(key);
    const row = admin.locator("tr", { hasText: "reporting" });
    await row.getByRole("checkbox").check();
    await row.getByRole("button", { name: "Revoke" }).click();
    await expect.poll(() => admin.textContent(".flash")).toContain("revoked");
  });

  it("refuses a forged CSRF token and a POST without a session; the audit log says who did what", async () => {
    const forged = await admin.request.post(`${base}/console/keys`, {
      form: { _csrf: "forged", name: "evil" },
    });
    expect(forged.status()).toBe(403);
    const noSession = await fetch(`${base}/console/keys`, { method: "POST", body: "name=x" });
    expect(noSession.status).toBe(401);

    await ui.goto(`/console/audit`);
    const log = (await admin.textContent("table")) ?? "";
    for (const a of [
      "workflow.create",
      "workflow.resend",
      "workflow.cancel",
      "template.publish",
      "webhook.rotate",
      "apikey.revoke",
    ])
      expect(log).toMatch(new RegExp(`admin@acme\\.test\\s*${a.replace(".", "\\.")}`));
    expect(log).toMatch(/admin@acme\.test\s*apikey\.create\s*denied/);
  });

  it("switches between the parent business and its child", async () => {
    await ui.goto(`/console/workflows`);
    await admin.getByLabel("Business").selectOption({ label: "Acme West" });
    await admin.getByRole("button", { name: "Switch" }).click();
    await expect.poll(() => admin.textContent(".flash")).toContain("Switched");
    expect(await admin.textContent("#workflow-table")).not.toContain(completedId);
    await admin.getByLabel("Business").selectOption({ label: "Acme Payroll" });
    await admin.getByRole("button", { name: "Switch" }).click();
    expect(await admin.textContent("#workflow-table")).toContain(completedId);
  });

  it("works on a phone: workflows, a customer and the notifications page", async () => {
    const phone = new ConsolePage(await browser.newPhonePage(), base, env.shots, env.neverShown);
    const page = phone.page;
    await phone.goto("/console/login");
    await page.getByLabel("Email").fill("operator@acme.test");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/console\/workflows/);
    await phone.shot("phone");
    await phone.goto("/console/customers");
    await page.locator("tbody a").first().click();
    await expect.poll(() => page.textContent("h1")).toContain("Ada Lovelace");
    await phone.shot("phone");
    await phone.goto("/console/notifications");
    expect(await page.textContent("main")).toContain(`Customer completed workflow ${completedId}`);
    await page.context().close();
  });

  it("shows a customer's decline reason, redelivers an event, and disconnects financial data", async () => {
    // A workflow the customer declines with a reason of their own, while the business has the
    // console open: a notification pops up (after the page's first look at the feed, so it is new).
    const firstPoll = admin.waitForResponse((r) => r.url().includes("/console/api/notifications"));
    await ui.goto("/console/workflows");
    await firstPoll;
    const declined = await declinedWorkflow(h, h.a, "decliner@example.com", "I need my lawyer to read it");
    await admin.locator(".toast", { hasText: `declined workflow ${declined}` }).waitFor({ timeout: 20_000 });
    await ui.shot("decline notification");
    await admin.locator(".toast a", { hasText: `declined workflow ${declined}` }).click();
    await admin.waitForURL((u) => u.pathname === `/console/workflows/${declined}`);
    await expect.poll(() => admin.textContent("#wf-facts")).toContain("I need my lawyer to read it");
    expect(await admin.getAttribute("#wf-facts [data-status]", "data-status")).toBe("declined");
    expect(await admin.textContent("#wf-facts")).toMatch(/Decline reason\s*I need my lawyer to read it/);
    await ui.shot("workflow declined");
    await ui.goto("/console/notifications");
    expect(await ui.text("#notification-list")).toContain(`Customer declined workflow ${declined}`);

    // Redeliver an event from the delivery log.
    await expect
      .poll(async () => {
        await admin.goto(`${base}/console/webhooks`);
        return admin.getByRole("button", { name: "Redeliver" }).count();
      })
      .toBeGreaterThan(0);
    // The declined workflow's delivery: the log shows the receiver's response code.
    const row = admin.locator("#deliveries tr", { hasText: declined });
    expect(await row.locator('td[data-label="Response"]').textContent()).toContain("200");
    const before = h.stack.webhooks.deliveries.length;
    await row.getByRole("button", { name: "Redeliver" }).click();
    await expect.poll(() => admin.textContent(".flash")).toContain("Redelivery queued");
    await expect.poll(() => h.stack.webhooks.deliveries.length).toBeGreaterThan(before);
    const again = h.stack.webhooks.deliveries.slice(before).find((d) => d.body.includes(declined));
    expect(again).toBeDefined();
    // Signed with the secret the console rotated to (the one it showed once).
    expect(rotated).not.toBe("");
    expect(
      verifyWebhookSignature(again!.headers["linkflow-signature"], again!.body, [rotated]),
    ).toBeUndefined();
    expect(
      verifyWebhookSignature(again!.headers["linkflow-signature"], again!.body, ["not-it"]),
    ).toBeDefined();
    await ui.shot("redelivered");
    // The list's search finds the declined workflow by the customer's email.
    await ui.goto(`/console/workflows?q=${encodeURIComponent("decliner@example.com")}`);
    expect(await admin.textContent("#workflow-table")).toContain(declined);

    // Disconnect a customer's financial data: the accounts are erased, the customer stays.
    const { customerId } = await createCustomer(h, h.a.businessId, { first: "Dana", last: "Connect" }, true);
    await ui.goto(`/console/customers/${customerId}`);
    expect(await admin.textContent("main")).toContain("4321");
    expect(await admin.content()).not.toContain("000987654321");
    const account = admin.locator("tr", { hasText: "Checking" });
    expect(await account.locator('td[data-label="Status"]').textContent()).toBe("active");
    await admin.locator("#disconnect-confirm").check();
    await admin.getByRole("button", { name: "Disconnect financial data" }).click();
    await admin.waitForLoadState();
    await expect.poll(() => admin.textContent(".flash")).toContain("Financial data disconnected.");
    await ui.shot("customer disconnected");
    // The account is really gone or disconnected in the API, and the page no longer lists it as active.
    const { financialAccounts } = await call(
      h.financialAccounts,
      "listFinancialAccounts",
      { customerId },
      { metadata: h.auth(h.a.apiKey) },
    );
    expect(financialAccounts.map((a) => a.status)).toEqual([
      FinancialAccountStatus.FINANCIAL_ACCOUNT_STATUS_DISCONNECTED,
    ]);
    expect(await account.locator('td[data-label="Status"]').textContent()).toBe("disconnected");
    // The customer record stays, still active.
    expect(await admin.textContent("dl.facts")).toContain("active");
    await ui.goto("/console/customers");
    expect(await ui.text("table")).toContain("Dana Connect");
  });

  it("an admin adds a user (the form says what is wrong first), who can then sign in with their role", async () => {
    await ui.goto("/console/users");
    await admin.getByLabel("Email").fill("new-operator@acme.test");
    await admin.getByLabel("Role").selectOption("operator");
    await admin.getByLabel(/Initial password/).fill("too short");
    await admin.getByRole("button", { name: "Add user" }).click();
    await expect.poll(() => admin.textContent("#user-password-err")).toContain("at least 12 characters");
    await ui.shot("invalid");
    expect(await admin.getByLabel("Email").inputValue()).toBe("new-operator@acme.test");
    await admin.getByLabel(/Initial password/).fill(PASSWORD);
    await admin.getByRole("button", { name: "Add user" }).click();
    await expect.poll(() => admin.textContent(".flash")).toContain("The user was added");
    expect(await ui.text("table")).toMatch(/new-operator@acme\.test\s*operator/);
    // The same email twice is refused.
    const again = await ui.post("/console/users", {
      email: "new-operator@acme.test",
      role: "viewer",
      password: PASSWORD,
    });
    expect(again.status()).toBe(422);
    expect(await again.text()).toContain("already exists");

    const added = await env.signIn("new-operator@acme.test");
    expect(await added.text("header")).toContain("new-operator@acme.test (operator)");
    await ui.goto("/console/audit");
    expect(await ui.text("table")).toMatch(/admin@acme\.test\s*user\.create\s*new-operator@acme\.test\s*ok/);
  });

  it("a customer's page lists the documents they accepted and their workflows", async () => {
    const { workflowId, customerId } = await acceptedTerms(h, h.a, "accepter@example.com");
    await ui.goto(`/console/customers/${customerId}`);
    const docs = admin.locator("#documents tbody tr");
    expect(await docs.count()).toBe(2);
    const terms = (await docs.filter({ hasText: "Terms of Service" }).textContent()) ?? "";
    expect(terms).toContain("terms-of-service");
    expect(terms).toContain("2025-01");
    expect(terms).toContain(workflowId);
    expect(await docs.filter({ hasText: "Privacy Policy" }).count()).toBe(1);
    expect(await ui.text("#customer-workflows")).toContain(workflowId);
    await ui.shot("documents accepted");
    // A customer who accepted nothing shows none (the section is not just the template's documents).
    const { customerId: other } = await createCustomer(h, h.a.businessId, { first: "Nora", last: "None" });
    await ui.goto(`/console/customers/${other}`);
    expect(await admin.locator("#documents").count()).toBe(0);
    expect(await ui.text("section:has(#docs-h)")).toContain("None.");
  });

  it("never lets an admin revoke the API key the console itself uses", async () => {
    const asA = { metadata: h.auth(h.a.apiKey) };
    const own = (await call(h.businesses, "listApiKeys", { businessId: "" }, asA)).keys.find((k) =>
      env.consoleKeyA.startsWith(k.prefix),
    )!;
    expect(own.revokedAt).toBeUndefined();
    await ui.goto("/console/keys");
    const row = admin.locator("tr", { hasText: own.prefix });
    expect(await row.textContent()).toContain("used by this console");
    expect(await row.getByRole("button", { name: "Revoke" }).count()).toBe(0);
    // Another key's Revoke is still offered, so the missing one is not just an empty page.
    const other = await call(
      h.businesses,
      "createApiKey",
      { businessId: "", name: "spare", idempotencyKey: "console-test-spare" },
      asA,
    );
    await ui.goto("/console/keys");
    expect(
      await admin.locator("tr", { hasText: "spare" }).getByRole("button", { name: "Revoke" }).count(),
    ).toBe(1);

    // A forged form is refused, audited, and the key and the console keep working.
    const r = await ui.post(`/console/keys/${own.id}/revoke`, { confirm: "yes" });
    expect(r.status()).toBe(409);
    expect(await r.text()).toContain("the key the console itself uses");
    const after = (await call(h.businesses, "listApiKeys", { businessId: "" }, asA)).keys;
    expect(after.find((k) => k.id === own.id)?.revokedAt).toBeUndefined();
    await ui.goto("/console/workflows");
    expect(await admin.textContent("#workflow-table")).toContain(completedId);
    const [denied] = await h.stack.node.sql<{ outcome: string }[]>`
      select outcome from console.audit where action = 'apikey.revoke' and target = ${own.id}`;
    expect(denied?.outcome).toBe("denied");
    expect(other.key!.id).not.toBe(own.id);
  });

  it("the workflows list updates a row's status live, without a reload", async () => {
    const phone = "+14155550165";
    const id = await startWorkflow(h, h.a, phone);
    await ui.goto(`/console/workflows?q=${encodeURIComponent(phone)}`);
    const badge = admin.locator(`#workflow-table tr[data-id="${id}"] [data-status]`);
    await expect.poll(() => badge.getAttribute("data-status"), { timeout: 20_000 }).toBe("link_sent");
    await admin.evaluate("window.__sameDocument = true");
    const sms = h.stack.twilio.messages.find((m) => m.to === phone)!;
    const customer = new HttpCustomer(
      linkIn(sms.body).replace(/^http:\/\/[^/]+/, `http://${h.stack.node.httpAddress}`),
    );
    await customer.open();
    await customer.submit({ first_name: "Livia", last_name: "Row" });
    await expect.poll(() => badge.getAttribute("data-status"), { timeout: 20_000 }).toBe("completed");
    expect(await admin.evaluate("window.__sameDocument")).toBe(true);
    await ui.shot("list updated live");
  });

  it("without JavaScript, a workflow page reloads itself on request and follows the customer", async () => {
    const phone = "+14155550163";
    const id = await startWorkflow(h, h.a, phone);
    const ctx = await browser.browser.newContext({ viewport: DESKTOP, javaScriptEnabled: false });
    const noJs = new ConsolePage(await ctx.newPage(), base, env.shots, env.neverShown);
    const page = noJs.page;
    await noJs.goto("/console/login");
    await page.getByLabel("Email").fill("viewer@acme.test");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/console\/workflows/);
    await noJs.goto(`/console/workflows/${id}`);
    expect(await page.getAttribute("#wf-facts [data-status]", "data-status")).toBe("link_sent");
    await page.getByRole("link", { name: /Reload it every \d+ seconds/ }).click();
    await page.waitForURL(/refresh=on/);
    expect(await noJs.text("#no-script-refresh")).toContain("Stop reloading");

    const sms = h.stack.twilio.messages.find((m) => m.to === phone)!;
    const customer = new HttpCustomer(
      linkIn(sms.body).replace(/^http:\/\/[^/]+/, `http://${h.stack.node.httpAddress}`),
    );
    await customer.open();
    // Nothing here reloads the page: only its own meta refresh can show the new status.
    await expect
      .poll(() => page.getAttribute("#wf-facts [data-status]", "data-status"), { timeout: 30_000 })
      .toMatch(/^(opened|in_progress)$/);
    await noJs.shot("reloaded without javascript");
    await ctx.close();
  });

  it("signing out ends the session on the server, not just in the browser", async () => {
    const op = await env.signIn("operator@acme.test");
    const session = (await op.page.context().cookies()).find((c) => c.name === "lf_console")!.value;
    const withCookie = () =>
      fetch(`${base}/console/workflows`, {
        headers: { cookie: `lf_console=${session}` },
        redirect: "manual",
      });
    expect((await withCookie()).status).toBe(200);
    await op.page.getByRole("button", { name: "Sign out" }).click();
    await op.page.waitForURL(/\/console\/login$/);
    const r = await withCookie();
    expect(r.status).toBe(303);
    expect(r.headers.get("location")).toBe("/console/login");
    const [row] = await h.stack.node.sql<{ outcome: string }[]>`
      select outcome from console.audit where action = 'session.sign_out' and email = 'operator@acme.test'`;
    expect(row?.outcome).toBe("ok");
  });

  it("stores only scrypt hashes; five wrong passwords lock the email for a while; an expired session is refused", async () => {
    await env.app.createUser({
      businessId: h.a.businessId,
      email: "locked@acme.test",
      password: PASSWORD,
      role: "viewer",
    });
    const [stored] = await h.stack.node.sql<{ password_hash: string }[]>`
      select password_hash from console.users where email = 'locked@acme.test'`;
    expect(stored!.password_hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[\w-]{22}\$[\w-]{43}$/);
    expect(stored!.password_hash).not.toContain("horse");

    const ctx = await env.desktop();
    const page = new ConsolePage(await ctx.newPage(), base, env.shots, env.neverShown);
    const attempt = async (password: string) => {
      await page.goto("/console/login");
      await page.page.getByLabel("Email").fill("locked@acme.test");
      await page.page.getByLabel("Password").fill(password);
      const [res] = await Promise.all([
        page.page.waitForResponse(
          (r) => r.url().endsWith("/console/login") && r.request().method() === "POST",
        ),
        page.page.getByRole("button", { name: "Sign in" }).click(),
      ]);
      return res.status();
    };
    for (let i = 0; i < 5; i++) expect(await attempt(`wrong password ${i}`)).toBe(401);
    // Now even the right password is refused, and says why.
    expect(await attempt(PASSWORD)).toBe(429);
    expect(await page.text("[role=alert]")).toContain("Too many failed attempts");
    await page.shot("locked");
    expect(page.page.url()).toMatch(/\/console\/login$/);
    // Another user is not locked out by it.
    const other = await env.signIn("viewer@acme.test");
    const session = (await other.page.context().cookies()).find((c) => c.name === "lf_console")!.value;
    await h.stack.node.sql`
      update console.sessions set expires_at = now() - interval '1 second'
      where user_id = (select id from console.users where email = 'viewer@acme.test')`;
    const r = await fetch(`${base}/console/workflows`, {
      headers: { cookie: `lf_console=${session}` },
      redirect: "manual",
    });
    expect(r.status).toBe(303);
    expect(r.headers.get("location")).toBe("/console/login");
    await ctx.close();
  });

  it("the audit log credits the admin with every action the walk-through did", async () => {
    await ui.goto("/console/audit");
    const rows: string[] = [];
    for (const row of await admin.locator("main tbody tr").all())
      rows.push((await row.locator("td").allTextContents()).map((t) => t.trim()).join(" "));
    for (const action of [
      "workflow.create",
      "workflow.link",
      "workflow.resend",
      "workflow.extend",
      "workflow.cancel",
      "template.publish",
      "webhook.rotate",
      "webhook.redeliver",
      "apikey.create",
      "apikey.revoke",
      "customer.disconnect",
      "user.create",
      "session.switch_business",
      "session.sign_in",
    ])
      expect(
        rows.some((r) => r.includes(`admin@acme.test ${action}`) && r.endsWith("ok")),
        action,
      ).toBe(true);
    // The refused revocation of the console's own key is there as denied.
    expect(rows.some((r) => / admin@acme\.test apikey\.revoke key_\w+ denied$/.test(r))).toBe(true);
  });

  it("saved a screenshot of every console page it reached", () => {
    const pages: Record<string, RegExp> = {
      "sign-in": /\/console\/login$/,
      "workflows list": /\/console\/workflows(\?.*)?$/,
      "workflow detail": /\/console\/workflows\/wf_[0-9a-z]+(\?.*)?$/,
      "new workflow": /\/console\/workflows\/new(\?.*)?$/,
      "templates list": /\/console\/templates$/,
      "template editor": /\/console\/templates\/(edit|publish|simulate)(\?.*)?$/,
      "customers list": /\/console\/customers(\?.*)?$/,
      "customer detail": /\/console\/customers\/cus_[0-9a-z]+(\?.*)?$/,
      "webhooks and deliveries": /\/console\/webhooks(\?.*)?$/,
      "API keys": /\/console\/keys(\?.*)?$/,
      audit: /\/console\/audit$/,
      notifications: /\/console\/notifications$/,
      users: /\/console\/users(\?.*)?$/,
    };
    const urls = env.shots.taken.map((s) => new URL(s.url).pathname + new URL(s.url).search);
    for (const [name, re] of Object.entries(pages))
      expect(
        urls.some((u) => re.test(u)),
        `${name} in ${urls.join(" ")}`,
      ).toBe(true);
    for (const s of env.shots.taken) expect(existsSync(s.file), s.file).toBe(true);
  });
});
