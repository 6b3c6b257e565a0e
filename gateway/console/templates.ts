import { compileTemplate, type Diagnostic, formatDiagnostics, renderGraph } from "../../dsl/index.ts";
import { rpc } from "./api.ts";
import { type Ctx, csrfField, errorBox, fmtTime, type Result } from "./context.ts";
import { type Html, html } from "./html.ts";
import { type SimAnswer, simulate } from "./simulate.ts";

const STARTER = `template my_template "Confirm your details" version 1

link {
  send via sms
  expires in 7 days
  remind every 2 days
}

step profile "Confirm your details" {
  collect individual { first_name, last_name required; email optional }
}

on completed { notify business }
`;

/** Checks source with the same compiler the API uses: diagnostics as text, counts, and the diagram. */
export function check(source: string, file = "template.flow") {
  const r = compileTemplate(source, { file });
  const errors = r.diagnostics.filter((d: Diagnostic) => d.severity === "error").length;
  const warnings = r.diagnostics.length - errors;
  return {
    errors,
    warnings,
    text: r.diagnostics.length ? formatDiagnostics(r.diagnostics, source) : "",
    summary: errors
      ? `${errors} error${errors === 1 ? "" : "s"}${warnings ? `, ${warnings} warning${warnings === 1 ? "" : "s"}` : ""}`
      : warnings
        ? `No errors, ${warnings} warning${warnings === 1 ? "" : "s"}`
        : "No problems found.",
    graph: r.program ? renderGraph(r.program, "mermaid") : "",
    program: r.program,
  };
}

/** GET /console/templates — every template with its versions and usage. */
export async function listTemplates(ctx: Ctx): Promise<Result> {
  const { templates } = await rpc(ctx.caller, ctx.api.templates, "listTemplates", { includeArchived: false });
  const names = [...new Set(templates.map((t) => t.name))].sort();
  const versions = await Promise.all(
    names.map((name) =>
      rpc(ctx.caller, ctx.api.templates, "listTemplateVersions", { name }).then(
        (r) => ({ name, list: r.templates.sort((a, b) => b.version - a.version) }),
        () => ({ name, list: templates.filter((t) => t.name === name) }),
      ),
    ),
  );
  const body = html`<h1>Templates</h1>
<p><a href="/console/templates/edit">New template</a></p>
<table class="responsive"><thead><tr><th scope="col">Template</th><th scope="col">Versions</th><th scope="col">Workflows</th><th scope="col">Last used</th><th scope="col"></th></tr></thead>
<tbody>${versions.map(({ name, list }) => {
    const latest = list[0];
    const total = list.reduce((n, t) => n + Number(t.usage?.workflowCount ?? 0), 0);
    const last = list.map((t) => t.usage?.lastUsedAt?.getTime() ?? 0).reduce((a, b) => Math.max(a, b), 0);
    return html`<tr><td data-label="Template"><strong>${latest?.title ?? name}</strong><br><span class="mono">${name}</span>${latest?.shared ? html` <span class="badge">shared</span>` : ""}</td>
<td data-label="Versions">${list.map((t) => html`<span class="badge" title="${Number(t.usage?.workflowCount ?? 0)} workflows">v${t.version} · ${Number(t.usage?.workflowCount ?? 0)}</span> `)}</td>
<td data-label="Workflows">${total}</td><td data-label="Last used">${last ? fmtTime(new Date(last)) : "never"}</td>
<td><a href="/console/templates/edit?name=${encodeURIComponent(name)}">Edit / new version</a></td></tr>`;
  })}</tbody></table>`;
  return { title: "Templates", nav: "templates", body };
}

