import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { APIResponse, BrowserContext, Page, Response } from "playwright-core";
import { expect } from "vitest";
import type { Role } from "../../gateway/console/index.ts";
import { type Console, createConsole } from "../../gateway/console/index.ts";
import { call } from "../../services/grpc/index.ts";
import { type ApiHarness, startApi } from "../api/harness.ts";
import { type ChromiumHandle, launchChromium } from "../infra/index.ts";
import { Screenshots } from "../support/screenshots.ts";

export const PASSWORD = "correct horse battery staple";
export const DESKTOP = { width: 1280, height: 900 };

/** A signed-in console tab: navigation that screenshots every page it reaches, and raw form posts. */
export class ConsolePage {
  constructor(
    readonly page: Page,
    readonly base: string,
    private readonly shots: Screenshots,
    /** Secrets no page may ever contain (the API keys the console and the harness use). */
    private readonly secrets: () => string[] = () => [],
  ) {}

  /** Opens a console path, checks the status, and saves a screenshot of the page. */
  async goto(path: string, status = 200): Promise<Response> {
    const res = await this.page.goto(`${this.base}${path}`);
    expect(res?.status(), path).toBe(status);
    // Every page: a strict CSP, and nothing inline it would have to allow.
    const csp = res?.headers()["content-security-policy"] ?? "";
    expect(csp, path).toContain("default-src 'none'");
    expect(csp, path).toContain("script-src 'self'");
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(await this.page.locator("script:not([src]), style, [style]").count(), path).toBe(0);
    await this.shot();
    return res!;
  }

  /** Screenshots the page as it is now, labelled with its title (and `label`). */
  async shot(label = ""): Promise<void> {
    await this.page.waitForLoadState();
    await this.expectNoSecrets();
    await this.expectLabelled();
    // Ids left out: the same page gets the same file name on every run.
    const title = (await this.page.title())
      .replace(/ · Linkflow console$/, "")
      .replace(/\b(wf|cus|whs|dlv|key|evt)_[0-9a-z]+/g, "");
    await this.shots.take(this.page, label ? `${title} ${label}` : title);
  }

  /**
   * The page source holds none of the secrets, nor this tab's session token
   * (the cookie is HttpOnly; the page must not hand it out either). Failures
   * name the page, never the secret.
   */
  async expectNoSecrets(): Promise<void> {
    const source = await this.page.content();
    const session = (await this.page.context().cookies())
      .filter((c) => c.name === "lf_console")
      .map((c) => c.value);
    for (const [i, secret] of [...this.secrets(), ...session].entries())
      if (secret) expect(source.includes(secret), `${this.page.url()} holds secret #${i}`).toBe(false);
  }

  /** Every visible form control on the page has an accessible label (a <label>, aria-label or aria-labelledby). */
  async expectLabelled(): Promise<void> {
    const unlabelled = await this.page
      .locator("input:not([type=hidden]), select, textarea")
      .evaluateAll((els) =>
        els
          .filter(
            (e) =>
              !(e as unknown as { labels?: { length: number } }).labels?.length &&
              !e.getAttribute("aria-label") &&
              !e.getAttribute("aria-labelledby"),
          )
          .map((e) => e.id || e.getAttribute("name") || e.tagName),
      );
    expect(unlabelled, `unlabelled controls on ${this.page.url()}`).toEqual([]);
  }

  /** The page's CSRF token (the meta tag every signed-in page carries). */
  async csrf(): Promise<string> {
    const token = await this.page.getAttribute('meta[name="csrf-token"]', "content");
    if (!token) throw new Error("no CSRF token on the page");
    return token;
  }

  /** POSTs a form as this user with a valid CSRF token and a fresh nonce; redirects are not followed. */
  async post(path: string, form: Record<string, string> = {}): Promise<APIResponse> {
    return this.page.request.post(`${this.base}${path}`, {
      form: { _csrf: await this.csrf(), _nonce: randomBytes(12).toString("base64url"), ...form },
      maxRedirects: 0,
    });
  }

