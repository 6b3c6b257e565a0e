import type { Sql } from "../../core/index.ts";

const esc = (s: unknown) =>
  String(s ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** Links in a message become clickable so a developer can open the customer page from the outbox. */
const linkify = (s: string) => esc(s).replace(/(https?:\/\/[^\s<]+)/g, '<a href="$1">$1</a>');

/**
 * The embedded default's dev outbox: the SMS and emails the node "sent", and
 * the webhooks the demo business received, newest first.
 */
export async function renderOutbox(
  sql: Sql,
  webhooks: { at: number; type: string; body: string; verified: boolean }[],
) {
  const rows = await sql<
    { channel: string; recipient: string; subject: string | null; body: string; created_at: Date }[]
  >`
    select channel, recipient, subject, body, created_at from notifications.outbox order by created_at desc limit 200`;
  const msgs = rows
    .map(
      (r) =>
        `<li><p><strong>${esc(r.channel.toUpperCase())}</strong> to ${esc(r.recipient)} · ${esc(r.created_at.toISOString())}</p>${
          r.subject ? `<p><em>${esc(r.subject)}</em></p>` : ""
        }<p>${linkify(r.body)}</p></li>`,
    )
    .join("");
  const hooks = webhooks
    .slice()
    .reverse()
    .map(
      (w) =>
        `<li><p><strong>${esc(w.type)}</strong> · ${esc(new Date(w.at).toISOString())} · signature ${w.verified ? "valid" : "INVALID"}</p><pre>${esc(w.body)}</pre></li>`,
    )
    .join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="5"><title>Linkflow dev outbox</title><link rel="stylesheet" href="/static/portal.css"></head>
<body><main><h1>Dev outbox</h1><p class="hint">What this embedded node would have sent. Refreshes every 5 s.</p>
<h2>SMS and email</h2><ul>${msgs || "<li>Nothing sent yet.</li>"}</ul>
<h2>Webhooks received by the demo business</h2><ul>${hooks || "<li>None yet.</li>"}</ul></main></body></html>`;
}
