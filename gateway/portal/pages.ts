import type { FieldViolation } from "../../core/index.ts";
import { formatMoney, type StepIR } from "../../dsl/index.ts";
import {
  confirmDetails,
  declineOptions,
  documentText,
  PROFILE_FIELD_LABELS,
  SANDBOX_INSTITUTIONS,
  type WorkflowState,
} from "../../services/workflows/index.ts";
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

/** One labelled input with its error announced through aria-describedby. */
function field(
  name: string,
  label: string,
  opts: {
    value?: string;
    error?: string;
    type?: string;
    autocomplete?: string;
    inputmode?: string;
    required?: boolean;
    hint?: string;
    /** Fields that belong to one of several alternatives are not marked "(optional)". */
    alternative?: boolean;
  },
): Html {
  const id = `f-${name}`;
  const described = [opts.hint ? `${id}-hint` : "", opts.error ? `${id}-err` : ""].filter(Boolean).join(" ");
  return html`<label for="${id}">${label}${opts.required === false && !opts.alternative ? " (optional)" : ""}</label>
${opts.hint ? html`<p class="hint" id="${id}-hint">${opts.hint}</p>` : ""}
<input id="${id}" name="${name}" type="${opts.type ?? "text"}" autocomplete="${opts.autocomplete ?? "off"}" value="${opts.value ?? ""}"${opts.inputmode ? html` inputmode="${opts.inputmode}"` : ""}${opts.required === false ? "" : html` required`}${opts.error ? html` aria-invalid="true"` : ""}${described ? html` aria-describedby="${described}"` : ""}>
${opts.error ? html`<p class="error" id="${id}-err">${opts.error}</p>` : ""}`;
}

const KIND_LABELS: Record<string, string> = {
  bank_account: "Bank account",
  debit_card: "Debit card",
  credit_card: "Credit card",
};
const METHOD_LABELS: Record<string, string> = {
  push_to_card: "instant transfer to your card",
  ach_credit: "bank transfer (1–2 business days)",
  ach_debit: "bank debit (1–2 business days)",
};