  async text(selector = "main"): Promise<string> {
    return (await this.page.textContent(selector)) ?? "";
  }
}

/** The console over a whole stack: business A (Acme Payroll, child Acme West) and B (Globex, child Globex East). */
export interface ConsoleEnv {
  h: ApiHarness;
  browser: ChromiumHandle;
  app: Console;
  base: string;
  /** The API key the console holds for A (named "console"). */
  consoleKeyA: string;
  consoleKeyB: string;
  childA: string;
  childB: string;
  /** Every screenshot the file's console pages saved. */
  shots: Screenshots;
  /** The API keys no console page may contain: the console's for A and B, and the harness's own. */
  neverShown(): string[];
  desktop(): Promise<BrowserContext>;
  /** Signs `email` in (users: `<role>@acme.test` for A, `admin@globex.test` for B) in a new desktop context. */
  signIn(email: string): Promise<ConsolePage>;
  stop(): Promise<void>;
}

async function consoleKey(h: ApiHarness, apiKey: string, businessId: string): Promise<string> {
  const r = await call(
    h.businesses,
    "createApiKey",
    { businessId, name: "console", idempotencyKey: `console-key-${businessId}` },
    { metadata: h.auth(apiKey) },
  );
  return r.apiKey;
}

async function child(h: ApiHarness, apiKey: string, name: string): Promise<string> {
  const r = await call(
    h.businesses,
    "createChildBusiness",
    { name, idempotencyKey: `console-child-${name.replace(/\W+/g, "-")}` },
    { metadata: h.auth(apiKey) },
  );
  return r.business!.id;
}

/** Starts the API harness, Chromium and the console on its own HTTP port, with users for A and B. */
export async function startConsole(): Promise<ConsoleEnv> {
  const h = await startApi();
  const closers: Array<() => Promise<void>> = [() => h.stop()];
  const stop = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const browser = await launchChromium();
    closers.push(() => browser.close());
    const app = createConsole({
      sql: h.stack.node.sql,
      grpcAddress: h.address,
      secret: randomBytes(32).toString("base64url"),
    });
    closers.push(() => app.close());
    await app.migrate();
    // Children first: the console caches a business's list of children.
    const childA = await child(h, h.a.apiKey, "Acme West");
    const childB = await child(h, h.b.apiKey, "Globex East");
    const consoleKeyA = await consoleKey(h, h.a.apiKey, h.a.businessId);
    const consoleKeyB = await consoleKey(h, h.b.apiKey, h.b.businessId);
    for (const role of ["admin", "operator", "viewer"] as Role[])
      await app.createUser({
        businessId: h.a.businessId,
        email: `${role}@acme.test`,
        password: PASSWORD,
        role,
        apiKey: consoleKeyA,
      });
    await app.createUser({
      businessId: h.b.businessId,
      email: "admin@globex.test",
      password: PASSWORD,
      role: "admin",
      apiKey: consoleKeyB,
    });
    const http: Server = createServer((req, res) => {
      void app.handle(req, res).then((handled) => {
        if (!handled) {
          res.writeHead(404);
          res.end();
        }
      });
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise<void>((r) => http.close(() => r())));
    const a = http.address();
    const base = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
    const shots = new Screenshots();
    const desktop = () => browser.browser.newContext({ viewport: DESKTOP, locale: "en-US" });
    const neverShown = () => [consoleKeyA, consoleKeyB, h.a.apiKey, h.b.apiKey];
    return {
      h,
      browser,
      app,
      base,
      consoleKeyA,
      consoleKeyB,
      childA,
      childB,
      shots,
      neverShown,
      desktop,
      async signIn(email) {
        const ctx = await desktop();
        closers.push(() => ctx.close());
        const page = new ConsolePage(await ctx.newPage(), base, shots, neverShown);
        await page.goto("/console/login");
        await page.page.getByLabel("Email").fill(email);
        await page.page.getByLabel("Password").fill(PASSWORD);
        await page.page.getByRole("button", { name: "Sign in" }).click();
        await page.page.waitForURL(/\/console\/workflows/);
        return page;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
