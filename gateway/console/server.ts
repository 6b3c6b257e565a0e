import type { IncomingMessage, ServerResponse } from "node:http";
import { createLogger, LinkflowError, type Logger, migrate, newId, type Sql } from "../../core/index.ts";
import { type Caller, PublicApi, rpc } from "./api.ts";
import {
  ConsoleKeys,
  cookie,
  hashPassword,
  newToken,
  passwordProblem,
  ROLES,
  type Role,
  readCookie,
  roleAtLeast,
  sha256,
  verifyPassword,
} from "./auth.ts";
import { type ConsoleUser, type Ctx, errorBox, layout, type Page, type Result } from "./context.ts";
import { html, STYLESHEET } from "./html.ts";
import { consoleMigrations } from "./migrations.ts";
import * as more from "./more.ts";
import { SCRIPT } from "./script.ts";
import * as tpl from "./templates.ts";
import { users } from "./users.ts";
import * as wf from "./workflows.ts";

export interface ConsoleOptions {
  sql: Sql;
  /** The public gRPC API the console calls (the gateway's own address). */
  grpcAddress: string;
  /** 16+ characters; CSRF tokens and the encryption of stored API keys are derived from it. Keep it stable. */
  secret: string;
  log?: Logger;
  /** Mark cookies Secure (when served over https). */
  secureCookies?: boolean;
  /** Session lifetime; default 12 hours. */
  sessionTtlMs?: number;
}

export interface Console {
  /** Handles /console and /console/*; answers false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  migrate(): Promise<void>;
  /**
   * Creates a console user. `apiKey` (a key of the user's business, created for the console)
   * is stored encrypted and used for every public API call made for that business and its children.
   */
  createUser(u: {
    businessId: string;
    email: string;
    password: string;
    role: Role;
    apiKey?: string;
  }): Promise<{ id: string }>;
  /** Stores (or replaces) the API key the console uses for a business. */
  setBusinessKey(businessId: string, apiKey: string): Promise<void>;
  close(): Promise<void>;
}

const SESSION_COOKIE = "lf_console";
const PRE_COOKIE = "lf_console_pre";
const MAX_BODY = 256 * 1024;
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