function stepFields(
  s: WorkflowState,
  step: StepIR,
  values: Record<string, string>,
  err: Map<string, string>,
): Html | string {
  const a = step.action;
  switch (a.kind) {
    case "collect_profile":
      return html`${a.fields.map((f) =>
        field(f.name, PROFILE_FIELD_LABELS[f.name] ?? f.name, {
          value: values[f.name],
          error: err.get(f.name),
          type: INPUT_TYPE[f.name],
          autocomplete: AUTOCOMPLETE[f.name] ?? "on",
          required: f.required,
        }),
      )}`;
    case "lookup_customer": {
      const who = s.recipient.phone
        ? `the mobile number ending ${s.recipient.phone.slice(-4)}`
        : "this email address";
      return html`<p>We have you on file with ${who}. Continue to confirm it is you.</p>`;
    }
    case "collect_financial_account": {
      const kinds = a.accountKinds;
      const chosen = values.kind || kinds[0] || "bank_account";
      const choice =
        kinds.length > 1
          ? html`<fieldset><legend>What would you like to use?</legend>${kinds.map(
              (k) =>
                html`<label class="choice"><input type="radio" name="kind" value="${k}"${k === chosen ? html` checked` : ""}> ${KIND_LABELS[k] ?? k}</label>`,
            )}</fieldset>`
          : html`<input type="hidden" name="kind" value="${chosen}">`;
      const bank = kinds.includes("bank_account")
        ? html`<fieldset><legend>Bank account</legend>
${field("routing_number", "Routing number", { value: values.routing_number, error: err.get("routing_number"), inputmode: "numeric", hint: "9 digits, at the bottom left of a check", required: false, alternative: true })}
${field("account_number", "Account number", { value: "", error: err.get("account_number"), inputmode: "numeric", required: false, alternative: true })}
${
  a.subtypes.length > 1 || a.subtypes.length === 0
    ? html`<label for="f-account_type">Account type</label><select id="f-account_type" name="account_type">${(
        a.subtypes.length ? a.subtypes : ["checking", "savings"]
      ).map(
        (t) =>
          html`<option value="${t}"${values.account_type === t ? html` selected` : ""}>${t[0]?.toUpperCase()}${t.slice(1)}</option>`,
      )}</select>`
    : html`<input type="hidden" name="account_type" value="${a.subtypes[0]}">`
}
${field("name_on_account", "Name on the account", { value: values.name_on_account, error: err.get("name_on_account"), autocomplete: "name", required: false, alternative: true })}
</fieldset>`
        : "";
      const card = kinds.some((k) => k.endsWith("_card"))
        ? html`<fieldset><legend>Card</legend>
${field("card_number", "Card number", { value: "", error: err.get("card_number"), inputmode: "numeric", autocomplete: "cc-number", required: false, alternative: true })}
${field("expiry", "Expiry (MM/YY)", { value: values.expiry, error: err.get("expiry"), autocomplete: "cc-exp", required: false, alternative: true })}
</fieldset>`
        : "";
      return html`${choice}${err.get("kind") ? html`<p class="error">${err.get("kind")}</p>` : ""}${bank}${card}
<p class="hint">Your details are encrypted. We only ever show the last four digits.</p>`;
    }
    case "accept_documents":
      return html`${a.documents.map((d, i) => {
        const id = `f-accept_${i}`;
        const e = err.get(`accept_${i}`);
        const paragraphs = documentText(d)
          .split(/\n\s*\n/)
          .map((p) => p.trim())
          .filter((p) => p !== "");
        return html`<section class="doc"><h2>${d.title ?? d.id}</h2>${d.version ? html`<p class="hint">Version ${d.version}</p>` : ""}<div class="doc-text">${paragraphs.map((p) => html`<p>${p}</p>`)}</div>
<label class="choice" for="${id}"><input id="${id}" type="checkbox" name="accept_${i}"${values[`accept_${i}`] === "on" ? html` checked` : ""}${e ? html` aria-invalid="true" aria-describedby="${id}-err"` : ""}> I have read and accept ${d.title ?? d.id}</label>
${e ? html`<p class="error" id="${id}-err">${e}</p>` : ""}</section>`;
      })}`;
    case "confirm_transaction": {
      let summary: Html;
      try {
        const d = confirmDetails(s, step);
        const verb = a.direction === "send" ? "You will receive" : "You will pay";
        summary = html`<p class="amount"><strong>${verb} ${formatMoney(d.amount)}</strong></p>
<p>${a.direction === "send" ? "To" : "From"} your ${KIND_LABELS[d.accountKind] ?? "account"} ending ${d.accountLast4}, by ${METHOD_LABELS[d.method] ?? d.method}.</p>`;
      } catch {
        summary = html`<p>The payment details are not available.</p>`;
      }
      return summary;
    }
    case "upload_documents": {
      const e = err.get("files");
      const accept = a.contentTypes.join(",");
      return html`<p>Please add ${a.minCount === a.maxCount ? a.minCount : `${a.minCount} to ${a.maxCount}`} ${a.kinds.join(", ").replace(/_/g, " ")} file(s)${a.contentTypes.length ? ` (${a.contentTypes.join(", ")})` : ""}, up to ${Math.round(a.maxSizeBytes / 1_048_576)} MB each.</p>
<label for="f-files">Files</label>
<input id="f-files" name="files" type="file" multiple${accept ? html` accept="${accept}"` : ""}${e ? html` aria-invalid="true" aria-describedby="f-files-err"` : ""}>
${e ? html`<p class="error" id="f-files-err">${e}</p>` : ""}`;
    }
    case "verify_identity": {
      const methods = a.methods.length > 0 ? a.methods : ["document"];
      const labels: Record<string, string> = { document: "A photo of your ID document", selfie: "A selfie" };
      return html`<p>We check that you are who you say you are. Photos are only used for this check.</p>
${methods.map((m) => {
  const e = err.get(m);
  return html`<label for="f-${m}">${labels[m] ?? m}</label>
<input id="f-${m}" name="${m}" type="file" accept="image/jpeg,image/png" capture="${m === "selfie" ? "user" : "environment"}"${e ? html` aria-invalid="true" aria-describedby="f-${m}-err"` : ""}>
${e ? html`<p class="error" id="f-${m}-err">${e}</p>` : ""}`;
})}`;
    }
    default:
      return html`<p>This step cannot be completed on this page yet.</p>`;
  }
}

