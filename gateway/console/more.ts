import { formatMoney } from "../../dsl/index.ts";
import {
  type Customer,
  CustomerStatus,
  DeliveryStatus,
  deliveryStatusToJSON,
  financialAccountKindToJSON,
  financialAccountStatusToJSON,
  transactionMethodToJSON,
  transactionStatusToJSON,
  WebhookSubscriptionStatus,
  webhookSubscriptionStatusToJSON,
} from "../../proto/index.ts";
import { rpc } from "./api.ts";
import {
  actionKey,
  type Ctx,
  confirmBox,
  csrfField,
  errorBox,
  flash,
  fmtTime,
  type Result,
} from "./context.ts";
import { type Html, html } from "./html.ts";
import { type CustomerRecords, customerRecords } from "./records.ts";
import { statusName } from "./workflows.ts";

const word = (s: string, prefix: string) => s.replace(prefix, "").toLowerCase();
const idem = (ctx: Ctx, what: string) => actionKey(ctx, what);

export const EVENT_TYPES = [
  "workflow.*",
  "workflow.completed",
  "workflow.declined",
  "workflow.expired",
  "workflow.failed",
  "transaction.*",
  "customer.*",
  "financial_account.*",
];

function secretShown(label: string, secret: string): Html {
  return html`<div class="card" role="status"><p><strong>${label}</strong> It is shown only once: copy it now.</p>
<label for="new-secret">Secret</label><input id="new-secret" class="secret" readonly value="${secret}" data-copy></div>`;
}

