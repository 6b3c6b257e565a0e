import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerStatus, WebhookSubscriptionStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import type { ApiHarness } from "../api/harness.ts";
import { startWebhookReceiver, type WebhookReceiverHandle } from "../infra/index.ts";
import { HttpCustomer } from "../support/http-customer.ts";
import { linkIn } from "../support/stack.ts";
import { createCustomer, declinedWorkflow, startWorkflow } from "./fixtures.ts";
import { type ConsoleEnv, type ConsolePage, startConsole } from "./setup.ts";

let env: ConsoleEnv;
let h: ApiHarness;
let receiver: WebhookReceiverHandle;
let admin: ConsolePage;
let operator: ConsolePage;
const secrets: string[] = [];
const startedAt = Date.now();
/** What each test did: the audit log must list it. */
const done: Array<{ who: string; action: string; target: string }> = [];
const asA = () => ({ metadata: h.auth(h.a.apiKey) });

beforeAll(async () => {
  env = await startConsole();
  h = env.h;
  receiver = await startWebhookReceiver({ secrets: () => secrets });
  admin = await env.signIn("admin@acme.test");
  operator = await env.signIn("operator@acme.test");
}, 180_000);

afterAll(async () => {
  await receiver?.stop();
  await env?.stop();
});

async function subscription(id: string) {
  const { subscriptions } = await call(h.webhooks, "listWebhooks", {}, asA());
  return subscriptions.find((s) => s.id === id);
}

/** Declines a fresh workflow: an event every subscription of the business is sent. */
async function event(n: number): Promise<string> {
  const id = await declinedWorkflow(h, h.a, `actions-${n}@example.com`);
  // The stack's own subscription receiving it shows the event went out.
  await h.stack.webhooks.waitForDelivery((d) => d.body.includes(id), 15_000);
  return id;
}

