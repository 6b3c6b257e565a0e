import { createHash, randomBytes } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../core/index.ts";
import { createPortal, type PortalOptions } from "../../gateway/portal/index.ts";
import { call } from "../../services/grpc/index.ts";
import { startRedis } from "../infra/index.ts";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
let redisServer: Awaited<ReturnType<typeof startRedis>>;
let redis: Redis;
const closers: Array<() => Promise<unknown>> = [];
/** Codes the portals texted, by workflow id, oldest first. */
const codes = new Map<string, string[]>();
let phones = 0;
const secret = randomBytes(32).toString("base64url");

/**
 * The node's customer page on its own port, keeping sessions, codes and rate
 * limits in the shared redis-server under `prefix` (as every node of a
 * cluster does), with cookies marked for https.
 */
async function portal(prefix: string, rateLimits: PortalOptions["rateLimits"]): Promise<string> {
  const store = new RedisStore(redisServer.url, prefix);
  const handle = createPortal({
    workflows: stack.node.workflows,
    store,
    rateLimits,
    secret,
    secureCookies: true,
    sendCode: async (wf, code) => {
      codes.set(wf.id, [...(codes.get(wf.id) ?? []), code]);
    },
  });
  const server: Server = createServer((req, res) => {
    void handle(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(async () => {
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  title: string;
}

/** One HTTP request as a phone would send it, optionally from another loopback address. */
function fetchPage(
  url: string,
  opts: { cookie?: string; form?: Record<string, string>; from?: string } = {},
): Promise<Answer> {
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: body === undefined ? "GET" : "POST",
        localAddress: opts.from,
        headers: {
          ...(opts.cookie ? { cookie: opts.cookie } : {}),
          ...(body === undefined
            ? {}
            : {
                "content-type": "application/x-www-form-urlencoded",
                "content-length": Buffer.byteLength(body),
              }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            title: /<title>([^<]*)<\/title>/.exec(text)?.[1] ?? "",
          });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The session cookie a page set, as a request's cookie header. */
const sessionOf = (a: Answer) => String(a.headers["set-cookie"] ?? "").split(";")[0] ?? "";
const csrfOf = (a: Answer) => /name="_csrf" value="([^"]+)"/.exec(a.body)?.[1] ?? "";

async function newWorkflow(
  template: "welcome" | "onboard_and_pay",
  key: string,
): Promise<{ id: string; path: string }> {
  const { workflow } = await call(
    stack.api,
    "createWorkflow",
    {
      templateName: template,
      templateVersion: 0,
      inputs: template === "onboard_and_pay" ? { amount: "20.00 USD" } : {},
      customerPhone: `+141555570${String(++phones).padStart(2, "0")}`,
      customerEmail: "",
      customerId: "",
      channel: 0,
      externalId: key,
      memo: "",
      idempotencyKey: key,
    },
    { metadata: stack.auth() },
  );
  const { linkUrl } = await call(
    stack.api,
    "getWorkflowLink",
    { workflowId: workflow!.id },
    { metadata: stack.auth() },
  );
  return { id: workflow!.id, path: new URL(linkUrl).pathname };
}

beforeAll(async () => {
  stack = await startStack({ transport: "local", tracing: false });
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  redis?.disconnect();
  await redisServer?.stop();
  await stack?.stop();
});

describe("the customer page's session, CSRF and CSP", () => {
  it("the session cookie is HttpOnly, SameSite and Secure over https (not over http), and every page has a strict CSP", async () => {
    const base = await portal("csp:", { perIp: 1000, perLink: 1000 });
    const { path } = await newWorkflow("welcome", "csp-page-1");
    const page = await fetchPage(base + path);
    expect(page.title).toBe("Confirm your details");
    const cookie = String(page.headers["set-cookie"]);
    expect(cookie).toMatch(/^lf_sid=[A-Za-z0-9_-]{24};/);
    expect(cookie).toMatch(/; HttpOnly(;|$)/);
    expect(cookie).toMatch(/; SameSite=(Lax|Strict)(;|$)/);
    expect(cookie).toMatch(/; Secure(;|$)/);
    // The node served over plain http cannot set a Secure cookie the browser would keep.
    const plain = await fetchPage(new URL(path, stack.node.publicBaseUrl).href);
    expect(stack.node.publicBaseUrl).toMatch(/^http:/);
    expect(String(plain.headers["set-cookie"])).toMatch(/HttpOnly/);
    expect(String(plain.headers["set-cookie"])).not.toMatch(/Secure/);

    const pages = [
      page,
      await fetchPage(`${base}/l/${"A".repeat(43)}`),
      await fetchPage(base + path, { cookie: sessionOf(page), form: { _csrf: "forged", first_name: "x" } }),
    ];
    expect(pages.map((p) => p.status)).toEqual([200, 404, 403]);
    for (const p of pages) {
      const csp = String(p.headers["content-security-policy"]);
      const directives = new Map(
        csp.split(";").map((d) => {
          const [name, ...values] = d.trim().split(/\s+/);
          return [name, values.join(" ")] as const;
        }),
      );
      expect(directives.get("default-src"), p.title).toBe("'none'");
      expect(directives.has("script-src"), p.title).toBe(false);
      expect(directives.get("frame-ancestors"), p.title).toBe("'none'");
      expect(directives.get("form-action"), p.title).toBe("'self'");
      expect(csp, p.title).not.toMatch(/unsafe-|\*|data:/);
      expect(p.headers["x-frame-options"], p.title).toBe("DENY");
      // No inline script or style the policy would have to allow.
      expect(p.body, p.title).not.toMatch(/<script|style=|<style/i);
    }
  });

  it("every form on every page carries the session's CSRF token; a missing, forged or another session's token changes nothing", async () => {
    const base = await portal("csrf:", { perIp: 1000, perLink: 1000 });
    const { id, path } = await newWorkflow("onboard_and_pay", "csrf-forms-1");
    const formsOf = (a: Answer) => a.body.split("<form").slice(1);

    const mine = await fetchPage(base + path);
    expect(mine.title).toBe("Enter your code");
    const cookie = sessionOf(mine);
    const token = csrfOf(mine);
    // Codes are per session: this is the one texted for `mine`.
    const code = codes.get(id)!.at(-1)!;
    expect(formsOf(mine)).toHaveLength(2);
    for (const f of formsOf(mine)) expect(f).toContain(`name="_csrf" value="${token}"`);

    const theirs = await fetchPage(base + path);
    expect(csrfOf(theirs)).not.toBe(token);
    for (const _csrf of [undefined, "forged", csrfOf(theirs)]) {
      const refused = await fetchPage(base + path, {
        cookie,
        form: { ...(_csrf === undefined ? {} : { _csrf }), _action: "verify_code", code },
      });
      expect(refused.status, String(_csrf)).toBe(403);
      expect(refused.title).toBe("This form has expired");
    }
    // The refused posts neither used up the code nor let the session in.
    expect((await fetchPage(base + path, { cookie })).title).toBe("Enter your code");
    const ok = await fetchPage(base + path, { cookie, form: { _csrf: token, _action: "verify_code", code } });
    expect(ok.status).toBe(303);

    const profile = await fetchPage(base + path, { cookie });
    expect(profile.title).toBe("Confirm your details");
    expect(formsOf(profile).length).toBeGreaterThan(0);
    for (const f of formsOf(profile)) expect(f).toContain(`name="_csrf" value="${token}"`);
    const forged = await fetchPage(base + path, {
      cookie,
      form: {
        _csrf: csrfOf(theirs),
        _step: "profile",
        first_name: "Eve",
        last_name: "X",
        email: "e@example.com",
      },
    });
    expect(forged.status).toBe(403);
    const wf = (await call(stack.api, "getWorkflow", { workflowId: id }, { metadata: stack.auth() }))
      .workflow!;
    expect(wf.currentStep).toBe("profile");
  });
});

describe("the link", () => {
  it("carries a 256-bit token that the database keeps only as its SHA-256", async () => {
    const a = await newWorkflow("welcome", "token-a");
    const b = await newWorkflow("welcome", "token-b");
    const tokens = [a, b].map((w) => w.path.split("/l/")[1]!);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(tokens).size).toBe(2);
    const rows = await stack.node.sql<{ workflow_id: string; token_hash: string }[]>`
      select workflow_id, token_hash from workflows.links where workflow_id in (${a.id}, ${b.id}) order by workflow_id`;
    const want = [a, b]
      .map((w, i) => ({
        workflow_id: w.id,
        token_hash: createHash("sha256").update(tokens[i]!).digest("hex"),
      }))
      .sort((x, y) => x.workflow_id.localeCompare(y.workflow_id));
    expect(rows.map((r) => ({ ...r }))).toEqual(want);
  });
});

describe("one-time codes in Redis", () => {
  it("a code is kept only as a keyed MAC for 10 minutes; once expired a new one is sent; five wrong tries lock the link for every session", async () => {
    const base = await portal("otp:", { perIp: 1000, perLink: 1000 });
    const { id, path } = await newWorkflow("onboard_and_pay", "otp-redis-1");
    const first = await fetchPage(base + path);
    const cookie = sessionOf(first);
    const sid = cookie.split("=")[1]!;
    const code = codes.get(id)!.at(-1)!;
    expect(code).toMatch(/^\d{6}$/);

    const key = `otp:otp:${id}:${sid}`;
    // Not the code, and not a plain hash of it (six digits would be found again in a million guesses).
    const kept = await redis.get(key);
    expect(kept).toMatch(/^[0-9a-f]{64}$/);
    expect(kept).not.toBe(createHash("sha256").update(code).digest("hex"));
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(9 * 60_000);
    expect(ttl).toBeLessThanOrEqual(10 * 60_000);
    // The code itself is nowhere in Redis.
    for (const k of await redis.keys("otp:*")) {
      const v = (await redis.type(k)) === "string" ? await redis.get(k) : "";
      expect(v, k).not.toContain(code);
    }

    // Ten minutes on: Redis has dropped the code; the right digits no longer work and a new code is sent.
    await redis.pexpire(key, 1);
    await expect.poll(() => redis.exists(key)).toBe(0);
    const late = await fetchPage(base + path, {
      cookie,
      form: { _csrf: csrfOf(first), _action: "verify_code", code },
    });
    expect(late.status).toBe(422);
    expect(late.body).toContain("That code has expired");
    expect(codes.get(id)).toHaveLength(2);
    const fresh = codes.get(id)!.at(-1)!;

    const wrong = fresh === "000000" ? "111111" : "000000";
    for (let left = 4; left >= 1; left--) {
      const r = await fetchPage(base + path, {
        cookie,
        form: { _csrf: csrfOf(first), _action: "verify_code", code: wrong },
      });
      expect(r.status).toBe(422);
      expect(r.body).toMatch(new RegExp(`role="alert">That code is not right. ${left} attempts? left`));
    }
    const fifth = await fetchPage(base + path, {
      cookie,
      form: { _csrf: csrfOf(first), _action: "verify_code", code: wrong },
    });
    expect([fifth.status, fifth.title]).toEqual([429, "Too many attempts"]);
    const lock = await redis.pttl(`otp:otp-lock:${id}`);
    expect(lock).toBeGreaterThan(25 * 60_000);
    // Locked: the right code, and another phone, get nowhere.
    const right = await fetchPage(base + path, {
      cookie,
      form: { _csrf: csrfOf(first), _action: "verify_code", code: fresh },
    });
    expect([right.status, right.title]).toEqual([429, "Too many attempts"]);
    const other = await fetchPage(base + path);
    expect([other.status, other.title]).toEqual([429, "Too many attempts"]);
    expect(codes.get(id)).toHaveLength(2);
  });
});

describe("rate limits in Redis", () => {
  it("limit requests per link and per client address, counted across every node sharing Redis", async () => {
    const limits = { perIp: 7, perLink: 4 };
    const node1 = await portal("rl:", limits);
    const node2 = await portal("rl:", limits);
    const a = await newWorkflow("welcome", "rate-a");
    const b = await newWorkflow("welcome", "rate-b");

    // Link a: four requests over two nodes, then the fifth is refused on either.
    const seen: number[] = [];
    for (const base of [node1, node2, node1, node2]) seen.push((await fetchPage(base + a.path)).status);
    expect(seen).toEqual([200, 200, 200, 200]);
    const over = await fetchPage(node1 + a.path);
    expect(over.status).toBe(429);
    expect(over.headers["retry-after"]).toBe("60");
    expect(over.title).toBe("Slow down");
    expect((await fetchPage(node2 + a.path)).status).toBe(429);
    expect(await redis.get(`rl:rl:link:${a.id}`)).toBe("6");

    // Link b has its own budget, but this address has now spent its seven.
    expect((await fetchPage(node2 + b.path)).status).toBe(200);
    const ipOver = await fetchPage(node1 + b.path);
    expect(ipOver.status).toBe(429);
    // Another client address still reaches link b (which has requests left).
    expect((await fetchPage(node1 + b.path, { from: "127.0.0.2" })).status).toBe(200);
  });
});