/** /console/webhooks… — subscriptions, event filters, secret rotation, suspend/resume, delivery log, redeliver. */
export async function webhooks(ctx: Ctx, method: string, path: string): Promise<Result | undefined> {
  let shown: Html | undefined;
  if (method === "POST") {
    const f = ctx.form;
    const m1 = /^\/console\/webhooks\/([^/]+)\/(rotate|suspend|resume|delete)$/.exec(path);
    const m2 = /^\/console\/webhooks\/deliveries\/([^/]+)\/redeliver$/.exec(path);
    if (path === "/console/webhooks") {
      const url = (f.get("url") ?? "").trim();
      const types = f.getAll("event_types").filter((t) => EVENT_TYPES.includes(t));
      const r = await rpc(ctx.caller, ctx.api.webhooks, "createWebhook", {
        url,
        eventTypes: types.length ? types : ["workflow.*"],
        idempotencyKey: idem(ctx, "webhook.create"),
      });
      await ctx.audit("webhook.create", r.subscription?.id ?? "", "ok", { url, types });
      shown = secretShown(`Webhook ${r.subscription?.id} created.`, r.secret);
    } else if (m1) {
      const id = m1[1]!;
      const op = m1[2]!;
      if (op === "rotate") {
        const r = await rpc(ctx.caller, ctx.api.webhooks, "rollWebhookSecret", {
          subscriptionId: id,
          overlapSeconds: 24 * 3600,
          idempotencyKey: idem(ctx, "webhook.rotate"),
        });
        await ctx.audit("webhook.rotate", id, "ok");
        shown = secretShown(
          `The secret of ${id} was rotated; the previous one keeps working for 24 hours.`,
          r.secret,
        );
      } else if (op === "suspend") {
        await rpc(ctx.caller, ctx.api.webhooks, "suspendWebhook", {
          subscriptionId: id,
          reason: `suspended by ${ctx.user.email}`,
          idempotencyKey: idem(ctx, "webhook.suspend"),
        });
        await ctx.audit("webhook.suspend", id, "ok");
        return { redirect: "/console/webhooks?ok=suspended" };
      } else if (op === "resume") {
        await rpc(ctx.caller, ctx.api.webhooks, "resumeWebhook", {
          subscriptionId: id,
          idempotencyKey: idem(ctx, "webhook.resume"),
        });
        await ctx.audit("webhook.resume", id, "ok");
        return { redirect: "/console/webhooks?ok=resumed" };
      } else {
        if (f.get("confirm") !== "yes")
          return {
            title: "Confirm",
            nav: "webhooks",
            body: errorBox("Tick the box to confirm."),
            status: 422,
          };
        await rpc(ctx.caller, ctx.api.webhooks, "deleteWebhook", {
          subscriptionId: id,
          idempotencyKey: idem(ctx, "webhook.delete"),
        });
        await ctx.audit("webhook.delete", id, "ok");
        return { redirect: "/console/webhooks?ok=deleted" };
      }
    } else if (m2) {
      await rpc(ctx.caller, ctx.api.webhooks, "redeliverWebhook", {
        deliveryId: m2[1]!,
        idempotencyKey: idem(ctx, "redeliver"),
      });
      await ctx.audit("webhook.redeliver", m2[1]!, "ok");
      return { redirect: "/console/webhooks?ok=redelivered" };
    } else return undefined;
  } else if (path !== "/console/webhooks") return undefined;

  const [subs, deliveries] = await Promise.all([
    rpc(ctx.caller, ctx.api.webhooks, "listWebhooks", {}),
    rpc(ctx.caller, ctx.api.webhooks, "listWebhookDeliveries", { eventId: "", pageSize: 50 }).catch(() => ({
      deliveries: [],
    })),
  ]);
  const admin = ctx.user.role === "admin";
  const body = html`<h1>Webhooks</h1>${flash(ctx)}${shown ?? ""}
<section aria-labelledby="subs-h"><h2 id="subs-h">Subscriptions</h2>
${subs.subscriptions.length === 0 ? html`<p>No subscriptions yet.</p>` : ""}
${subs.subscriptions.map((s) => {
  const st = word(webhookSubscriptionStatusToJSON(s.status), "WEBHOOK_SUBSCRIPTION_STATUS_");
  return html`<div class="card" data-subscription="${s.id}"><p><strong class="mono">${s.url}</strong> <span class="badge ${st}">${st}</span></p>
<p class="hint"><span class="mono">${s.id}</span> · events: ${s.eventTypes.join(", ")} · created ${fmtTime(s.createdAt)}${s.consecutiveFailures ? ` · ${s.consecutiveFailures} failures in a row` : ""}${s.statusReason ? ` · ${s.statusReason}` : ""}${s.previousSecretExpiresAt ? ` · previous secret valid until ${fmtTime(s.previousSecretExpiresAt)}` : ""}</p>
${
  admin
    ? html`<form method="post" action="/console/webhooks/${s.id}/rotate" class="inline">${csrfField(ctx)}<button type="submit" class="secondary">Rotate secret</button></form>
${
  s.status === WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_ACTIVE
    ? html`<form method="post" action="/console/webhooks/${s.id}/suspend" class="inline">${csrfField(ctx)}<button type="submit" class="secondary">Suspend</button></form>`
    : html`<form method="post" action="/console/webhooks/${s.id}/resume" class="inline">${csrfField(ctx)}<button type="submit" class="secondary">Resume</button></form>`
}
<form method="post" action="/console/webhooks/${s.id}/delete" class="inline">${csrfField(ctx)}${confirmBox(`del-${s.id}`, "Delete this subscription")}<button type="submit" class="danger">Delete</button></form>`
    : ""
}</div>`;
})}
</section>
${
  admin
    ? html`<form method="post" action="/console/webhooks" class="card" aria-labelledby="new-hook-h"><h2 id="new-hook-h">New subscription</h2>${csrfField(ctx)}
<label for="hook-url">Endpoint URL</label><input id="hook-url" name="url" type="url" required placeholder="https://example.com/linkflow">
<fieldset><legend>Event types</legend>${EVENT_TYPES.map(
        (t, i) =>
          html`<label class="choice"><input type="checkbox" name="event_types" value="${t}"${i === 0 ? " checked" : ""}> ${t}</label>`,
      )}</fieldset><button type="submit">Create subscription</button></form>`
    : ""
}
<section aria-labelledby="dl-h" id="deliveries" data-live><h2 id="dl-h">Delivery log</h2>
<table class="responsive"><thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Response</th><th scope="col">Attempts</th><th scope="col">When</th><th scope="col"></th></tr></thead>
<tbody>${deliveries.deliveries.map((d) => {
    const st = word(deliveryStatusToJSON(d.status), "DELIVERY_STATUS_");
    return html`<tr><td data-label="Event">${d.eventType}<br><span class="hint mono">${d.eventId}</span>${d.workflowId ? html`<br><a class="mono" href="/console/workflows/${d.workflowId}">${d.workflowId}</a>` : ""}</td>
<td data-label="Status"><span class="badge ${st === "failed" ? "failed" : st === "delivered" ? "completed" : ""}">${st}</span></td>
<td data-label="Response">${d.lastResponseCode || "—"}${d.lastError ? html`<br><span class="hint">${d.lastError}</span>` : ""}</td>
<td data-label="Attempts">${d.attempts}</td><td data-label="When">${fmtTime(d.deliveredAt ?? d.createdAt)}</td>
<td>${ctx.user.role !== "viewer" && d.status !== DeliveryStatus.DELIVERY_STATUS_PENDING ? html`<form method="post" action="/console/webhooks/deliveries/${d.id}/redeliver">${csrfField(ctx)}<button type="submit" class="secondary">Redeliver</button></form>` : ""}</td></tr>`;
  })}</tbody></table></section>`;
  return { title: "Webhooks", nav: "webhooks", body, live: true };
}

