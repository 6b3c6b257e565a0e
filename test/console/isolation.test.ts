import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import type { ApiHarness } from "../api/harness.ts";
import { startWebhookReceiver, type WebhookReceiverHandle } from "../infra/index.ts";
import { createCustomer, declinedWorkflow, deliveredFor, startWorkflow } from "./fixtures.ts";
import { type ConsoleEnv, type ConsolePage, startConsole } from "./setup.ts";

let env: ConsoleEnv;
let h: ApiHarness;
let globexHooks: WebhookReceiverHandle;
let acme: ConsolePage;
let globex: ConsolePage;
/** Globex's (business B's) objects: none of them may show up for Acme's users. */
const b = { workflow: "", declined: "", delivery: "", hook: "", key: "", customer: "", childWorkflow: "" };
/** Acme's own objects of the same kinds, which its pages must show (so "absent" means something). */
const a = { workflow: "", declined: "", customer: "", childWorkflow: "" };
const GLOBEX_TEMPLATE = `template globex_terms "Globex secret terms" version 1

link {
  send via email
  expires in 7 days
}

step terms "Globex terms" {
  accept "globex-terms" version "1" titled "Globex Terms"
}
`;
const asB = () => ({ metadata: h.auth(h.b.apiKey) });

beforeAll(async () => {
  env = await startConsole();
  h = env.h;
  const secrets: string[] = [];
  globexHooks = await startWebhookReceiver({ secrets: () => secrets });
  const hook = await call(
    h.webhooks,
    "createWebhook",
    { url: globexHooks.url, eventTypes: ["workflow.*"], idempotencyKey: "globex-hook" },
    asB(),
  );
  secrets.push(hook.secret);
  b.hook = hook.subscription!.id;
  b.workflow = await startWorkflow(h, h.b, "+14155550181");
  b.declined = await declinedWorkflow(h, h.b, "globex-decliner@example.com");
  b.delivery = await deliveredFor(h, h.b, b.declined);
  b.customer = (
    await createCustomer(h, h.b.businessId, { first: "Gloria", last: "Globex" }, true)
  ).customerId;
  await call(
    h.templates,
    "publishTemplate",
    { source: GLOBEX_TEMPLATE, fileName: "globex_terms.flow", idempotencyKey: "globex-template" },
    asB(),
  );
  b.key = (
    await call(
      h.businesses,
      "createApiKey",
      { businessId: "", name: "globex-reporting", idempotencyKey: "globex-key" },
      asB(),
    )
  ).key!.id;
  b.childWorkflow = (
    await call(
      h.workflows,
      "createWorkflow",
      {
        templateName: "welcome",
        templateVersion: 0,
        inputs: {},
        customerPhone: "+14155550182",
        customerEmail: "",
        customerId: "",
        channel: 0,
        externalId: "",
        memo: "",
        idempotencyKey: "globex-child-workflow",
      },
      { metadata: h.auth(h.b.apiKey, env.childB) },
    )
  ).workflow!.id;

  a.workflow = await startWorkflow(h, h.a, "+14155550183");
  a.declined = await declinedWorkflow(h, h.a, "acme-decliner@example.com");
  await deliveredFor(h, h.a, a.declined);
  a.customer = (await createCustomer(h, h.a.businessId, { first: "Alice", last: "Acme" })).customerId;
  a.childWorkflow = (
    await call(
      h.workflows,
      "createWorkflow",
      {
        templateName: "welcome",
        templateVersion: 0,
        inputs: {},
        customerPhone: "+14155550184",
        customerEmail: "",
        customerId: "",
        channel: 0,
        externalId: "",
        memo: "",
        idempotencyKey: "acme-child-workflow",
      },
      { metadata: h.auth(h.a.apiKey, env.childA) },
    )
  ).workflow!.id;

  globex = await env.signIn("admin@globex.test");
  // An audited console action of Globex's: it must stay out of Acme's audit log.
  await globex.goto("/console/keys");
  await globex.page.getByLabel("Name").fill("globex-console-made");
  await globex.page.getByRole("button", { name: "Create key" }).click();
  await globex.page.locator("#new-secret").waitFor();
  acme = await env.signIn("admin@acme.test");
}, 180_000);

