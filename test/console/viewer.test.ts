import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTION_ROLES } from "../../gateway/console/index.ts";
import { CustomerStatus, WebhookSubscriptionStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import type { ApiHarness } from "../api/harness.ts";
import { createCustomer, declinedWorkflow, deliveredFor, startWorkflow } from "./fixtures.ts";
import { type ConsoleEnv, type ConsolePage, PASSWORD, startConsole } from "./setup.ts";

let env: ConsoleEnv;
let h: ApiHarness;
let viewer: ConsolePage;
let operator: ConsolePage;
let admin: ConsolePage;
const ids = {
  workflow: "",
  declined: "",
  delivery: "",
  activeHook: "",
  suspendedHook: "",
  key: "",
  customer: "",
  suspendedCustomer: "",
};
const PHONE = "+14155550171";
const opts = () => ({ metadata: h.auth(h.a.apiKey) });

beforeAll(async () => {
  env = await startConsole();
  h = env.h;
  ids.workflow = await startWorkflow(h, h.a, PHONE);
  ids.declined = await declinedWorkflow(h, h.a, "viewer-decline@example.com");
  ids.delivery = await deliveredFor(h, h.a, ids.declined);
  const hooks = await call(h.webhooks, "listWebhooks", {}, opts());
  ids.activeHook = hooks.subscriptions[0]!.id;
  const created = await call(
    h.webhooks,
    "createWebhook",
    { url: h.stack.webhooks.url, eventTypes: ["customer.*"], idempotencyKey: "viewer-hook-2" },
    opts(),
  );
  ids.suspendedHook = created.subscription!.id;
  await call(
    h.webhooks,
    "suspendWebhook",
    { subscriptionId: ids.suspendedHook, reason: "paused", idempotencyKey: "viewer-hook-2-suspend" },
    opts(),
  );
  const key = await call(
    h.businesses,
    "createApiKey",
    { businessId: "", name: "reporting", idempotencyKey: "viewer-key" },
    opts(),
  );
  ids.key = key.key!.id;
  ids.customer = (
    await createCustomer(h, h.a.businessId, { first: "Vera", last: "Active" }, true)
  ).customerId;
  ids.suspendedCustomer = (
    await createCustomer(h, h.a.businessId, { first: "Sam", last: "Paused" })
  ).customerId;
  await call(
    h.customers,
    "setCustomerStatus",
    {
      customerId: ids.suspendedCustomer,
      status: CustomerStatus.CUSTOMER_STATUS_SUSPENDED,
      reason: "fraud review",
      idempotencyKey: "viewer-suspend-sam",
    },
    opts(),
  );
  viewer = await env.signIn("viewer@acme.test");
  operator = await env.signIn("operator@acme.test");
  admin = await env.signIn("admin@acme.test");
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

/** What can be observed about every object an action could change, read through the public API. */
async function snapshot() {
  const { workflow } = await call(h.workflows, "getWorkflow", { workflowId: ids.workflow }, opts());
  const history = await call(h.workflows, "getWorkflowHistory", { workflowId: ids.workflow }, opts());
  const hooks = await call(h.webhooks, "listWebhooks", {}, opts());
  const deliveries = await call(h.webhooks, "listWebhookDeliveries", { eventId: "", pageSize: 100 }, opts());
  const keys = await call(h.businesses, "listApiKeys", { businessId: "" }, opts());
  const customers = await call(
    h.customers,
    "listCustomers",
    { page: { pageSize: 100, pageToken: "" }, status: CustomerStatus.CUSTOMER_STATUS_UNSPECIFIED },
    opts(),
  );
  const accounts = await call(
    h.financialAccounts,
    "listFinancialAccounts",
    { customerId: ids.customer },
    opts(),
  );
  const templates = await call(h.templates, "listTemplates", { includeArchived: true }, opts());
  const workflows = await call(
    h.workflows,
    "searchWorkflows",
    {
      pageSize: 100,
      pageToken: "",
      statuses: [],
      customerId: "",
      externalId: "",
      templateName: "",
      templateVersion: 0,
      query: "",
    },
    opts(),
  );
  const [users] = await h.stack.node.sql<{ n: number }[]>`select count(*)::int as n from console.users`;
  return {
    workflow: { status: workflow!.status, expireAt: workflow!.expireAt?.toISOString() },
    notifications: history.notifications.length,
    texts: h.stack.twilio.messages.filter((m) => m.to === PHONE).length,
    hooks: hooks.subscriptions.map((s) => ({
      id: s.id,
      status: s.status,
      rotated: s.previousSecretExpiresAt?.toISOString() ?? "",
    })),
    deliveries: deliveries.deliveries.map((d) => ({ id: d.id, attempts: d.attempts, status: d.status })),
    keys: keys.keys.map((k) => ({ id: k.id, revoked: Boolean(k.revokedAt) })),
    customers: customers.customers.map((c) => ({ id: c.id, status: c.status })),
    accounts: accounts.financialAccounts.map((a) => ({ id: a.id, status: a.status })),
    templates: templates.templates.map((t) => `${t.name}@${t.version}`).sort(),
    workflows: workflows.workflows.map((w) => w.id).sort(),
    users: users!.n,
  };
}

/** Every console action, with a form that would succeed for a user whose role allows it. */
const ACTIONS: Array<{ action: string; path: () => string; form?: Record<string, string> }> = [
  {
    action: "workflow.create",
    path: () => "/console/workflows/new",
    form: { template: "welcome", phone: "+14155550179", intent: "create", nonce: "viewer-create" },
  },
  { action: "workflow.link", path: () => `/console/workflows/${ids.workflow}/link` },
  { action: "workflow.resend", path: () => `/console/workflows/${ids.workflow}/resend` },
  {
    action: "workflow.extend",
    path: () => `/console/workflows/${ids.workflow}/extend`,
    form: { days: "30" },
  },
  {
    action: "workflow.cancel",
    path: () => `/console/workflows/${ids.workflow}/cancel`,
    form: { reason: "no", confirm: "yes" },
  },
  {
    action: "template.publish",
    path: () => "/console/templates/publish",
    form: {
      source: `template viewer_try "Try" version 1\n\nlink {\n  send via sms\n  expires in 7 days\n}\n\nstep profile "Details" {\n  collect individual { first_name, last_name required }\n}\n`,
    },
  },
  {
    action: "webhook.create",
    path: () => "/console/webhooks",
    form: { url: "http://127.0.0.1:9/viewer", event_types: "workflow.*" },
  },
  { action: "webhook.rotate", path: () => `/console/webhooks/${ids.activeHook}/rotate` },
  { action: "webhook.suspend", path: () => `/console/webhooks/${ids.activeHook}/suspend` },
  { action: "webhook.resume", path: () => `/console/webhooks/${ids.suspendedHook}/resume` },
  {
    action: "webhook.delete",
    path: () => `/console/webhooks/${ids.activeHook}/delete`,
    form: { confirm: "yes" },
  },
  { action: "webhook.redeliver", path: () => `/console/webhooks/deliveries/${ids.delivery}/redeliver` },
  { action: "apikey.create", path: () => "/console/keys", form: { name: "viewer's key" } },
  { action: "apikey.revoke", path: () => `/console/keys/${ids.key}/revoke`, form: { confirm: "yes" } },
  {
    action: "customer.suspend",
    path: () => `/console/customers/${ids.customer}/suspend`,
    form: { confirm: "yes" },
  },
  {
    action: "customer.activate",
    path: () => `/console/customers/${ids.suspendedCustomer}/activate`,
    form: { confirm: "yes" },
  },
  {
    action: "customer.delete",
    path: () => `/console/customers/${ids.customer}/delete`,
    form: { confirm: "yes" },
  },
  {
    action: "customer.disconnect",
    path: () => `/console/customers/${ids.customer}/disconnect`,
    form: { confirm: "yes" },
  },
  {
    action: "user.create",
    path: () => "/console/users",
    form: { email: "sneaky@acme.test", role: "admin", password: PASSWORD },
  },
];

describe("a viewer cannot act", () => {
  it("the table covers every console action", () => {
    expect(ACTIONS.map((a) => a.action).sort()).toEqual(Object.keys(ACTION_ROLES).sort());
  });

  it("every action a viewer posts (with a valid CSRF token) is refused with 403, audited, and changes nothing", async () => {
    const before = await snapshot();
    expect(before.workflow.status).toBeGreaterThan(0);
    expect(before.hooks.map((x) => x.status)).toContain(
      WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_SUSPENDED,
    );
    for (const a of ACTIONS) {
      const r = await viewer.post(a.path(), a.form);
      const body = await r.text();
      expect(r.status(), a.action).toBe(403);
      expect(body, a.action).toContain(
        `Your role (viewer) cannot do this; it needs ${ACTION_ROLES[a.action]}.`,
      );
      expect(body, a.action).not.toMatch(/\/l\/[A-Za-z0-9_-]{20,}/);
    }
    expect(await snapshot()).toEqual(before);
    const denied = await h.stack.node.sql<{ action: string }[]>`
      select action from console.audit where email = 'viewer@acme.test' and outcome = 'denied'`;
    expect(new Set(denied.map((d) => d.action))).toEqual(new Set(Object.keys(ACTION_ROLES)));
  });

  it("an operator is refused every admin-only action the same way", async () => {
    const before = await snapshot();
    const adminOnly = ACTIONS.filter((a) => ACTION_ROLES[a.action] === "admin");
    expect(adminOnly.length).toBeGreaterThan(5);
    for (const a of adminOnly) {
      const r = await operator.post(a.path(), a.form);
      expect(r.status(), a.action).toBe(403);
      expect(await r.text(), a.action).toContain("Your role (operator) cannot do this; it needs admin.");
    }
    expect(await snapshot()).toEqual(before);
  });

  it("the refusal is a page that says why, when a viewer's browser submits a form anyway", async () => {
    await viewer.goto(`/console/workflows/${ids.workflow}`);
    // The page offers no form, so plant one as a tampered page would.
    await viewer.page.evaluate(`(() => {
      const form = document.createElement("form");
      form.method = "post";
      form.action = "/console/workflows/${ids.workflow}/resend";
      const csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
      form.innerHTML = '<input type="hidden" name="_csrf" value="' + csrf + '"><button id="planted">Resend</button>';
      document.querySelector("main").append(form);
    })()`);
    const [res] = await Promise.all([
      viewer.page.waitForResponse((r) => r.url().endsWith("/resend")),
      viewer.page.click("#planted"),
    ]);
    expect(res.status()).toBe(403);
    await viewer.page.waitForURL(/\/resend$/);
    expect(await viewer.page.title()).toContain("Not allowed");
    expect(await viewer.text("[role=alert]")).toContain(
      "Your role (viewer) cannot do this; it needs operator.",
    );
    await viewer.shot("refused");
  });

  /** Buttons (and links) that act, per page; `role` is the weakest role that sees them. */
  const CONTROLS: Array<{ page: () => string; name: string; role: "operator" | "admin"; link?: boolean }> = [
    { page: () => "/console/workflows", name: "New workflow", role: "operator", link: true },
    { page: () => `/console/workflows/${ids.workflow}`, name: "Copy link", role: "operator" },
    { page: () => `/console/workflows/${ids.workflow}`, name: "Resend link", role: "operator" },
    { page: () => `/console/workflows/${ids.workflow}`, name: "Extend expiry", role: "operator" },
    { page: () => `/console/workflows/${ids.workflow}`, name: "Cancel workflow", role: "operator" },
    { page: () => "/console/workflows/new?template=welcome", name: "Create workflow", role: "operator" },
    { page: () => "/console/templates/edit?name=welcome", name: "Publish new version", role: "admin" },
    { page: () => "/console/webhooks", name: "Rotate secret", role: "admin" },
    { page: () => "/console/webhooks", name: "Suspend", role: "admin" },
    { page: () => "/console/webhooks", name: "Resume", role: "admin" },
    { page: () => "/console/webhooks", name: "Delete", role: "admin" },
    { page: () => "/console/webhooks", name: "Create subscription", role: "admin" },
    { page: () => "/console/webhooks", name: "Redeliver", role: "operator" },
    { page: () => "/console/keys", name: "Create key", role: "admin" },
    { page: () => "/console/keys", name: "Revoke", role: "admin" },
    { page: () => `/console/customers/${ids.customer}`, name: "Suspend", role: "operator" },
    { page: () => `/console/customers/${ids.customer}`, name: "Disconnect financial data", role: "admin" },
    { page: () => `/console/customers/${ids.customer}`, name: "Delete customer", role: "admin" },
    { page: () => `/console/customers/${ids.suspendedCustomer}`, name: "Activate", role: "operator" },
    { page: () => "/console/users", name: "Add user", role: "admin" },
  ];

  it("shows each action's button only to the roles allowed to use it", async () => {
    const seen = new Map<string, Set<string>>();
    for (const [role, user] of [
      ["viewer", viewer],
      ["operator", operator],
      ["admin", admin],
    ] as const) {
      let current = "";
      for (const c of CONTROLS) {
        if (c.page() !== current) {
          current = c.page();
          await user.goto(current);
        }
        const n = await user.page
          .locator("main")
          .getByRole(c.link ? "link" : "button", { name: c.name, exact: true })
          .count();
        const allowed = role === "admin" || (role === "operator" && c.role === "operator");
        expect(n > 0, `${role} on ${current}: ${c.name}`).toBe(allowed);
        if (n > 0) seen.set(c.name, (seen.get(c.name) ?? new Set()).add(role));
      }
    }
    expect(seen.size).toBe(new Set(CONTROLS.map((c) => c.name)).size);
  });
});