/**
 * Whether a listed key (known by its plaintext prefix) is the one the console
 * calls the API with. A different key sharing the prefix is also protected: the
 * price of never revoking the console's own key, which would lock every user out.
 */
function usedByConsole(ctx: Ctx, prefix: string): boolean {
  return ctx.caller.apiKey.startsWith(prefix);
}

/** /console/keys… — create (shown once), list, revoke. */
export async function apiKeys(ctx: Ctx, method: string, path: string): Promise<Result | undefined> {
  let shown: Html | undefined;
  if (method === "POST") {
    const m3 = /^\/console\/keys\/([^/]+)\/revoke$/.exec(path);
    if (path === "/console/keys") {
      const name = (ctx.form.get("name") ?? "").trim().slice(0, 100) || "unnamed";
      const r = await rpc(ctx.caller, ctx.api.businesses, "createApiKey", {
        businessId: ctx.businessId,
        name,
        idempotencyKey: idem(ctx, "apikey.create"),
      });
      await ctx.audit("apikey.create", r.key?.id ?? "", "ok", { name });
      shown = secretShown(`API key "${name}" created.`, r.apiKey);
    } else if (m3) {
      if (ctx.form.get("confirm") !== "yes")
        return { title: "Confirm", nav: "keys", body: errorBox("Tick the box to confirm."), status: 422 };
      const { keys: listed } = await rpc(ctx.caller, ctx.api.businesses, "listApiKeys", {
        businessId: ctx.businessId,
      });
      const target = listed.find((k) => k.id === m3[1]);
      if (target && usedByConsole(ctx, target.prefix)) {
        await ctx.audit("apikey.revoke", target.id, "denied", { reason: "console_key" });
        return {
          title: "Not revoked",
          nav: "keys",
          body: html`<h1>Not revoked</h1>${errorBox("This is the key the console itself uses: revoking it would lock everyone out of the console. Ask your Linkflow operator to replace the console's key first.")}<p><a href="/console/keys">Back to API keys</a></p>`,
          status: 409,
        };
      }
      await rpc(ctx.caller, ctx.api.businesses, "revokeApiKey", {
        keyId: m3[1]!,
        businessId: ctx.businessId,
        idempotencyKey: idem(ctx, "apikey.revoke"),
      });
      await ctx.audit("apikey.revoke", m3[1]!, "ok");
      return { redirect: "/console/keys?ok=revoked" };
    } else return undefined;
  } else if (path !== "/console/keys") return undefined;
  const { keys } = await rpc(ctx.caller, ctx.api.businesses, "listApiKeys", { businessId: ctx.businessId });
  const admin = ctx.user.role === "admin";
  const body = html`<h1>API keys</h1>${flash(ctx)}${shown ?? ""}
<table class="responsive"><thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Created</th><th scope="col">Status</th><th scope="col"></th></tr></thead>
<tbody>${keys.map(
    (
      k,
    ) => html`<tr><td data-label="Name">${k.name}${usedByConsole(ctx, k.prefix) ? html`<br><span class="hint">used by this console; it cannot be revoked here</span>` : ""}</td><td data-label="Key" class="mono">${k.prefix}…</td>
<td data-label="Created">${fmtTime(k.createdAt)}</td><td data-label="Status">${k.revokedAt ? html`<span class="badge revoked">revoked ${fmtTime(k.revokedAt)}</span>` : html`<span class="badge active">active</span>`}</td>
<td>${admin && !k.revokedAt && !usedByConsole(ctx, k.prefix) ? html`<form method="post" action="/console/keys/${k.id}/revoke">${csrfField(ctx)}${confirmBox(`revoke-${k.id}`, "Revoke; callers using it stop working")}<button type="submit" class="danger">Revoke</button></form>` : ""}</td></tr>`,
  )}</tbody></table>
${admin ? html`<form method="post" action="/console/keys" class="card"><h2>New API key</h2>${csrfField(ctx)}<label for="key-name">Name</label><input id="key-name" name="name" required maxlength="100"><button type="submit">Create key</button></form>` : ""}`;
  return { title: "API keys", nav: "keys", body };
}

