import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger, Sql } from "../../core/index.ts";
import type { Caller, PublicApi } from "./api.ts";
import type { ConsoleKeys, Role } from "./auth.ts";
import { type Html, html } from "./html.ts";

export interface ConsoleUser {
  id: string;
  email: string;
  role: Role;
  /** The business the user belongs to (a parent, or a business without children). */
  businessId: string;
}

/** Everything a page handler needs for one signed-in request. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  user: ConsoleUser;
  /** The business the console acts for now: the user's own or one of its children. */
  businessId: string;
  businesses: { id: string; name: string }[];
  caller: Caller;
  csrf: string;
  api: PublicApi;
  sql: Sql;
  keys: ConsoleKeys;
  log: Logger;
  form: URLSearchParams;
  audit(
    action: string,
    target: string,
    outcome: "ok" | "denied" | "failed",
    detail?: Record<string, unknown>,
  ): Promise<void>;
}

/** A page: its title, which nav entry is current, and its main content. */
export interface Page {
  title: string;
  nav?: string;
  body: Html;
  status?: number;
  /**
   * The page has [data-live] regions the script refreshes in place. Without
   * JavaScript the page offers to reload itself instead (opt-in, so a form being
   * filled in is not wiped by a reload).
   */
  live?: boolean;
}

export type Result = Page | { redirect: string } | { json: unknown; status?: number };

const NAV: [string, string, Role][] = [
  ["workflows", "Workflows", "viewer"],
  ["templates", "Templates", "viewer"],
  ["customers", "Customers", "viewer"],
  ["webhooks", "Webhooks", "viewer"],
  ["keys", "API keys", "viewer"],
  ["notifications", "Notifications", "viewer"],
  ["audit", "Audit log", "viewer"],
  ["users", "Users", "viewer"],
];

/** Seconds between reloads of a live page when JavaScript is off and the user asked for them. */
export const NO_SCRIPT_REFRESH_S = 5;

export function layout(ctx: Ctx | undefined, page: Page): string {
  const live = page.live && ctx && (ctx.req.method === "GET" || ctx.req.method === "HEAD");
  const refreshing = live && ctx.url.searchParams.get("refresh") === "on";
  const toggled = new URL(ctx?.url ?? "http://console.invalid/");
  if (refreshing) toggled.searchParams.delete("refresh");
  else toggled.searchParams.set("refresh", "on");
  const toggle = `${toggled.pathname}${toggled.search}`;
  const head = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title} · Linkflow console</title>
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/console.js" defer></script>
${ctx ? html`<meta name="csrf-token" content="${ctx.csrf}">` : ""}
${refreshing ? html`<noscript><meta http-equiv="refresh" content="${NO_SCRIPT_REFRESH_S}"></noscript>` : ""}
</head><body>
<a class="skip" href="#main">Skip to content</a>`;
  const header = ctx
    ? html`<header class="top"><span class="brand">Linkflow</span>
<nav aria-label="Console">${NAV.map(
        ([id, label]) =>
          html`<a href="/console/${id}"${page.nav === id ? html` aria-current="page"` : ""}>${label}</a>`,
      )}</nav>
<div class="who">
${
  ctx.businesses.length > 1
    ? html`<form method="post" action="/console/switch"><input type="hidden" name="_csrf" value="${ctx.csrf}">
<label for="business-switch" class="visually-hidden">Business</label>
<select id="business-switch" name="business_id" aria-label="Business">${ctx.businesses.map(
        (b) => html`<option value="${b.id}"${b.id === ctx.businessId ? " selected" : ""}>${b.name}</option>`,
      )}</select><button type="submit" class="secondary">Switch</button></form>`
    : html`<span>${ctx.businesses[0]?.name ?? ""}</span>`
}
<span>${ctx.user.email} (${ctx.user.role})</span>
<form method="post" action="/console/logout"><input type="hidden" name="_csrf" value="${ctx.csrf}"><button type="submit" class="secondary">Sign out</button></form>
</div></header>`
    : "";
  const noScript = live
    ? html`<noscript><p class="hint" id="no-script-refresh">${
        refreshing
          ? html`This page reloads every ${NO_SCRIPT_REFRESH_S} seconds. <a href="${toggle}">Stop reloading</a>`
          : html`Without JavaScript this page does not update by itself. <a href="${toggle}">Reload it every ${NO_SCRIPT_REFRESH_S} seconds</a>`
      }</p></noscript>`
    : "";
  return html`${head}${header}<main id="main">${noScript}${page.body}</main>
<div class="toasts" id="toasts" role="status" aria-live="polite"></div>
</body></html>`.value;
}

/** A hidden CSRF field for a form. */
export function csrfField(ctx: Ctx): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}"><input type="hidden" name="_nonce" value="${randomBytes(12).toString("base64url")}">`;
}

/**
 * The idempotency key of a console action: the form's one-time nonce (from
 * csrfField), so submitting the same form twice — a double click, a resent
 * request — acts once, while each newly rendered form is a new action.
 */
export function actionKey(ctx: Ctx, action: string, target = ""): string {
  const nonce = /^[A-Za-z0-9_-]{16}$/.test(ctx.form.get("_nonce") ?? "")
    ? ctx.form.get("_nonce")
    : randomBytes(12).toString("base64url");
  return `console:${ctx.user.id}:${action}:${target}:${nonce}`;
}

/** A confirmation checkbox destructive forms require (the server checks it too). */
export function confirmBox(id: string, text: string): Html {
  return html`<label class="choice"><input type="checkbox" name="confirm" value="yes" required id="${id}"> ${text}</label>`;
}

export function flash(ctx: Ctx): Html {
  const ok = ctx.url.searchParams.get("ok");
  const msg = ok ? FLASH[ok] : undefined;
  return msg ? html`<p class="flash" role="status">${msg}</p>` : html``;
}

export const FLASH: Record<string, string> = {
  resent: "The link was sent again.",
  extended: "The expiry was extended.",
  cancelled: "The workflow was cancelled.",
  suspended: "Suspended.",
  resumed: "Resumed.",
  activated: "Activated.",
  deleted: "Deleted.",
  disconnected: "Financial data disconnected.",
  revoked: "The API key was revoked.",
  redelivered: "Redelivery queued.",
  switched: "Switched business.",
  user_created: "The user was added; they can sign in now.",
};

export function errorBox(message: string): Html {
  return html`<p class="flash bad" role="alert">${message}</p>`;
}

export function fmtTime(d: Date | undefined): string {
  if (!d || d.getTime() <= 0) return "—";
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
