import type { Channel as DslChannel, InputDecl, WorkflowProgram } from "../../dsl/index.ts";
import { compileTemplate, formatMoney } from "../../dsl/index.ts";
import {
  Channel,
  type Workflow,
  WorkflowStatus,
  workflowStatusFromJSON,
  workflowStatusToJSON,
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
import { type Message, previewMessages } from "./simulate.ts";

export const STATUSES = [
  "created",
  "link_sent",
  "opened",
  "in_progress",
  "completed",
  "declined",
  "expired",
  "cancelled",
  "failed",
] as const;

export function statusName(s: WorkflowStatus): string {
  return workflowStatusToJSON(s)
    .replace(/^WORKFLOW_STATUS_/, "")
    .toLowerCase();
}

function statusBadge(s: WorkflowStatus): Html {
  const n = statusName(s);
  return html`<span class="badge ${n}" data-status="${n}">${n.replace("_", " ")}</span>`;
}

const ACTIVE = new Set([
  WorkflowStatus.WORKFLOW_STATUS_CREATED,
  WorkflowStatus.WORKFLOW_STATUS_LINK_SENT,
  WorkflowStatus.WORKFLOW_STATUS_OPENED,
  WorkflowStatus.WORKFLOW_STATUS_IN_PROGRESS,
]);

function recipientOf(w: Workflow): string {
  return w.inputs?.__recipient ?? "";
}

/** GET /console/workflows — filters, search, paging; the table refreshes itself. */
export async function listWorkflows(ctx: Ctx): Promise<Result> {
  const q = ctx.url.searchParams;
  const status = q.get("status") ?? "";
  const template = q.get("template") ?? "";
  const from = q.get("from") ?? "";
  const to = q.get("to") ?? "";
  const text = (q.get("q") ?? "").trim();
  const pageToken = q.get("page") ?? "";
  const validDate = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s));
  const [templates, found] = await Promise.all([
    rpc(ctx.caller, ctx.api.templates, "listTemplates", { includeArchived: false }).catch(() => ({
      templates: [],
    })),
    rpc(ctx.caller, ctx.api.workflows, "searchWorkflows", {
      pageSize: 25,
      pageToken,
      statuses: STATUSES.includes(status as (typeof STATUSES)[number])
        ? [workflowStatusFromJSON(`WORKFLOW_STATUS_${status.toUpperCase()}`)]
        : [],
      customerId: "",
      externalId: "",
      templateName: template,
      templateVersion: 0,
      createdAfter: validDate(from) ? new Date(`${from}T00:00:00Z`) : undefined,
      createdBefore: validDate(to) ? new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000) : undefined,
      query: text,
    }).then(
      (r) => ({ ok: true as const, ...r }),
      (err: Error) => ({ ok: false as const, message: err.message }),
    ),
  ]);
  const names = [...new Set(templates.templates.map((t) => t.name))].sort();
  const nextQuery = new URLSearchParams(q);
  if (found.ok && found.nextPageToken) nextQuery.set("page", found.nextPageToken);
  const body = html`<h1>Workflows</h1>
${flash(ctx)}
${ctx.user.role === "viewer" ? "" : html`<p><a href="/console/workflows/new">New workflow</a></p>`}
<form method="get" action="/console/workflows" class="card filters" role="search" aria-label="Filter workflows">
 <div><label for="f-q">Search</label><input id="f-q" name="q" value="${text}" placeholder="Name, phone, email or id"></div>
 <div><label for="f-status">Status</label><select id="f-status" name="status"><option value="">Any</option>${STATUSES.map(
   (s) => html`<option value="${s}"${s === status ? " selected" : ""}>${s.replace("_", " ")}</option>`,
 )}</select></div>
 <div><label for="f-template">Template</label><select id="f-template" name="template"><option value="">Any</option>${names.map(
   (n) => html`<option${n === template ? " selected" : ""}>${n}</option>`,
 )}</select></div>
 <div><label for="f-from">Created from</label><input id="f-from" name="from" type="date" value="${from}"></div>
 <div><label for="f-to">Created to</label><input id="f-to" name="to" type="date" value="${to}"></div>
 <div><button type="submit">Apply</button></div>
</form>
${
  found.ok
    ? html`<div id="workflow-table" data-live>