const ind = (c: Customer) => (c.profile?.$case === "individual" ? c.profile.value : undefined);
const biz = (c: Customer) => (c.profile?.$case === "business" ? c.profile.value : undefined);

function customerName(c: Customer): string {
  const individual = ind(c);
  const business = biz(c);
  if (individual)
    return `${individual.firstName} ${individual.lastName}`.trim() || individual.email || individual.phone;
  if (business) return business.dbaName;
  return c.id;
}

/** /console/customers… — list, detail, suspend/activate, delete, disconnect financial data. */
export async function customers(ctx: Ctx, method: string, path: string): Promise<Result | undefined> {
  const m4 = /^\/console\/customers\/([^/]+)\/(suspend|activate|delete|disconnect)$/.exec(path);
  const m5 = /^\/console\/customers\/([^/]+)$/.exec(path);
  if (method === "POST") {
    if (!m4) return undefined;
    const id = m4[1]!;
    const op = m4[2]!;
    if (ctx.form.get("confirm") !== "yes")
      return {
        title: "Confirm",
        nav: "customers",
        body: html`${errorBox("Tick the box to confirm.")}<p><a href="/console/customers/${id}">Back</a></p>`,
        status: 422,
      };
    if (op === "suspend" || op === "activate") {
      await rpc(ctx.caller, ctx.api.customers, "setCustomerStatus", {
        customerId: id,
        status:
          op === "suspend" ? CustomerStatus.CUSTOMER_STATUS_SUSPENDED : CustomerStatus.CUSTOMER_STATUS_ACTIVE,
        reason: `${op} by ${ctx.user.email} in the console`,
        idempotencyKey: idem(ctx, op),
      });
      await ctx.audit(`customer.${op}`, id, "ok");
      return { redirect: `/console/customers/${id}?ok=${op === "suspend" ? "suspended" : "activated"}` };
    }
    if (op === "delete") {
      await rpc(ctx.caller, ctx.api.customers, "deleteCustomer", {
        customerId: id,
        idempotencyKey: idem(ctx, op),
      });
      await ctx.audit("customer.delete", id, "ok");
      return { redirect: "/console/customers?ok=deleted" };
    }
    const r = await rpc(ctx.caller, ctx.api.customers, "disconnectFinancialData", {
      customerId: id,
      idempotencyKey: idem(ctx, op),
    });
    await ctx.audit("customer.disconnect", id, "ok", { disconnected: r.disconnected });
    return { redirect: `/console/customers/${id}?ok=disconnected` };
  }
  if (path === "/console/customers") {
    const r = await rpc(ctx.caller, ctx.api.customers, "listCustomers", {
      page: { pageSize: 50, pageToken: ctx.url.searchParams.get("page") ?? "" },
      status: CustomerStatus.CUSTOMER_STATUS_UNSPECIFIED,
    });
    const body = html`<h1>Customers</h1>${flash(ctx)}
<table class="responsive"><thead><tr><th scope="col">Customer</th><th scope="col">Contact</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead>
<tbody>${r.customers.map((c) => {
      const st = word(
        `${c.status === CustomerStatus.CUSTOMER_STATUS_SUSPENDED ? "suspended" : "active"}`,
        "",
      );
      return html`<tr><td data-label="Customer"><a href="/console/customers/${c.id}">${customerName(c)}</a><br><span class="hint mono">${c.id}</span></td>
<td data-label="Contact">${ind(c)?.email ?? biz(c)?.primaryContact?.email ?? ""} ${ind(c)?.phone ?? ""}</td>
<td data-label="Status"><span class="badge ${st}">${st}</span></td><td data-label="Created">${fmtTime(c.createdAt)}</td></tr>`;
    })}</tbody></table>
${r.nextPageToken ? html`<p><a href="/console/customers?page=${encodeURIComponent(r.nextPageToken)}">Next page</a></p>` : ""}`;
    return { title: "Customers", nav: "customers", body };
  }
  if (!m5) return undefined;
  const id = m5[1]!;
  const [{ customer: c }, fas, txns, records] = await Promise.all([
    rpc(ctx.caller, ctx.api.customers, "getCustomer", { customerId: id }),
    rpc(ctx.caller, ctx.api.financialAccounts, "listFinancialAccounts", { customerId: id }).catch(() => ({
      financialAccounts: [],
    })),
    rpc(ctx.caller, ctx.api.transactions, "listTransactions", {
      customerId: id,
      page: { pageSize: 50, pageToken: "" },
    }).catch(() => ({
      transactions: [],
    })),
    customerRecords(ctx, id).catch(() => undefined),
  ]);
  if (!c) return undefined;
  const suspended = c.status === CustomerStatus.CUSTOMER_STATUS_SUSPENDED;
  const can = ctx.user.role !== "viewer";
  const admin = ctx.user.role === "admin";
  const act = (op: string, label: string, confirm: string, cls = "secondary") =>
    html`<form method="post" action="/console/customers/${c.id}/${op}" class="card">${csrfField(ctx)}${confirmBox(`${op}-confirm`, confirm)}<button type="submit" class="${cls}">${label}</button></form>`;
  const body = html`<p><a href="/console/customers">← Customers</a></p><h1>${customerName(c)}</h1>${flash(ctx)}
<div class="grid"><section class="card"><h2>Profile</h2><dl class="facts">
<dt>Id</dt><dd class="mono">${c.id}</dd><dt>Status</dt><dd><span class="badge ${suspended ? "suspended" : "active"}">${suspended ? "suspended" : "active"}</span></dd>
${ind(c) ? html`<dt>Email</dt><dd>${ind(c)?.email || "—"}</dd><dt>Phone</dt><dd>${ind(c)?.phone || "—"}</dd>` : ""}
${biz(c) ? html`<dt>Business</dt><dd>${biz(c)?.dbaName}</dd><dt>Contact</dt><dd>${biz(c)?.primaryContact?.email ?? ""}</dd>` : ""}
${c.externalId ? html`<dt>External id</dt><dd>${c.externalId}</dd>` : ""}
<dt>Created</dt><dd>${fmtTime(c.createdAt)}</dd></dl>
${c.statusHistory.length ? html`<h3>Status history</h3><ul>${c.statusHistory.map((h) => html`<li>${fmtTime(h.changedAt)} — ${h.status === CustomerStatus.CUSTOMER_STATUS_SUSPENDED ? "suspended" : "active"}${h.reason ? ` (${h.reason})` : ""}</li>`)}</ul>` : ""}
</section>
<section class="card"><h2>Actions</h2>
${can ? (suspended ? act("activate", "Activate", "Allow transactions with this customer again") : act("suspend", "Suspend", "Stop all transactions with this customer")) : html`<p>Your role (viewer) can look but not act.</p>`}
${admin ? act("disconnect", "Disconnect financial data", "Erase this customer's financial accounts; the customer record stays", "danger") : ""}
${admin ? act("delete", "Delete customer", "Delete this customer permanently", "danger") : ""}
</section></div>
<section class="card"><h2>Financial accounts</h2>
${
  fas.financialAccounts.length === 0
    ? html`<p>None.</p>`
    : html`<table class="responsive"><thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Number</th><th scope="col">Status</th></tr></thead><tbody>${fas.financialAccounts.map(
        (
          a,
        ) => html`<tr><td data-label="Name">${a.name}${a.isDefault ? " (default)" : ""}</td><td data-label="Kind">${word(financialAccountKindToJSON(a.kind), "FINANCIAL_ACCOUNT_KIND_")}</td>
<td data-label="Number" class="mono">${a.numberMasked || `•••• ${a.numberLast4}`}</td><td data-label="Status">${word(financialAccountStatusToJSON(a.status), "FINANCIAL_ACCOUNT_STATUS_")}</td></tr>`,
      )}</tbody></table>`
}
</section>
<section class="card"><h2>Transactions</h2>
${
  txns.transactions.length === 0
    ? html`<p>None.</p>`
    : html`<table class="responsive"><thead><tr><th scope="col">Id</th><th scope="col">Amount</th><th scope="col">Method</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead><tbody>${txns.transactions.map(
        (
          t,
        ) => html`<tr><td data-label="Id" class="mono">${t.id}</td><td data-label="Amount">${t.amount ? formatMoney({ amountMinor: Number(t.amount.amountMinor), currency: t.amount.currency }) : ""}</td>
<td data-label="Method">${word(transactionMethodToJSON(t.method), "TRANSACTION_METHOD_")}</td><td data-label="Status">${word(transactionStatusToJSON(t.status), "TRANSACTION_STATUS_")}${t.returnCode ? ` (${t.returnCode})` : ""}</td><td data-label="Created">${fmtTime(t.createdAt)}</td></tr>`,
      )}</tbody></table>`
}
</section>
${recordsSections(records)}`;
  return { title: customerName(c), nav: "customers", body };
}