function declineForm(
  step: StepIR,
  action: string,
  csrf: string,
  values: Record<string, string>,
  err: Map<string, string>,
): Html | "" {
  if (!step.declinable) return "";
  const { reasons, allowOther: other } = declineOptions(step);
  const e = err.get("reason") ?? err.get("other_reason");
  return html`<form class="card decline" method="post" action="${action}" novalidate>
<input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="_step" value="${step.id}">
<fieldset${e ? html` aria-describedby="decline-err"` : ""}><legend>Not right? Decline and tell us why</legend>
${reasons.map(
  (r, i) =>
    html`<label class="choice"><input type="radio" name="reason" value="${r}" id="f-reason-${i}"${values.reason === r ? html` checked` : ""}> ${r}</label>`,
)}
${
  other
    ? html`<label class="choice"><input type="radio" name="reason" value="other"${values.reason === "other" ? html` checked` : ""}> Other</label>
<label for="f-other_reason">Your reason</label><textarea id="f-other_reason" name="other_reason" rows="3" maxlength="500">${values.other_reason ?? ""}</textarea>`
    : ""
}
</fieldset>${e ? html`<p class="error" id="decline-err" role="alert">${e}</p>` : ""}
<button type="submit" class="secondary" name="decision" value="decline">Decline</button></form>`;
}

function bankLinkForm(
  step: StepIR,
  action: string,
  csrf: string,
  values: Record<string, string>,
  err: Map<string, string>,
): Html {
  const a = step.action;
  const providers = a.kind === "collect_financial_account" ? a.providers : [];
  return html`<form class="card" method="post" action="${action}" novalidate>
<input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="_step" value="${step.id}"><input type="hidden" name="_action" value="bank_link">
<h2>Connect your bank</h2><p class="hint">Securely through ${providers.join(" or ")}; we never see your bank password.</p>
<label for="f-institution">Your bank</label><select id="f-institution" name="institution"${err.get("institution") ? html` aria-invalid="true" aria-describedby="f-institution-err"` : ""}>${SANDBOX_INSTITUTIONS.map(
    (i) =>
      html`<option value="${i.id}"${values.institution === i.id ? html` selected` : ""}>${i.name}</option>`,
  )}</select>
${err.get("institution") ? html`<p class="error" id="f-institution-err">${err.get("institution")}</p>` : ""}
${field("username", "Online banking username", { value: values.username, error: err.get("username"), autocomplete: "username" })}
${field("password", "Online banking password", { type: "password", autocomplete: "current-password" })}
<button type="submit">Connect bank</button></form>`;
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
  const memo = s.memo ? html`<p>${s.memo}</p>` : "";
  const a = step.action;
  const confirm = a.kind === "confirm_transaction";
  const multipart = a.kind === "upload_documents" || a.kind === "verify_identity";
  const bankLink =
    a.kind === "collect_financial_account" && a.providers.length > 0
      ? bankLinkForm(step, action, csrf, values, err)
      : "";
  const manual = a.kind !== "collect_financial_account" || a.manual;
  return layout(
    step.title,
    html`${progress(s)}<h1>${step.title}</h1>${memo}${errorSummary(violations)}${bankLink}
${
  manual
    ? html`<form class="card" method="post" action="${action}" novalidate${multipart ? html` enctype="multipart/form-data"` : ""}>
<input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="_step" value="${step.id}">
${bankLink ? html`<h2>Or enter your details</h2>` : ""}${stepFields(s, step, values, err)}<button type="submit" name="decision" value="approve">${confirm ? "Approve" : "Continue"}</button></form>`
    : ""
}
${declineForm(step, action, csrf, values, err)}`,
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

export function codePage(
  s: WorkflowState,
  action: string,
  csrf: string,
  opts: { error?: string; notice?: string } = {},
): string {
  const phone = s.recipient.phone ? `••••${s.recipient.phone.slice(-4)}` : "your phone";
  return layout(
    "Enter your code",
    html`<h1>Enter your code</h1>
${opts.notice ? html`<p role="status">${opts.notice}</p>` : html`<p>We sent a 6-digit code by text message to ${phone}. It is valid for 10 minutes.</p>`}
<form class="card" method="post" action="${action}" novalidate>
<input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="_action" value="verify_code">
<label for="f-code">6-digit code</label>
<input id="f-code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required${opts.error ? html` aria-invalid="true" aria-describedby="f-code-err"` : ""}>
${opts.error ? html`<p class="error" id="f-code-err" role="alert">${opts.error}</p>` : ""}
<button type="submit">Verify</button></form>
<form method="post" action="${action}"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="_action" value="resend_code">
<button type="submit" class="secondary">Send me a new code</button></form>`,
    s.businessName,
  );
}

export function lockedPage(s: WorkflowState): string {
  return layout(
    "Too many attempts",
    html`<div class="card" role="alert"><h1>Too many attempts</h1><p>For your security this link is locked for 30 minutes. Please try again later.</p></div>`,
    s.businessName,
  );
}