afterAll(async () => {
  await globexHooks?.stop();
  await env?.stop();
});

/** Strings that identify Globex's data. */
function globexMarks(): string[] {
  return [
    h.b.businessId,
    env.childB,
    b.workflow,
    b.declined,
    b.delivery,
    b.hook,
    b.key,
    b.customer,
    b.childWorkflow,
    globexHooks.url,
    "Globex",
    "Gloria",
    "globex_terms",
    "globex-reporting",
    "globex-console-made",
    "admin@globex.test",
    "globex-decliner@example.com",
  ];
}

function expectNoGlobex(html: string, where: string): void {
  for (const m of globexMarks()) expect(html, `${where} shows ${m}`).not.toContain(m);
}

/** What Globex's own API reports about its objects; Acme's attempts must leave it as it is. */
async function globexState() {
  const { workflow } = await call(h.workflows, "getWorkflow", { workflowId: b.workflow }, asB());
  const hooks = await call(h.webhooks, "listWebhooks", {}, asB());
  const deliveries = await call(h.webhooks, "listWebhookDeliveries", { eventId: "", pageSize: 100 }, asB());
  const keys = await call(h.businesses, "listApiKeys", { businessId: "" }, asB());
  const { customer } = await call(h.customers, "getCustomer", { customerId: b.customer }, asB());
  const accounts = await call(
    h.financialAccounts,
    "listFinancialAccounts",
    { customerId: b.customer },
    asB(),
  );
  return {
    workflow: [workflow!.status, workflow!.expireAt?.toISOString()],
    texts: h.stack.twilio.messages.filter((m) => m.to === "+14155550181").length,
    hooks: hooks.subscriptions.map((s) => [s.id, s.status, s.previousSecretExpiresAt?.toISOString() ?? ""]),
    deliveries: deliveries.deliveries.map((d) => [d.id, d.attempts]),
    keys: keys.keys.map((k) => [k.id, Boolean(k.revokedAt)]),
    customer: customer!.status,
    accounts: accounts.financialAccounts.map((x) => [x.id, x.status]),
  };
}