/** The customer's workflows, documents accepted and uploads (their own sections on the customer page). */
function recordsSections(r: CustomerRecords | undefined): Html {
  if (!r) return errorBox("The customer's workflows could not be loaded.");
  const wfLink = (id: string) => html`<a class="mono" href="/console/workflows/${id}">${id}</a>`;
  return html`<section class="card" aria-labelledby="docs-h"><h2 id="docs-h">Documents accepted</h2>
${
  r.documents.length === 0
    ? html`<p>None.</p>`
    : html`<table class="responsive" id="documents"><thead><tr><th scope="col">Document</th><th scope="col">Version</th><th scope="col">Accepted</th><th scope="col">Workflow</th></tr></thead><tbody>${r.documents.map(
        (d) =>
          html`<tr><td data-label="Document">${d.title} <span class="hint mono">${d.id}</span></td><td data-label="Version">${d.version || "—"}</td><td data-label="Accepted">${fmtTime(d.at)}</td><td data-label="Workflow">${wfLink(d.workflowId)}</td></tr>`,
      )}</tbody></table>`
}
</section>
<section class="card" aria-labelledby="uploads-h"><h2 id="uploads-h">Uploads</h2>
${
  r.uploads.length === 0
    ? html`<p>None.</p>`
    : html`<table class="responsive" id="uploads"><thead><tr><th scope="col">Step</th><th scope="col">Kinds</th><th scope="col">Completed</th><th scope="col">Workflow</th></tr></thead><tbody>${r.uploads.map(
        (u) =>
          html`<tr><td data-label="Step">${u.title}</td><td data-label="Kinds">${u.kinds.join(", ")}</td><td data-label="Completed">${fmtTime(u.at)}</td><td data-label="Workflow">${wfLink(u.workflowId)}</td></tr>`,
      )}</tbody></table>`
}
</section>
<section class="card" aria-labelledby="cwf-h"><h2 id="cwf-h">Workflows</h2>
${
  r.workflows.length === 0
    ? html`<p>None.</p>`
    : html`<ul id="customer-workflows">${r.workflows.map(
        (w) =>
          html`<li>${wfLink(w.id)} — ${w.templateName} v${w.templateVersion} · <span class="badge ${statusName(w.status)}">${statusName(w.status).replace("_", " ")}</span> · ${fmtTime(w.createdAt)}</li>`,
      )}</ul>`
}
</section>`;
}