/** The role each state-changing action needs; the server checks it on every POST. */
export const ACTION_ROLES: Record<string, Role> = {
  "workflow.create": "operator",
  "workflow.link": "operator",
  "workflow.resend": "operator",
  "workflow.extend": "operator",
  "workflow.cancel": "operator",
  "template.publish": "admin",
  "webhook.create": "admin",
  "webhook.rotate": "admin",
  "webhook.suspend": "admin",
  "webhook.resume": "admin",
  "webhook.delete": "admin",
  "webhook.redeliver": "operator",
  "apikey.create": "admin",
  "apikey.revoke": "admin",
  "customer.suspend": "operator",
  "customer.activate": "operator",
  "customer.delete": "admin",
  "customer.disconnect": "admin",
  "user.create": "admin",
};

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY)
      throw new LinkflowError("payload_too_large", "the request is too large", { grpcStatus: 8 });
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(code, { "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS, ...headers });
  res.end(body);
}

/** The state-changing action a POST path performs (undefined: not an action, e.g. sign-in or a dry run). */
function actionOf(path: string): string | undefined {
  let m = /^\/console\/workflows\/(wf_[0-9a-z]+)\/(link|resend|extend|cancel)$/.exec(path);
  if (m) return `workflow.${m[2]}`;
  if (path === "/console/workflows/new") return "workflow.create";
  if (path === "/console/templates/publish") return "template.publish";
  if (path === "/console/webhooks") return "webhook.create";
  m = /^\/console\/webhooks\/[^/]+\/(rotate|suspend|resume|delete)$/.exec(path);
  if (m) return `webhook.${m[1]}`;
  if (/^\/console\/webhooks\/deliveries\/[^/]+\/redeliver$/.test(path)) return "webhook.redeliver";
  if (path === "/console/keys") return "apikey.create";
  if (/^\/console\/keys\/[^/]+\/revoke$/.test(path)) return "apikey.revoke";
  m = /^\/console\/customers\/[^/]+\/(suspend|activate|delete|disconnect)$/.exec(path);
  if (m) return `customer.${m[1]}`;
  if (path === "/console/users") return "user.create";
  return undefined;
}

/**
 * The business console: server-rendered pages over the public gRPC API, with
 * sessions, roles, CSRF tokens and an audit log in the `console` schema.
 */
export function createConsole(o: ConsoleOptions): Console {
  const log = o.log ?? createLogger({ component: "console" });
  const keys = new ConsoleKeys(o.secret);
  const api = new PublicApi(o.grpcAddress);
  const sql = o.sql;
  const ttl = o.sessionTtlMs ?? 12 * 3600_000;
  const secure = o.secureCookies ?? false;
  const apiKeys = new Map<string, string>();
  const businessLists = new Map<string, { at: number; list: { id: string; name: string }[] }>();

  const keyFor = async (businessId: string): Promise<string | undefined> => {
    const hit = apiKeys.get(businessId);
    if (hit) return hit;
    const [row] = await sql<{ key_ciphertext: string }[]>`
      select key_ciphertext from console.business_keys where business_id = ${businessId}`;
    if (!row) return undefined;
    const key = keys.decrypt(row.key_ciphertext, businessId);
    apiKeys.set(businessId, key);
    return key;
  };

  const setBusinessKey = async (businessId: string, apiKey: string) => {
    const box = keys.encrypt(apiKey, businessId);
    await sql`
      insert into console.business_keys (business_id, key_ciphertext) values (${businessId}, ${box})
      on conflict (business_id) do update set key_ciphertext = excluded.key_ciphertext, updated_at = now()`;
    apiKeys.set(businessId, apiKey);
    businessLists.delete(businessId);
  };

  const audit = async (
    who: { id?: string; email: string },
    businessId: string,
    action: string,
    target: string,
    outcome: string,
    detail: Record<string, unknown> = {},
  ) => {
    await sql`
      insert into console.audit (user_id, email, business_id, action, target, outcome, detail)
      values (${who.id ?? null}, ${who.email}, ${businessId}, ${action}, ${target}, ${outcome}, ${sql.json(detail as never)})`;
  };

  /** The user's business and its children, cached a little. */
  const businessesOf = async (user: ConsoleUser, apiKey: string) => {
    const hit = businessLists.get(user.businessId);
    if (hit && hit.at > Date.now() - 30_000) return hit.list;
    const caller: Caller = { apiKey };
    const [{ business }, children] = await Promise.all([
      rpc(caller, api.businesses, "getBusiness", { businessId: user.businessId }),
      rpc(caller, api.businesses, "listChildBusinesses", {}).catch(() => ({ businesses: [] })),
    ]);
    const list = [
      { id: user.businessId, name: business?.name ?? user.businessId },
      ...children.businesses.map((b) => ({ id: b.id, name: b.name })),
    ];
    businessLists.set(user.businessId, { at: Date.now(), list });
    return list;
  };

  const loginPage = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    message?: string,
    email = "",
  ) => {
    let pre = readCookie(req, PRE_COOKIE);
    const headers: Record<string, string> = {};
    if (!pre || !/^[A-Za-z0-9_-]{43}$/.test(pre)) {
      pre = newToken();
      headers["set-cookie"] = cookie(PRE_COOKIE, pre, { secure, maxAgeS: 3600 });
    }
    const body = html`<div class="card"><h1>Sign in to the Linkflow console</h1>
${message ? errorBox(message) : ""}
<form method="post" action="/console/login">
<input type="hidden" name="_csrf" value="${keys.csrf(pre, "login")}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="${email}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></div>`;
    send(res, status, layout(undefined, { title: "Sign in", body }), headers);
  };

  const signIn = async (req: IncomingMessage, res: ServerResponse) => {
    const form = new URLSearchParams(await readBody(req));
    const pre = readCookie(req, PRE_COOKIE);
    if (!keys.csrfValid(pre, form.get("_csrf"), "login"))
      return loginPage(req, res, 403, "Your sign-in form expired. Please try again.");
    const email = (form.get("email") ?? "").trim().toLowerCase().slice(0, 254);
    const password = form.get("password") ?? "";
    const [recent] = await sql<{ n: number }[]>`
      select count(*)::int as n from console.audit
      where action = 'session.sign_in' and email = ${email} and outcome = 'failed' and at > now() - interval '15 minutes'`;
    if ((recent?.n ?? 0) >= 5) {
      await audit({ email }, "", "session.sign_in", email, "locked");
      return loginPage(req, res, 429, "Too many failed attempts. Wait 15 minutes and try again.", email);
    }
    const [user] = await sql<{ id: string; business_id: string; password_hash: string; role: Role }[]>`
      select id, business_id, password_hash, role from console.users
      where lower(email) = ${email} and disabled_at is null`;
    const ok = await verifyPassword(password, user?.password_hash);
    if (!user || !ok) {
      await audit({ email }, user?.business_id ?? "", "session.sign_in", email, "failed");
      return loginPage(req, res, 401, "The email or password is not right.", email);
    }
    const token = newToken();
    await sql`
      insert into console.sessions (token_hash, user_id, acting_business_id, expires_at)
      values (${sha256(token)}, ${user.id}, ${user.business_id}, ${new Date(Date.now() + ttl)})`;
    await audit({ id: user.id, email }, user.business_id, "session.sign_in", email, "ok");
    res.writeHead(303, {
      ...SECURITY_HEADERS,
      location: "/console/workflows",
      "set-cookie": cookie(SESSION_COOKIE, token, { secure, maxAgeS: Math.floor(ttl / 1000) }),
    });
    res.end();
  };

  const dispatch = async (ctx: Ctx, method: string, path: string): Promise<Result | undefined> => {
    const get = method === "GET" || method === "HEAD";
    const m1 = /^\/console\/workflows\/(wf_[0-9a-z]+)$/.exec(path);
    const m2 = /^\/console\/workflows\/(wf_[0-9a-z]+)\/(link|resend|extend|cancel)$/.exec(path);
    if (path === "/console" || path === "/console/") return { redirect: "/console/workflows" };
    if (get && path === "/console/workflows") return wf.listWorkflows(ctx);
    if (path === "/console/workflows/new") return wf.newWorkflow(ctx, !get);
    if (m1 && get) return wf.showWorkflow(ctx, m1[1]!);
    if (m2 && !get) return wf.workflowAction(ctx, m2[1]!, m2[2]!);
    if (get && path === "/console/templates") return tpl.listTemplates(ctx);
    if (get && path === "/console/templates/edit") return tpl.editTemplate(ctx);
    if (!get && path === "/console/templates/publish") return tpl.publishTemplate(ctx);
    if (!get && path === "/console/templates/simulate") return tpl.simulateTemplate(ctx);
    if (!get && path === "/console/api/templates/check") return tpl.checkTemplate(ctx);
    if (get && path === "/console/api/notifications") return more.notificationsJson(ctx);
    if (get && path === "/console/notifications") return more.notificationsPage(ctx);
    if (path.startsWith("/console/webhooks")) return more.webhooks(ctx, method, path);
    if (path.startsWith("/console/keys")) return more.apiKeys(ctx, method, path);
    if (path.startsWith("/console/customers")) return more.customers(ctx, method, path);
    if (get && path === "/console/audit") return more.auditPage(ctx);
    if (path === "/console/users") return users(ctx, method, path);
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    const path = url.pathname;
    if (path !== "/console" && !path.startsWith("/console/")) return false;
    const method = req.method ?? "GET";
    try {
      if (path === "/console/static/console.css") {
        res.writeHead(200, {
          "content-type": "text/css; charset=utf-8",
          "cache-control": "public, max-age=300",
        });
        res.end(STYLESHEET);
        return true;
      }
      if (path === "/console/static/console.js") {
        res.writeHead(200, {
          "content-type": "text/javascript; charset=utf-8",
          "cache-control": "public, max-age=300",
          "x-content-type-options": "nosniff",
        });
        res.end(SCRIPT);
        return true;
      }
      if (method !== "GET" && method !== "HEAD" && method !== "POST") {
        send(res, 405, "method not allowed", { allow: "GET, HEAD, POST", "content-type": "text/plain" });
        return true;
      }
      // Cross-site POSTs are refused before anything else (CSRF tokens are checked as well).
      if (method === "POST") {
        const origin = req.headers.origin;
        let originHost: string | undefined;
        try {
          originHost = origin && origin !== "null" ? new URL(origin).host : undefined;
        } catch {
          originHost = "(malformed)";
        }
        if (originHost !== undefined && originHost !== req.headers.host) {
          send(res, 403, "cross-origin request refused", { "content-type": "text/plain" });
          return true;
        }
      }
      if (path === "/console/login") {
        if (method === "POST") await signIn(req, res);
        else loginPage(req, res, 200);
        return true;
      }
      const token = readCookie(req, SESSION_COOKIE);
      const [s] = token
        ? await sql<
            {
              user_id: string;
              acting_business_id: string;
              email: string;
              role: Role;
              business_id: string;
            }[]
          >`
            select s.user_id, s.acting_business_id, u.email, u.role, u.business_id
            from console.sessions s join console.users u on u.id = s.user_id
            where s.token_hash = ${sha256(token)} and s.expires_at > now() and u.disabled_at is null`
        : [];
      if (!s || !token) {
        if (method === "GET" && !path.startsWith("/console/api/")) {
          res.writeHead(303, { ...SECURITY_HEADERS, location: "/console/login" });
          res.end();
        } else send(res, 401, "sign in first", { "content-type": "text/plain" });
        return true;
      }
      const user: ConsoleUser = { id: s.user_id, email: s.email, role: s.role, businessId: s.business_id };
      const apiKey = await keyFor(user.businessId);
      if (!apiKey) {
        send(
          res,
          503,
          layout(undefined, {
            title: "Console not connected",
            body: html`<h1>This business has no console API key yet</h1><p>Ask your Linkflow operator to connect it.</p>`,
          }),
        );
        return true;
      }
      const businesses = await businessesOf(user, apiKey);
      const actingId = businesses.some((b) => b.id === s.acting_business_id)
        ? s.acting_business_id
        : user.businessId;
      const csrf = keys.csrf(token);
      const raw = method === "POST" ? await readBody(req) : "";
      const isJson = (req.headers["content-type"] ?? "").startsWith("application/json");
      const form = isJson ? new URLSearchParams() : new URLSearchParams(raw);
      const ctx: Ctx = {
        req,
        res,
        url,
        user,
        businessId: actingId,
        businesses,
        caller: { apiKey, ...(actingId !== user.businessId ? { actFor: actingId } : {}) },
        csrf,
        api,
        sql,
        keys,
        log,
        form,
        audit: (action, target, outcome, detail) => audit(user, actingId, action, target, outcome, detail),
      };
      if (isJson) {
        try {
          (ctx as Ctx & { json?: unknown }).json = raw ? JSON.parse(raw) : {};
        } catch {
          send(res, 400, "the request body is not JSON", { "content-type": "text/plain" });
          return true;
        }
      }
      if (method === "POST") {
        const sent = isJson ? req.headers["x-csrf-token"] : form.get("_csrf");
        if (!keys.csrfValid(token, sent)) {
          await ctx.audit(actionOf(path) ?? `post ${path}`, "", "denied", { reason: "csrf" });
          send(
            res,
            403,
            layout(ctx, {
              title: "Refused",
              body: errorBox(
                "The form expired or did not come from this console. Reload the page and try again.",
              ),
            }),
          );
          return true;
        }
        if (path === "/console/logout") {
          await sql`delete from console.sessions where token_hash = ${sha256(token)}`;
          await ctx.audit("session.sign_out", user.email, "ok");
          res.writeHead(303, {
            ...SECURITY_HEADERS,
            location: "/console/login",
            "set-cookie": cookie(SESSION_COOKIE, "", { secure, maxAgeS: 0 }),
          });
          res.end();
          return true;
        }
        if (path === "/console/switch") {
          const to = form.get("business_id") ?? "";
          if (!businesses.some((b) => b.id === to)) {
            await ctx.audit("session.switch_business", to, "denied");
            send(
              res,
              403,
              layout(ctx, { title: "Refused", body: errorBox("You cannot act for that business.") }),
            );
            return true;
          }
          await sql`update console.sessions set acting_business_id = ${to} where token_hash = ${sha256(token)}`;
          await audit(user, to, "session.switch_business", to, "ok");
          res.writeHead(303, { ...SECURITY_HEADERS, location: "/console/workflows?ok=switched" });
          res.end();
          return true;
        }
        const action = actionOf(path);
        const needed = action ? ACTION_ROLES[action] : undefined;
        if (action && needed && !roleAtLeast(user.role, needed)) {
          await ctx.audit(action, path, "denied", { role: user.role });
          send(
            res,
            403,
            layout(ctx, {
              title: "Not allowed",
              body: html`<h1>Not allowed</h1>${errorBox(`Your role (${user.role}) cannot do this; it needs ${needed}.`)}`,
            }),
          );
          return true;
        }
      }
      let result: Result | undefined;
      try {
        result = await dispatch(ctx, method, path);
      } catch (err) {
        const e = err as LinkflowError;
        const action = method === "POST" ? actionOf(path) : undefined;
        if (action) await ctx.audit(action, path, "failed", { error: e.code ?? "error" });
        const code =
          e.grpcStatus === 5
            ? 404
            : e.grpcStatus === 7
              ? 403
              : e.grpcStatus === 3 || e.grpcStatus === 9
                ? 422
                : 502;
        if (!(err instanceof LinkflowError)) log.warn("console request failed", { err, path });
        result = {
          title: code === 404 ? "Not found" : "Something went wrong",
          body: html`<h1>${code === 404 ? "Not found" : "That did not work"}</h1>${errorBox(e.message ?? "unexpected error")}<p><a href="/console/workflows">Back to the console</a></p>`,
          status: code,
        };
      }
      if (!result) {
        send(res, 404, layout(ctx, { title: "Not found", body: html`<h1>Not found</h1>` }));
        return true;
      }
      if ("redirect" in result) {
        res.writeHead(303, { ...SECURITY_HEADERS, location: result.redirect });
        res.end();
      } else if ("json" in result) {
        res.writeHead(result.status ?? 200, { ...SECURITY_HEADERS, "content-type": "application/json" });
        res.end(JSON.stringify(result.json));
      } else send(res, (result as Page).status ?? 200, layout(ctx, result as Page));
      return true;
    } catch (err) {
      log.warn("console request failed", { err, path });
      if (!res.headersSent) send(res, 500, "internal error", { "content-type": "text/plain" });
      else res.end();
      return true;
    }
  };

  return {
    handle,
    migrate: () => migrate(sql, "console", consoleMigrations),
    async createUser(u) {
      const problem = passwordProblem(u.password);
      if (problem) throw new LinkflowError("invalid_argument", `password: ${problem}`, { grpcStatus: 3 });
      if (!ROLES.includes(u.role))
        throw new LinkflowError("invalid_argument", "unknown role", { grpcStatus: 3 });
      const id = newId("usr");
      await sql`
        insert into console.users (id, business_id, email, password_hash, role)
        values (${id}, ${u.businessId}, ${u.email.trim().toLowerCase()}, ${await hashPassword(u.password)}, ${u.role})`;
      if (u.apiKey) await setBusinessKey(u.businessId, u.apiKey);
      await audit({ email: "system" }, u.businessId, "user.create", u.email, "ok", { role: u.role });
      return { id };
    },
    setBusinessKey,
    async close() {
      api.close();
      apiKeys.clear();
    },
  };
}