<table class="responsive"><caption class="hint">${found.workflows.length} shown · updates live</caption>
<thead><tr><th scope="col">Workflow</th><th scope="col">Template</th><th scope="col">Status</th><th scope="col">Step</th><th scope="col">Created</th><th scope="col">Expires</th></tr></thead>
<tbody>${found.workflows.map(
        (w) => html`<tr data-id="${w.id}">
<td data-label="Workflow"><a href="/console/workflows/${w.id}" class="mono">${w.id}</a>${w.externalId ? html`<br><span class="hint">${w.externalId}</span>` : ""}${recipientOf(w) ? html`<br><span class="hint">${recipientOf(w)}</span>` : ""}</td>
<td data-label="Template">${w.templateName} v${w.templateVersion}</td>
<td data-label="Status">${statusBadge(w.status)}</td>
<td data-label="Step">${w.currentStep || "—"}</td>
<td data-label="Created">${fmtTime(w.createdAt)}</td>
<td data-label="Expires">${fmtTime(w.expireAt)}</td></tr>`,
      )}</tbody></table>
${found.workflows.length === 0 ? html`<p>No workflows match.</p>` : ""}
</div>
<nav class="pager" aria-label="Pages">${pageToken ? html`<a href="/console/workflows?${new URLSearchParams([...q].filter(([k]) => k !== "page")).toString()}">First page</a>` : ""}${found.nextPageToken ? html`<a href="/console/workflows?${nextQuery.toString()}">Next page</a>` : ""}</nav>`
    : errorBox(found.message)
}`;
  return { title: "Workflows", nav: "workflows", body, live: true };
}

function channelName(c: Channel): string {
  return c === Channel.CHANNEL_EMAIL
    ? "email"
    : c === Channel.CHANNEL_SMS_AND_EMAIL
      ? "SMS and email"
      : "SMS";
}