/** GET /console/audit — who did what, when (this business). */
export async function auditPage(ctx: Ctx): Promise<Result> {
  const rows = await ctx.sql<{ at: Date; email: string; action: string; target: string; outcome: string }[]>`
    select at, email, action, target, outcome from console.audit
    where business_id = ${ctx.businessId} order by id desc limit 200`;
  const body = html`<h1>Audit log</h1><table class="responsive"><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th></tr></thead>
<tbody>${rows.map(
    (r) =>
      html`<tr><td data-label="When"><time datetime="${r.at.toISOString()}">${fmtTime(r.at)}</time></td><td data-label="Who">${r.email}</td><td data-label="Action">${r.action}</td><td data-label="Target" class="mono">${r.target}</td><td data-label="Outcome"><span class="badge ${r.outcome === "ok" ? "completed" : "failed"}">${r.outcome}</span></td></tr>`,
  )}</tbody></table>`;
  return { title: "Audit log", nav: "audit", body };
}

async function finishedEvents(ctx: Ctx) {
  const r = await rpc(ctx.caller, ctx.api.webhooks, "listWebhookEvents", {
    type: "workflow.*",
    workflowId: "",
    pageSize: 50,
    pageToken: "",
  });
  return r.events
    .filter((e) => e.type === "workflow.completed" || e.type === "workflow.declined")
    .sort((a, b) => (a.id < b.id ? 1 : -1));
}