function editorPage(
  ctx: Ctx,
  source: string,
  opts: { notice?: Html; sim?: Html; simInputs?: string; simAnswers?: string; simPhone?: string } = {},
): Result {
  const c = check(source);
  const canPublish = ctx.user.role === "admin";
  const body = html`<p><a href="/console/templates">← Templates</a></p><h1>Template editor</h1>
${opts.notice ?? ""}
<div class="grid">
<form method="post" action="/console/templates/publish" class="card" aria-label="Template source" id="tpl-form">
${csrfField(ctx)}
<label for="source">Source (the DSL)</label>
<textarea id="source" name="source" data-check spellcheck="false" autocapitalize="off" aria-describedby="diag-summary"${c.errors ? html` aria-invalid="true"` : ""}>${source}</textarea>
${canPublish ? html`<button type="submit">Publish new version</button>` : html`<p class="hint">Only admins can publish.</p>`}
<button type="submit" formaction="/console/templates/simulate" class="secondary" name="intent" value="check">Check without JavaScript</button>
</form>
<div>
<section class="card" aria-labelledby="diag-h"><h2 id="diag-h">Diagnostics</h2>
<p id="diag-summary" role="status" aria-live="polite" class="${c.errors ? "error" : "diag-ok"}">${c.summary}</p>
<pre id="diagnostics" data-errors="${c.errors}">${c.text || "No problems found."}</pre></section>
<section class="card" aria-labelledby="graph-h"><h2 id="graph-h">Diagram (Mermaid)</h2><pre id="graph">${c.graph || "(fix the errors to see the diagram)"}</pre></section>
</div></div>
<section class="card" aria-labelledby="sim-h">
<h2 id="sim-h">Simulator</h2>
<p class="hint">Walks the draft above through the customer's answers without sending anything: every service call is answered as a success.</p>
<label for="sim-inputs">Inputs (one <code>name = value</code> a line)</label><textarea id="sim-inputs" name="inputs" rows="3" form="tpl-form">${opts.simInputs ?? ""}</textarea>
<label for="sim-phone">Customer phone</label><input id="sim-phone" name="phone" form="tpl-form" value="${opts.simPhone ?? "+14155550123"}">
<label for="sim-answers">Answers (one a line: <code>step: {"field": "value"}</code> or <code>step: decline reason</code>)</label>
<textarea id="sim-answers" name="answers" rows="4" form="tpl-form">${opts.simAnswers ?? 'profile: {"first_name": "Ada", "last_name": "Lovelace"}'}</textarea>
<button type="submit" form="tpl-form" formaction="/console/templates/simulate" name="intent" value="simulate">Simulate</button>
</section>
${opts.sim ?? ""}`;
  return { title: "Template editor", nav: "templates", body, status: opts.notice && c.errors ? 422 : 200 };
}

/** GET /console/templates/edit[?name=&version=] — the editor, starting from a published version or a starter. */
export async function editTemplate(ctx: Ctx): Promise<Result> {
  const name = ctx.url.searchParams.get("name");
  let source = STARTER;
  if (name) {
    const { template } = await rpc(ctx.caller, ctx.api.templates, "getTemplate", {
      name,
      version: Number(ctx.url.searchParams.get("version") ?? 0) || 0,
    });
    // Offer the next version number so publishing is one click.
    source = (template?.source ?? STARTER).replace(
      /^(template\s+\S+\s+"[^"]*"\s+version\s+)(\d+)/m,
      (_m, head: string, v: string) => `${head}${Number(v) + 1}`,
    );
  }
  return editorPage(ctx, source);
}

/** POST /console/api/templates/check — JSON diagnostics for the editor's script. */
export function checkTemplate(ctx: Ctx): Result {
  const body = (ctx as Ctx & { json?: { source?: unknown } }).json;
  const source = typeof body?.source === "string" ? body.source.slice(0, 200_000) : "";
  const { program: _p, ...c } = check(source);
  return { json: c };
}