describe("a user of one business never sees another's data", () => {
  it("the list pages show the business's own data and nothing of another's", async () => {
    const lists: Array<[string, string[]]> = [
      ["/console/workflows", [a.workflow]],
      ["/console/customers", [a.customer, "Alice Acme"]],
      ["/console/templates", ["welcome"]],
      ["/console/webhooks", [h.stack.webhooks.url, a.declined]],
      ["/console/keys", ["console"]],
      ["/console/notifications", [a.declined]],
      ["/console/audit", ["admin@acme.test"]],
      ["/console/users", ["viewer@acme.test"]],
    ];
    for (const [path, own] of lists) {
      await acme.goto(path);
      const html = await acme.page.content();
      for (const o of own) expect(html, `${path} shows ${o}`).toContain(o);
      expectNoGlobex(html, path);
    }
    // The notifications the pages poll for.
    const r = await acme.page.request.get(`${env.base}/console/api/notifications?after=evt_0`);
    const feed = JSON.stringify(await r.json());
    expect(feed).toContain(a.declined);
    expectNoGlobex(feed, "the notifications feed");
    // The other way round too: Globex sees its own workflow and none of Acme's.
    await globex.goto("/console/workflows");
    expect(await globex.text("#workflow-table")).toContain(b.workflow);
    expect(await globex.page.content()).not.toContain(a.workflow);
  });

  it("another business's ids in the URL are not found, and the page shows none of its data", async () => {
    for (const path of [
      `/console/workflows/${b.workflow}`,
      `/console/workflows/${b.childWorkflow}`,
      `/console/customers/${b.customer}`,
      "/console/templates/edit?name=globex_terms",
    ]) {
      await acme.goto(path, 404);
      const html = (await acme.page.content()).replaceAll(path.split(/[/=]/).pop()!, "");
      expectNoGlobex(html, path);
    }
    await acme.goto("/console/workflows/new?template=globex_terms");
    expect(await acme.text("[role=alert]")).toContain("could not be loaded");
    expect(await acme.page.getByRole("button", { name: "Create workflow" }).count()).toBe(0);
    expect(await acme.page.content()).not.toContain("Globex secret terms");
  });

  it("actions on another business's workflows, webhooks, deliveries, keys and customers are not found and change nothing", async () => {
    const before = await globexState();
    const attempts: Array<[string, Record<string, string>?]> = [
      [`/console/workflows/${b.workflow}/link`],
      [`/console/workflows/${b.workflow}/resend`],
      [`/console/workflows/${b.workflow}/extend`, { days: "30" }],
      [`/console/workflows/${b.workflow}/cancel`, { confirm: "yes" }],
      [`/console/webhooks/${b.hook}/rotate`],
      [`/console/webhooks/${b.hook}/suspend`],
      [`/console/webhooks/${b.hook}/delete`, { confirm: "yes" }],
      [`/console/webhooks/deliveries/${b.delivery}/redeliver`],
      [`/console/keys/${b.key}/revoke`, { confirm: "yes" }],
      [`/console/customers/${b.customer}/suspend`, { confirm: "yes" }],
      [`/console/customers/${b.customer}/disconnect`, { confirm: "yes" }],
      [`/console/customers/${b.customer}/delete`, { confirm: "yes" }],
    ];
    for (const [path, form] of attempts) {
      const r = await acme.post(path, form);
      expect(r.status(), path).toBe(404);
      const html = await r.text();
      expect(html, path).not.toMatch(/\/l\/[A-Za-z0-9_-]{20,}/);
      expect(html, path).not.toContain("Gloria");
    }
    expect(await globexState()).toEqual(before);
    expect(before.customer).toBe(CustomerStatus.CUSTOMER_STATUS_ACTIVE);
    // Each attempt is in Acme's audit log as failed, none in Globex's.
    const rows = await h.stack.node.sql<{ business_id: string; n: number }[]>`
      select business_id, count(*)::int as n from console.audit
      where email = 'admin@acme.test' and outcome = 'failed' group by business_id`;
    expect(rows).toEqual([{ business_id: h.a.businessId, n: attempts.length }]);
  });

  it("a user switches only to their own business's children", async () => {
    await acme.goto("/console/workflows");
    const options = await acme.page.locator("#business-switch option").allTextContents();
    expect(options.sort()).toEqual(["Acme Payroll", "Acme West"]);
    for (const other of [h.b.businessId, env.childB]) {
      const r = await acme.post("/console/switch", { business_id: other });
      expect(r.status(), other).toBe(403);
      expect(await r.text()).toContain("You cannot act for that business.");
    }
    await acme.goto("/console/workflows");
    expect(await acme.text("#workflow-table")).toContain(a.workflow);

    // Its own child: the console then shows the child's workflows only.
    await acme.page.getByLabel("Business").selectOption({ label: "Acme West" });
    await acme.page.getByRole("button", { name: "Switch" }).click();
    await expect.poll(() => acme.text(".flash")).toContain("Switched");
    await acme.shot("acting for the child");
    const table = await acme.text("#workflow-table");
    expect(table).toContain(a.childWorkflow);
    expect(table).not.toContain(a.workflow);
    expectNoGlobex(await acme.page.content(), "the child's workflows");
    await acme.goto(`/console/workflows/${b.childWorkflow}`, 404);

    // Globex's admin is offered Globex and its child, and cannot switch to Acme's.
    await globex.goto("/console/workflows");
    expect((await globex.page.locator("#business-switch option").allTextContents()).sort()).toEqual([
      "Globex",
      "Globex East",
    ]);
    const r = await globex.post("/console/switch", { business_id: env.childA });
    expect(r.status()).toBe(403);
    const denied = await h.stack.node.sql<{ email: string; target: string }[]>`
      select email, target from console.audit where action = 'session.switch_business' and outcome = 'denied'
      order by id`;
    expect(denied).toEqual([
      { email: "admin@acme.test", target: h.b.businessId },
      { email: "admin@acme.test", target: env.childB },
      { email: "admin@globex.test", target: env.childA },
    ]);
  });
});