function describeEvent(type: string, workflowId: string): string {
  return type === "workflow.completed"
    ? `Customer completed workflow ${workflowId}`
    : `Customer declined workflow ${workflowId}`;
}

/** GET /console/notifications — customers who completed or declined, newest first. */
export async function notificationsPage(ctx: Ctx): Promise<Result> {
  const events = await finishedEvents(ctx);
  const body = html`<h1>Notifications</h1><div id="notification-list" data-live>${events.length === 0 ? html`<p>Nothing yet.</p>` : ""}<ul>${events.map(
    (e) =>
      html`<li>${fmtTime(e.createdAt)} — <a href="/console/workflows/${e.workflowId}">${describeEvent(e.type, e.workflowId)}</a></li>`,
  )}</ul></div>`;
  return { title: "Notifications", nav: "notifications", body, live: true };
}

/** GET /console/api/notifications?after=<event id> — for the toasts. */
export async function notificationsJson(ctx: Ctx): Promise<Result> {
  const after = ctx.url.searchParams.get("after") ?? "";
  const events = await finishedEvents(ctx);
  const cursor = events[0]?.id ?? (after || "evt_");
  const items = after
    ? events
        .filter((e) => e.id > after)
        .map((e) => ({
          id: e.id,
          text: describeEvent(e.type, e.workflowId),
          href: `/console/workflows/${e.workflowId}`,
        }))
    : [];
  return { json: { cursor, items } };
}