/** GET /console/workflows/:id — facts, steps, timeline (events, notifications, transactions), actions. */
export async function showWorkflow(ctx: Ctx, id: string, extra?: Html): Promise<Result> {
  const [{ workflow: w }, history] = await Promise.all([
    rpc(ctx.caller, ctx.api.workflows, "getWorkflow", { workflowId: id }),
    rpc(ctx.caller, ctx.api.workflows, "getWorkflowHistory", { workflowId: id }),
  ]);
  if (!w) return { title: "Not found", nav: "workflows", body: html`<h1>Not found</h1>`, status: 404 };
  const active = ACTIVE.has(w.status);
  type Item = { at: number; cls: string; text: Html };
  const items: Item[] = [
    ...history.events.map((e) => ({
      at: e.occurredAt?.getTime() ?? 0,
      cls: e.type.startsWith("transaction") ? "transaction" : "event",
      text: html`<strong>${e.type}</strong>${e.stepId ? html` · step ${e.stepId}` : ""}${e.actor ? html` · by ${e.actor}` : ""} <span class="hint">#${e.sequence}</span>${
        e.dataJson && e.dataJson !== "{}"
          ? html`<br><code>${e.dataJson.length > 400 ? `${e.dataJson.slice(0, 400)}…` : e.dataJson}</code>`
          : ""
      }`,
    })),
    ...history.notifications.map((n) => ({
      at: n.sentAt?.getTime() ?? 0,
      cls: "notification",
      text: html`<strong>${channelName(n.channel)} ${n.origin.toLowerCase()}</strong> · ${n.status}${n.sentBy ? html` · sent by ${n.sentBy}` : ""}`,
    })),
  ].sort((a, b) => a.at - b.at);
  const can = ctx.user.role !== "viewer";
  const body = html`<p><a href="/console/workflows">← Workflows</a></p>
<h1>Workflow <span class="mono">${w.id}</span></h1>
${flash(ctx)}${extra ?? ""}
<div class="grid">
<section class="card" id="wf-facts" data-live aria-labelledby="facts-h"><h2 id="facts-h">Status</h2>
<dl class="facts">
<dt>Status</dt><dd>${statusBadge(w.status)}</dd>
<dt>Template</dt><dd>${w.templateName} v${w.templateVersion}</dd>
<dt>Current step</dt><dd>${w.currentStep || "—"}</dd>
<dt>Channel</dt><dd>${channelName(w.channel)}</dd>
<dt>Created</dt><dd>${fmtTime(w.createdAt)}</dd>
<dt>Expires</dt><dd>${fmtTime(w.expireAt)}</dd>
<dt>Next reminder</dt><dd>${active ? fmtTime(w.nextNotificationAt) : "—"}</dd>
${w.completedAt ? html`<dt>Finished</dt><dd>${fmtTime(w.completedAt)}</dd>` : ""}
${w.declineReason ? html`<dt>Decline reason</dt><dd>${w.declineReason}</dd>` : ""}
${w.failureReason ? html`<dt>Failure</dt><dd>${w.failureReason}</dd>` : ""}
${w.customerId ? html`<dt>Customer</dt><dd><a href="/console/customers/${w.customerId}" class="mono">${w.customerId}</a></dd>` : ""}
${w.externalId ? html`<dt>External id</dt><dd>${w.externalId}</dd>` : ""}
${w.memo ? html`<dt>Memo</dt><dd>${w.memo}</dd>` : ""}
</dl>
<h2>Steps</h2><ol>${w.steps.map(
    (s) =>
      html`<li>${s.title} <span class="hint">(${s.id})</span> — ${
        // STEP_STATUS_* → word
        ["unspecified", "pending", "active", "completed", "skipped", "failed", "declined"][s.status] ?? ""
      }</li>`,
  )}</ol>
</section>
<section class="card" id="wf-actions" data-live aria-labelledby="actions-h"><h2 id="actions-h">Actions</h2>
${
  !active
    ? html`<p>This workflow has finished; no actions are available.</p>`
    : !can
      ? html`<p>Your role (viewer) can look but not act.</p>`
      : html`<form method="post" action="/console/workflows/${w.id}/link">${csrfField(ctx)}<button type="submit" class="secondary">Copy link</button></form>
<form method="post" action="/console/workflows/${w.id}/resend">${csrfField(ctx)}<button type="submit">Resend link</button></form>
<form method="post" action="/console/workflows/${w.id}/extend" class="inline">${csrfField(ctx)}
<div><label for="extend-days">Extend expiry by (days)</label><input id="extend-days" name="days" type="number" min="1" max="90" value="7" required></div>
<button type="submit">Extend expiry</button></form>
<form method="post" action="/console/workflows/${w.id}/cancel">${csrfField(ctx)}
<label for="cancel-reason">Reason for cancelling</label><input id="cancel-reason" name="reason" maxlength="200">
${confirmBox("cancel-confirm", "Yes, cancel this workflow; the customer's link stops working")}
<button type="submit" class="danger">Cancel workflow</button></form>`
}
</section>
</div>
<section class="card" id="wf-timeline" data-live aria-labelledby="tl-h"><h2 id="tl-h">Timeline</h2>
<ol class="timeline">${items.map((i) => html`<li class="${i.cls}"><time>${fmtTime(new Date(i.at))}</time> — ${i.text}</li>`)}</ol>
</section>`;
  return { title: `Workflow ${w.id}`, nav: "workflows", body, live: true };
}

