import type { FieldViolation } from "../../core/index.ts";
import type { StepIR } from "../../dsl/index.ts";
import { PROFILE_FIELD_LABELS, type WorkflowState } from "../../services/workflows/index.ts";
import { type Html, html } from "./html.ts";

const AUTOCOMPLETE: Record<string, string> = {
  first_name: "given-name",
  last_name: "family-name",
  email: "email",
  phone: "tel",
  date_of_birth: "bday",
  address: "street-address",
};
const INPUT_TYPE: Record<string, string> = { email: "email", phone: "tel", date_of_birth: "date" };

export function layout(title: string, body: Html, businessName = ""): string {
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title><link rel="stylesheet" href="/static/portal.css"></head>
<body>${businessName ? html`<header><p>${businessName}</p></header>` : ""}<main id="main">${body}</main></body></html>`}`;
}

function progress(s: WorkflowState): Html {
  const shown = s.steps.filter((x) => x.status !== "skipped");
  const idx = shown.findIndex((x) => x.status === "active");
  return html`<p class="progress">Step ${idx + 1} of ${shown.length}</p>`;
}

function errorSummary(violations: FieldViolation[]): Html | "" {
  if (violations.length === 0) return "";
  return html`<div class="summary" role="alert" tabindex="-1" id="errors"><p><strong>Please fix the following:</strong></p><ul>${violations.map(
    (v) => html`<li><a href="#f-${v.field}">${v.description}</a></li>`,
  )}</ul></div>`;
}

export function stepPage(
  s: WorkflowState,
  step: StepIR,
  action: string,
  csrf: string,
  values: Record<string, string> = {},
  violations: FieldViolation[] = [],
): string {
  const err = new Map(violations.map((v) => [v.field, v.description]));
  let fields: Html | string = "";
  if (step.action.kind === "collect_profile") {
    fields = html`${step.action.fields.map((f) => {
      const id = `f-${f.name}`;
      const e = err.get(f.name);
      return html`<label for="${id}">${PROFILE_FIELD_LABELS[f.name] ?? f.name}${f.required ? "" : " (optional)"}</label>
<input id="${id}" name="${f.name}" type="${INPUT_TYPE[f.name] ?? "text"}" autocomplete="${AUTOCOMPLETE[f.name] ?? "on"}" value="${values[f.name] ?? ""}"${f.required ? html` required` : ""}${e ? html` aria-invalid="true" aria-describedby="${id}-err"` : ""}>
${e ? html`<p class="error" id="${id}-err">${e}</p>` : ""}`;
    })}`;
  }
  const memo = s.memo ? html`<p>${s.memo}</p>` : "";
  return layout(
    step.title,
    html`${progress(s)}<h1>${step.title}</h1>${memo}${errorSummary(violations)}
<form class="card" method="post" action="${action}" novalidate>
<input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="_step" value="${step.id}">
${fields}<button type="submit">Continue</button></form>`,
    s.businessName,
  );
}

export function processingPage(s: WorkflowState): string {
  return layout(
    "Just a moment",
    html`<div class="card" role="status"><h1>Just a moment…</h1><p>We are saving your answers. This page refreshes by itself.</p>
<p><a href="">Refresh now</a></p></div>`,
    s.businessName,
  ).replace("<head>", '<head><meta http-equiv="refresh" content="1">');
}

const FINAL_TEXT: Record<string, { title: string; text: string }> = {
  completed: {
    title: "All done",
    text: "Thank you. You have completed every step; you can close this page.",
  },
  declined: { title: "Declined", text: "You declined this request. The business has been told." },
  expired: { title: "This link has expired", text: "Please contact the business for a new link." },
  cancelled: {
    title: "This request was cancelled",
    text: "The business cancelled this request; nothing more is needed.",
  },
  failed: {
    title: "Something went wrong",
    text: "We could not complete this request. The business has been told.",
  },
};

export function finalPage(s: WorkflowState): string {
  const t = FINAL_TEXT[s.status] ?? { title: "Done", text: "" };
  return layout(
    t.title,
    html`<div class="card" role="status"><h1 class="${s.status === "completed" ? "done" : ""}">${t.title}</h1><p>${t.text}</p></div>`,
    s.businessName,
  );
}

export function notFoundPage(): string {
  return layout(
    "Link not found",
    html`<div class="card"><h1>We could not find this link</h1><p>Check that you opened the whole link from your message, or ask the business to send it again.</p></div>`,
  );
}

export function errorPage(title: string, text: string): string {
  return layout(title, html`<div class="card" role="alert"><h1>${title}</h1><p>${text}</p></div>`);
}