/** POST /console/templates/publish — publishes through TemplateService; errors come back as diagnostics. */
export async function publishTemplate(ctx: Ctx): Promise<Result> {
  const source = ctx.form.get("source") ?? "";
  const c = check(source);
  if (c.errors) {
    await ctx.audit("template.publish", "", "failed", { errors: c.errors });
    return editorPage(ctx, source, { notice: errorBox(`Not published: ${c.summary}.`) });
  }
  try {
    const r = await rpc(ctx.caller, ctx.api.templates, "publishTemplate", {
      source,
      fileName: `${c.program?.template.name ?? "template"}.flow`,
      idempotencyKey: `console:${ctx.user.id}:${c.program?.hash ?? ""}:${c.program?.template.version ?? 0}`,
    });
    const t = r.template;
    await ctx.audit("template.publish", `${t?.name}@${t?.version}`, "ok");
    return editorPage(ctx, source, {
      notice: html`<p class="flash" role="status">Published ${t?.name} version ${t?.version}.</p>`,
    });
  } catch (err) {
    const e = err as Error;
    await ctx.audit("template.publish", c.program?.template.name ?? "", "failed", { error: e.message });
    return editorPage(ctx, source, { notice: errorBox(`Not published: ${e.message}`) });
  }
}

function parseAnswers(text: string): SimAnswer[] | string {
  const out: SimAnswer[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([A-Za-z_][\w]*)\s*:\s*(.*)$/.exec(line);
    if (!m) return `line ${i + 1}: expected "step: {json}" or "step: decline reason"`;
    const [, stepId, rest] = m as unknown as [string, string, string];
    if (/^decline\b/i.test(rest)) {
      out.push({ stepId, decline: rest.replace(/^decline\s*/i, "") || "other" });
      continue;
    }
    try {
      const data = rest ? JSON.parse(rest) : {};
      if (typeof data !== "object" || data === null || Array.isArray(data))
        return `line ${i + 1}: expected a JSON object`;
      out.push({ stepId, data });
    } catch {
      return `line ${i + 1}: the answer is not valid JSON`;
    }
  }
  return out;
}

/** POST /console/templates/simulate — runs the simulator (or just re-checks, without JavaScript). */
export function simulateTemplate(ctx: Ctx): Result {
  const f = ctx.form;
  const source = f.get("source") ?? "";
  const inputsText = f.get("inputs") ?? "";
  const answersText = f.get("answers") ?? "";
  const phone = (f.get("phone") ?? "").trim();
  if (f.get("intent") === "check") return editorPage(ctx, source);
  const c = check(source);
  const keep = { simInputs: inputsText, simAnswers: answersText, simPhone: phone };
  if (!c.program)
    return editorPage(ctx, source, { ...keep, sim: errorBox(`Fix the template first: ${c.summary}.`) });
  const inputs: Record<string, string> = {};
  for (const line of inputsText.split("\n")) {
    const m = /^\s*([A-Za-z_]\w*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1]) inputs[m[1]] = m[2] ?? "";
  }
  const answers = parseAnswers(answersText);
  if (typeof answers === "string") return editorPage(ctx, source, { ...keep, sim: errorBox(answers) });
  const r = simulate(c.program, {
    businessName: ctx.businesses.find((b) => b.id === ctx.businessId)?.name ?? "Your business",
    inputs,
    recipient: phone ? { phone } : { email: "customer@example.com" },
    answers,
  });
  const sim: Html = r.violations.length
    ? errorBox(r.violations.map((v) => `${v.field}: ${v.description}`).join("; "))
    : html`<section class="card" aria-labelledby="simres-h" id="simulation"><h2 id="simres-h">Simulation</h2>
<p>Final status: <span class="badge ${r.steps.at(-1)?.status ?? ""}">${r.steps.at(-1)?.status ?? "—"}</span></p>
<ol class="timeline">${r.steps.map(
        (
          s,
        ) => html`<li class="${s.rejected ? "" : s.messages.length ? "notification" : "event"}"><strong>${s.command}</strong> → ${s.status}
${s.rejected ? html`<p class="error">Rejected: ${s.rejected}</p>` : ""}
${s.events.length ? html`<ul>${s.events.map((e) => html`<li><code>${e.type}</code> ${e.detail ? html`<span class="hint mono">${e.detail}</span>` : ""}</li>`)}</ul>` : ""}
${s.messages.map((m) => html`<p>${m.channel === "sms" ? "SMS" : "Email"} to ${m.to}:</p><pre>${m.text}</pre>`)}</li>`,
      )}</ol></section>`;
  return editorPage(ctx, source, { ...keep, sim });
}