/** POST /console/workflows/:id/{link,resend,extend,cancel}. */
export async function workflowAction(ctx: Ctx, id: string, action: string): Promise<Result> {
  const f = ctx.form;
  const idem = actionKey(ctx, action, id);
  switch (action) {
    case "link": {
      const r = await rpc(ctx.caller, ctx.api.workflows, "getWorkflowLink", { workflowId: id });
      await ctx.audit("workflow.link", id, "ok");
      return showWorkflow(
        ctx,
        id,
        html`<div class="card" aria-live="polite"><label for="link-url">Customer link (valid until ${fmtTime(r.expireAt)})</label>
<input id="link-url" readonly value="${r.linkUrl}" data-copy><p class="hint">Share it only with the customer: anyone with it can open their page.</p></div>`,
      );
    }
    case "resend":
      await rpc(ctx.caller, ctx.api.workflows, "resendLink", {
        workflowId: id,
        channel: Channel.CHANNEL_UNSPECIFIED,
        idempotencyKey: idem,
      });
      await ctx.audit("workflow.resend", id, "ok");
      return { redirect: `/console/workflows/${id}?ok=resent` };
    case "extend": {
      const days = Number(f.get("days"));
      if (!Number.isInteger(days) || days < 1 || days > 90)
        return showWorkflow(ctx, id, errorBox("Enter a whole number of days from 1 to 90."));
      await rpc(ctx.caller, ctx.api.workflows, "extendExpiry", {
        workflowId: id,
        expireAt: undefined,
        extendBy: { seconds: days * 86_400, nanos: 0 },
        idempotencyKey: idem,
      });
      await ctx.audit("workflow.extend", id, "ok", { days });
      return { redirect: `/console/workflows/${id}?ok=extended` };
    }
    case "cancel": {
      if (f.get("confirm") !== "yes")
        return showWorkflow(ctx, id, errorBox("Tick the box to confirm the cancellation."));
      const reason = (f.get("reason") ?? "").slice(0, 200);
      await rpc(ctx.caller, ctx.api.workflows, "cancelWorkflow", {
        workflowId: id,
        reason: reason || `cancelled by ${ctx.user.email} in the console`,
        idempotencyKey: idem,
      });
      await ctx.audit("workflow.cancel", id, "ok", { reason });
      return { redirect: `/console/workflows/${id}?ok=cancelled` };
    }
  }
  return { title: "Not found", body: html`<h1>Not found</h1>`, status: 404 };
}

function inputField(d: InputDecl, value: string, error?: string, focus = false): Html {
  const id = `in-${d.name}`;
  const label = html`<label for="${id}">${d.description ?? d.name}${d.optional ? html` <span class="hint">(optional)</span>` : ""}</label>`;
  const hintText =
    d.type === "money"
      ? `Amount and currency, like 250.00 ${d.currency ?? "USD"}`
      : d.type === "phone"
        ? "E.164, like +14155550123"
        : d.type === "date"
          ? "YYYY-MM-DD"
          : "";
  const err = error ? html`<p class="error" id="${id}-err">${error}</p>` : "";
  const aria = html`${error ? html` aria-invalid="true" aria-describedby="${id}-err"` : ""}${d.optional ? "" : " required"}${focus ? " autofocus" : ""}`;
  // A money default is an object; the form shows it in the canonical text the API takes.
  const def =
    d.default === undefined || d.default === null
      ? ""
      : typeof d.default === "object"
        ? formatMoney(d.default)
        : String(d.default);
  const v = value || def;
  let control: Html;
  if (d.type === "enum")
    control = html`<select id="${id}" name="in.${d.name}"${aria}>${d.optional ? html`<option value=""></option>` : ""}${(
      d.values ?? []
    ).map((x) => html`<option${x === v ? " selected" : ""}>${x}</option>`)}</select>`;
  else if (d.type === "boolean")
    control = html`<select id="${id}" name="in.${d.name}"${aria}><option value=""></option><option${v === "true" ? " selected" : ""}>true</option><option${v === "false" ? " selected" : ""}>false</option></select>`;
  else {
    const type =
      d.type === "email"
        ? "email"
        : d.type === "phone"
          ? "tel"
          : d.type === "date"
            ? "date"
            : d.type === "number"
              ? "text"
              : "text";
    const pattern =
      d.type === "money"
        ? html` pattern="-?\\d+(\\.\\d+)?\\s*[A-Z]{3}"`
        : d.type === "number"
          ? html` pattern="-?\\d+(\\.\\d+)?" inputmode="decimal"`
          : "";
    control = html`<input id="${id}" name="in.${d.name}" type="${type}" value="${v}"${pattern}${aria}>`;
  }
  return html`<div>${label}${control}${hintText ? html`<p class="hint">${hintText}</p>` : ""}${err}</div>`;
}

function previewBox(messages: Message[]): Html {
  return html`<section class="card" aria-labelledby="preview-h"><h2 id="preview-h">What the customer will get</h2>
${messages.length === 0 ? html`<p class="hint">Enter a phone or email to preview the message.</p>` : ""}
${messages.map(
  (m) =>
    html`<p><strong>${m.channel === "sms" ? "SMS" : "Email"} to ${m.to}</strong>${m.subject ? html` — ${m.subject}` : ""}</p><pre class="preview">${m.text}</pre>`,
)}</section>`;
}