describe("webhook and customer actions in the console", () => {
  it("creates, suspends, resumes and deletes a webhook subscription; a suspended one gets nothing", async () => {
    const page = admin.page;
    await admin.goto("/console/webhooks");
    await page.getByLabel("Endpoint URL").fill(receiver.url);
    await page.getByRole("button", { name: "Create subscription" }).click();
    secrets.push(await page.inputValue("#new-secret"));
    await admin.shot("created");
    const card = page.locator(".card[data-subscription]", { hasText: receiver.url });
    const id = (await card.getAttribute("data-subscription"))!;
    expect(id).toMatch(/^whs_/);
    done.push({ who: "admin@acme.test", action: "webhook.create", target: id });

    const first = await event(1);
    expect((await receiver.waitForDelivery((d) => d.body.includes(first), 15_000)).verified).toBe(true);

    await card.getByRole("button", { name: "Suspend" }).click();
    await expect.poll(() => admin.text(".flash")).toContain("Suspended.");
    expect(await card.locator(".badge").textContent()).toBe("suspended");
    await admin.shot("suspended");
    expect((await subscription(id))?.status).toBe(
      WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_SUSPENDED,
    );
    done.push({ who: "admin@acme.test", action: "webhook.suspend", target: id });

    const held = await event(2);
    expect(receiver.deliveries.filter((d) => d.body.includes(held))).toHaveLength(0);
    const { deliveries } = await call(
      h.webhooks,
      "listWebhookDeliveries",
      { eventId: "", pageSize: 100 },
      asA(),
    );
    const pending = deliveries.find((d) => d.subscriptionId === id && d.workflowId === held);
    expect(pending?.attempts).toBe(0);

    // Resuming sends what was held back.
    await card.getByRole("button", { name: "Resume" }).click();
    await expect.poll(() => admin.text(".flash")).toContain("Resumed.");
    expect(await card.locator(".badge").textContent()).toBe("active");
    expect((await receiver.waitForDelivery((d) => d.body.includes(held), 15_000)).verified).toBe(true);
    done.push({ who: "admin@acme.test", action: "webhook.resume", target: id });

    // Deleting needs the confirmation (the server checks it too).
    const unconfirmed = await admin.post(`/console/webhooks/${id}/delete`);
    expect(unconfirmed.status()).toBe(422);
    expect(await unconfirmed.text()).toContain("Tick the box to confirm.");
    expect(await subscription(id)).toBeDefined();
    await card.getByRole("button", { name: "Delete" }).click();
    // Unticked, the browser does not submit.
    expect(await card.locator("input[name=confirm]:invalid").count()).toBe(1);
    await card.getByRole("checkbox").check();
    await card.getByRole("button", { name: "Delete" }).click();
    await expect.poll(() => admin.text(".flash")).toContain("Deleted.");
    await admin.shot("deleted");
    expect(await card.count()).toBe(0);
    expect(await subscription(id)).toBeUndefined();
    done.push({ who: "admin@acme.test", action: "webhook.delete", target: id });

    const after = await event(3);
    expect(receiver.deliveries.filter((d) => d.body.includes(after))).toHaveLength(0);
  });

  it("a subscription created with an event-type filter gets only those events", async () => {
    const filtered = await startWebhookReceiver({ secrets: () => secrets });
    try {
      await admin.goto("/console/webhooks");
      const page = admin.page;
      await page.getByLabel("Endpoint URL").fill(filtered.url);
      await page.getByLabel("workflow.*").uncheck();
      await page.getByLabel("workflow.declined").check();
      await page.getByRole("button", { name: "Create subscription" }).click();
      secrets.push(await page.inputValue("#new-secret"));
      const card = page.locator(".card[data-subscription]", { hasText: filtered.url });
      const id = (await card.getAttribute("data-subscription"))!;
      expect(await card.textContent()).toContain("events: workflow.declined");
      expect((await subscription(id))?.eventTypes).toEqual(["workflow.declined"]);
      const declined = await event(4);
      expect((await filtered.waitForDelivery((d) => d.body.includes(declined), 15_000)).verified).toBe(true);

      // A completed workflow's event is not in the filter: the stack's own subscription gets it, this one not.
      const phone = "+14155550175";
      const completed = await startWorkflow(h, h.a, phone);
      const sms = h.stack.twilio.messages.find((m) => m.to === phone)!;
      const customer = new HttpCustomer(
        linkIn(sms.body).replace(/^http:\/\/[^/]+/, `http://${h.stack.node.httpAddress}`),
      );
      await customer.open();
      await customer.submit({ first_name: "Fil", last_name: "Tered" });
      await h.stack.webhooks.waitForDelivery(
        (d) => d.body.includes(completed) && d.body.includes("workflow.completed"),
        15_000,
      );
      const { deliveries } = await call(
        h.webhooks,
        "listWebhookDeliveries",
        { eventId: "", pageSize: 100 },
        asA(),
      );
      const forIt = deliveries.filter((d) => d.workflowId === completed).map((d) => d.subscriptionId);
      expect(forIt.length).toBeGreaterThan(0);
      expect(forIt).not.toContain(id);
      expect(filtered.deliveries.filter((d) => d.body.includes(completed))).toHaveLength(0);
    } finally {
      await filtered.stop();
    }
  });

  it("suspends and activates a customer (with confirmation): a suspended customer cannot transact", async () => {
    const { customerId, financialAccountId } = await createCustomer(
      h,
      h.a.businessId,
      { first: "Cora", last: "Customer" },
      true,
    );
    const transactable = async () =>
      call(h.accounts, "checkTransactable", {
        businessId: h.a.businessId,
        customerId,
        financialAccountId: financialAccountId!,
      });
    expect((await transactable()).ok).toBe(true);
    const page = operator.page;
    await operator.goto(`/console/customers/${customerId}`);

    const unconfirmed = await operator.post(`/console/customers/${customerId}/suspend`);
    expect(unconfirmed.status()).toBe(422);
    const status = async () =>
      (await call(h.customers, "getCustomer", { customerId }, asA())).customer!.status;
    expect(await status()).toBe(CustomerStatus.CUSTOMER_STATUS_ACTIVE);

    await page.locator("#suspend-confirm").check();
    await page.getByRole("button", { name: "Suspend" }).click();
    await expect.poll(() => operator.text(".flash")).toContain("Suspended.");
    expect(await operator.text("dl.facts")).toContain("suspended");
    await operator.shot("suspended");
    expect(await status()).toBe(CustomerStatus.CUSTOMER_STATUS_SUSPENDED);
    expect(await transactable()).toMatchObject({ ok: false, reason: "customer_suspended" });
    done.push({ who: "operator@acme.test", action: "customer.suspend", target: customerId });
    await operator.goto("/console/customers");
    expect(await operator.text(`tr:has(a[href$="${customerId}"]) .badge`)).toBe("suspended");

    await operator.goto(`/console/customers/${customerId}`);
    await page.locator("#activate-confirm").check();
    await page.getByRole("button", { name: "Activate" }).click();
    await expect.poll(() => operator.text(".flash")).toContain("Activated.");
    await operator.shot("activated");
    expect(await status()).toBe(CustomerStatus.CUSTOMER_STATUS_ACTIVE);
    expect((await transactable()).ok).toBe(true);
    done.push({ who: "operator@acme.test", action: "customer.activate", target: customerId });
  });

  it("deletes a customer after confirmation: gone from the list, the API and its page", async () => {
    const { customerId } = await createCustomer(h, h.a.businessId, { first: "Dirk", last: "Deleted" }, true);
    const page = admin.page;
    await admin.goto(`/console/customers/${customerId}`);
    await page.getByRole("button", { name: "Delete customer" }).click();
    // Not ticked: the browser does not submit, and the customer is still there.
    expect(await page.locator("#delete-confirm:invalid").count()).toBe(1);
    await call(h.customers, "getCustomer", { customerId }, asA());

    await page.locator("#delete-confirm").check();
    await page.getByRole("button", { name: "Delete customer" }).click();
    await page.waitForURL(/\/console\/customers\?ok=deleted$/);
    expect(await admin.text(".flash")).toContain("Deleted.");
    await admin.shot("deleted");
    expect(await admin.text()).not.toContain("Dirk");
    await expect(call(h.customers, "getCustomer", { customerId }, asA())).rejects.toMatchObject({ code: 5 });
    await admin.goto(`/console/customers/${customerId}`, 404);
    done.push({ who: "admin@acme.test", action: "customer.delete", target: customerId });
  });

  it("the audit log lists every one of these actions with who did it and when", async () => {
    expect(done.map((d) => d.action)).toEqual([
      "webhook.create",
      "webhook.suspend",
      "webhook.resume",
      "webhook.delete",
      "customer.suspend",
      "customer.activate",
      "customer.delete",
    ]);
    await admin.goto("/console/audit");
    const rows: string[][] = [];
    for (const row of await admin.page.locator("main tbody tr").all())
      rows.push([
        (await row.locator("time").getAttribute("datetime")) ?? "",
        ...(await row.locator("td").allTextContents()).slice(1).map((t) => t.trim()),
      ]);
    for (const d of done) {
      const row = rows.find((r) => r[1] === d.who && r[2] === d.action && r[3] === d.target);
      expect(row, `${d.action} by ${d.who}`).toBeDefined();
      expect(row![4]).toBe("ok");
      const when = row![0] ?? "";
      const at = Date.parse(when);
      // The database's clock and this process's are the same machine's.
      expect(at, when).toBeGreaterThanOrEqual(startedAt - 1000);
      expect(at, when).toBeLessThanOrEqual(Date.now());
    }
    // Nobody else is credited with them.
    for (const d of done)
      expect(rows.filter((r) => r[2] === d.action && r[3] === d.target && r[4] === "ok")).toHaveLength(1);
  });
});