async function loadProgram(
  ctx: Ctx,
  name: string,
  version: number,
): Promise<{ program?: WorkflowProgram; version: number }> {
  const { template } = await rpc(ctx.caller, ctx.api.templates, "getTemplate", { name, version });
  if (!template) return { version };
  return {
    program: compileTemplate(template.source, { file: `${name}.flow` }).program,
    version: template.version,
  };
}

/** GET/POST /console/workflows/new — pick a template and version, fill its typed inputs, preview, create. */
export async function newWorkflow(ctx: Ctx, post: boolean): Promise<Result> {
  const src = post ? ctx.form : ctx.url.searchParams;
  const name = src.get("template") ?? "";
  const version = Number(src.get("version") ?? 0) || 0;
  const { templates } = await rpc(ctx.caller, ctx.api.templates, "listTemplates", { includeArchived: false });
  const errors: Record<string, string> = {};
  let general: string | undefined;
  let loaded: { program?: WorkflowProgram; version: number } | undefined;
  let versions: number[] = [];
  if (name) {
    const vs = await rpc(ctx.caller, ctx.api.templates, "listTemplateVersions", { name }).catch(() => ({
      templates: [],
    }));
    versions = vs.templates.map((t) => t.version).sort((a, b) => b - a);
    loaded = await loadProgram(ctx, name, version).catch(() => undefined);
    if (!loaded?.program) general = `Template ${name} could not be loaded.`;
  }
  const program = loaded?.program;
  const values: Record<string, string> = {};
  for (const [k, v] of src) if (k.startsWith("in.")) values[k.slice(3)] = v;
  const phone = (src.get("phone") ?? "").trim();
  const email = (src.get("email") ?? "").trim();
  const channel = src.get("channel") ?? "";
  const memo = (src.get("memo") ?? "").trim();
  const externalId = (src.get("external_id") ?? "").trim();
  const channels: DslChannel[] | undefined =
    channel === "sms"
      ? ["sms"]
      : channel === "email"
        ? ["email"]
        : channel === "both"
          ? ["sms", "email"]
          : undefined;
  const inputs: Record<string, string> = {};
  for (const d of program?.inputs ?? [])
    if ((values[d.name] ?? "") !== "") inputs[d.name] = values[d.name] ?? "";

  if (post && program && src.get("intent") !== "preview") {
    if (!phone && !email) errors.recipient = "Enter the customer's phone or email.";
    if (Object.keys(errors).length === 0) {
      try {
        const r = await rpc(ctx.caller, ctx.api.workflows, "createWorkflow", {
          templateName: name,
          templateVersion: loaded?.version ?? version,
          inputs,
          customerPhone: phone,
          customerEmail: email,
          customerId: "",
          channel:
            channel === "sms"
              ? Channel.CHANNEL_SMS
              : channel === "email"
                ? Channel.CHANNEL_EMAIL
                : channel === "both"
                  ? Channel.CHANNEL_SMS_AND_EMAIL
                  : Channel.CHANNEL_UNSPECIFIED,
          externalId,
          memo,
          expiresIn: undefined,
          idempotencyKey: `console:${ctx.user.id}:${src.get("nonce") ?? Date.now()}`,
        });
        await ctx.audit("workflow.create", r.workflow?.id ?? "", "ok", {
          template: name,
          version: loaded?.version,
        });
        return { redirect: `/console/workflows/${r.workflow?.id}` };
      } catch (err) {
        const e = err as { message?: string; violations?: { field: string; description: string }[] };
        for (const v of e.violations ?? []) {
          const f = v.field.replace(/^inputs\./, "in.");
          const key =
            f === "customer_phone"
              ? "phone"
              : f === "customer_email"
                ? "email"
                : f.startsWith("in.")
                  ? f.slice(3)
                  : f;
          errors[key] = v.description;
        }
        general = e.violations?.length
          ? "Please correct the fields below."
          : (e.message ?? "Could not create the workflow.");
        await ctx.audit("workflow.create", "", "failed", { template: name, error: e.message ?? "" });
      }
    }
  }
  const preview =
    program && (phone || email)
      ? previewMessages(program, {
          businessName: ctx.businesses.find((b) => b.id === ctx.businessId)?.name ?? "",
          inputs,
          recipient: { ...(phone ? { phone } : {}), ...(email ? { email } : {}) },
          ...(channels ? { channels } : {}),
          ...(memo ? { memo } : {}),
        })
      : [];
  const messages = preview.filter((m): m is Message => "channel" in m);
  const tnames = [...new Set(templates.map((t) => t.name))].sort();
  // After a refused submit, focus starts on the first field to fix (works without JavaScript).
  const hasError = (k: string) => Boolean(k === "phone" ? errors.recipient || errors.phone : errors[k]);
  const firstError = [...(program?.inputs.map((d) => d.name) ?? []), "phone", "email"].find(hasError);
  const focusOn = (k: string) => (firstError === k ? " autofocus" : "");
  const body = html`<p><a href="/console/workflows">← Workflows</a></p><h1>New workflow</h1>
${general ? errorBox(general) : ""}
<form method="get" action="/console/workflows/new" class="card inline" aria-label="Choose a template">
<div><label for="nw-template">Template</label><select id="nw-template" name="template" required><option value="">Choose…</option>${tnames.map(
    (n) => html`<option${n === name ? " selected" : ""}>${n}</option>`,
  )}</select></div>
${
  versions.length
    ? html`<div><label for="nw-version">Version</label><select id="nw-version" name="version"><option value="0">Latest (v${versions[0]})</option>${versions.map(
        (v) => html`<option value="${v}"${v === version ? " selected" : ""}>v${v}</option>`,
      )}</select></div>`
    : ""
}
<button type="submit" class="secondary">Use template</button></form>
${
  program
    ? html`<form method="post" action="/console/workflows/new" class="card" novalidate>
${csrfField(ctx)}<input type="hidden" name="template" value="${name}"><input type="hidden" name="version" value="${version}">
<input type="hidden" name="nonce" value="${src.get("nonce") ?? `${Date.now()}${Math.random().toString(36).slice(2, 8)}`}">
<h2>${program.template.title} <span class="hint">${program.template.name} v${program.template.version}</span></h2>
${program.inputs.length ? html`<fieldset><legend>Inputs</legend>${program.inputs.map((d) => inputField(d, values[d.name] ?? "", errors[d.name], firstError === d.name))}</fieldset>` : html`<p class="hint">This template has no inputs.</p>`}
<fieldset><legend>Customer</legend>
${errors.recipient ? html`<p class="error" id="recipient-err">${errors.recipient}</p>` : ""}
<label for="nw-phone">Mobile phone</label><input id="nw-phone" name="phone" type="tel" value="${phone}" placeholder="+14155550123"${errors.phone ? html` aria-invalid="true" aria-describedby="nw-phone-err"` : errors.recipient ? html` aria-invalid="true" aria-describedby="recipient-err"` : ""}${focusOn("phone")}>
${errors.phone ? html`<p class="error" id="nw-phone-err">${errors.phone}</p>` : ""}
<label for="nw-email">Email</label><input id="nw-email" name="email" type="email" value="${email}"${errors.email ? html` aria-invalid="true" aria-describedby="nw-email-err"` : ""}${focusOn("email")}>
${errors.email ? html`<p class="error" id="nw-email-err">${errors.email}</p>` : ""}
<label for="nw-channel">Channel</label><select id="nw-channel" name="channel">
<option value="">Template default (${program.link.channels.join(" and ")})</option>
${[
  ["sms", "SMS"],
  ["email", "Email"],
  ["both", "SMS and email"],
].map(([v, l]) => html`<option value="${v}"${v === channel ? " selected" : ""}>${l}</option>`)}</select>
<label for="nw-external">External id <span class="hint">(optional)</span></label><input id="nw-external" name="external_id" value="${externalId}" maxlength="100">
<label for="nw-memo">Memo <span class="hint">(optional, shown in the message)</span></label><input id="nw-memo" name="memo" value="${memo}" maxlength="200">
</fieldset>
${
  ctx.user.role === "viewer"
    ? html`<p class="hint">Your role (viewer) can look but not act.</p>`
    : html`<button type="submit" name="intent" value="preview" class="secondary">Preview message</button>
<button type="submit" name="intent" value="create">Create workflow</button>`
}
</form>
${previewBox(messages)}`
    : ""
}`;
  return { title: "New workflow", nav: "workflows", body, status: general && post ? 422 : 200 };
}

export function isActive(status: WorkflowStatus): boolean {
  return ACTIVE.has(status);
}
