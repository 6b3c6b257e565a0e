import { status } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from "../../gateway/api/index.ts";
import { call, readErrorCode } from "../../services/grpc/index.ts";
import { startRedis } from "../infra/index.ts";
import { startStack } from "../support/stack.ts";
import { type ApiHarness, collect, createWorkflowRequest, failure, startApi } from "./harness.ts";

const RETRY_INFO = "google.rpc.RetryInfo";

for (const kind of ["redis", "memory"] as const) {
  describe(`per-API-key rate limits (${kind})`, () => {
    let api: ApiHarness;
    let redisServer: Awaited<ReturnType<typeof startRedis>> | undefined;
    let redis: Redis | undefined;
    let limiter: RateLimiter;
    beforeAll(async () => {
      const limit = { burst: 5, perSecond: 2 };
      if (kind === "redis") {
        redisServer = await startRedis();
        redis = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
        await redis.connect();
        limiter = new RedisRateLimiter(redis, limit);
      } else {
        limiter = new MemoryRateLimiter(limit);
      }
      api = await startApi({
        rateLimiter: limiter,
        // Slow refill: a spent budget stays spent for the rest of the test.
        authFailureLimit: { burst: 3, perSecond: 0.01 },
        maxStreamsPerKey: 2,
      });
    });
    afterAll(async () => {
      await api?.stop();
      redis?.disconnect();
      await redisServer?.stop();
    });

    it("refuses requests over the burst with RESOURCE_EXHAUSTED and retry info, per key", async () => {
      const asA = api.asA();
      const results: Array<{ ok: boolean; err?: unknown }> = [];
      for (let i = 0; i < 8; i++) {
        results.push(
          await call(api.templates, "listTemplates", { includeArchived: false }, asA).then(
            () => ({ ok: true }),
            (err) => ({ ok: false, err }),
          ),
        );
      }
      expect(results.filter((r) => r.ok).length).toBe(5);
      const refused = results.find((r) => !r.ok)!.err as {
        code: number;
        metadata: { get(k: string): unknown[] };
      };
      expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(readErrorCode(refused)).toBe("rate_limited");
      const retryAfter = Number(refused.metadata.get("retry-after-ms")[0]);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(500);
      const details = refused.metadata.get("grpc-status-details-bin")[0] as Buffer;
      expect(details.toString("latin1")).toContain(RETRY_INFO);

      // Another key has its own bucket.
      await call(
        api.templates,
        "listTemplates",
        { includeArchived: false },
        { metadata: api.auth(api.b.apiKey) },
      );
      // The bucket refills: after the advised wait the key may call again.
      await new Promise((r) => setTimeout(r, retryAfter + 50));
      await call(api.templates, "listTemplates", { includeArchived: false }, asA);
    });

    /** A fresh key of business `a`, so a test spends its own bucket. */
    const freshKey = async (name: string) =>
      (await call(api.accounts, "createApiKey", { businessId: api.a.businessId, name, idempotencyKey: "" }))
        .apiKey;

    const watch = (key: string, workflowId: string) =>
      collect(api.workflows.watchWorkflow({ workflowId, afterSequence: 0 }, api.auth(key)));

    /** An active workflow of business `a`, made with a key of its own (other keys' budgets stay untouched). */
    const newWorkflow = async (phone: string) => {
      const as = { metadata: api.auth(await freshKey(`setup-${phone}`)) };
      const id = (
        await call(api.workflows, "createWorkflow", createWorkflowRequest({ customerPhone: phone }), as)
      ).workflow!.id;
      return id;
    };

    it("caps the streams one key holds open at once", async () => {
      const key = await freshKey("watch-cap");
      const id = await newWorkflow("+14155550702");
      const w1 = watch(key, id);
      const w2 = watch(key, id);
      await expect.poll(() => w1.got.length > 0 && w2.got.length > 0).toBe(true);
      const third = await watch(key, id).done;
      expect(third).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "rate_limited" });
      expect(third.details).toContain("open streams");
      // Another key is not held back by this one's streams.
      const other = watch(await freshKey("watch-cap-other"), id);
      await expect.poll(() => other.got.length).toBeGreaterThan(0);
      // Closing one frees its place.
      w1.stream.cancel();
      expect((await w1.done).code).toBe(status.CANCELLED);
      const w3 = watch(key, id);
      await expect.poll(() => w3.got.length).toBeGreaterThan(0);
      for (const w of [w2, w3, other]) w.stream.cancel();
      await Promise.all([w2.done, w3.done, other.done]);
    });

    // Runs last: it spends this address's budget of failed authentications for the rest of the file.
    it("limits failed authentications per address, before any key is checked", async () => {
      const list = (key: string) =>
        call(api.templates, "listTemplates", { includeArchived: false }, { metadata: api.auth(key) });
      const valid = await freshKey("after-lockout");
      for (const bad of ["lf_test_guess0000000000000001", "lf_test_guess0000000000000002", ""]) {
        expect(await failure(list(bad)), bad || "(no key)").toMatchObject({ code: status.UNAUTHENTICATED });
      }
      const refused = await failure(list("lf_test_guess0000000000000003"));
      expect(refused).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "rate_limited" });
      // By design a valid key from the same address is refused too: answering it would tell a guesser it found one.
      expect(await failure(list(valid))).toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        reason: "rate_limited",
      });
      expect(await failure(list(api.a.apiKey))).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    });

    if (kind === "redis") {
      it("keeps one bucket per key across limiter instances (nodes) sharing Redis", async () => {
        const other = new RedisRateLimiter(redis!, { burst: 5, perSecond: 2 });
        const first = new RedisRateLimiter(redis!, { burst: 5, perSecond: 2 });
        const taken = [];
        for (let i = 0; i < 6; i++) taken.push((await (i % 2 ? other : first).take("key:shared")).allowed);
        expect(taken).toEqual([true, true, true, true, true, false]);
      });
    }
  });
}

describe("a node's configured API limit", () => {
  for (const redis of [false, true]) {
    it(`applies to every key of the node (${redis ? "redis" : "in memory"}), in place of the default`, async () => {
      const stack = await startStack({ redis, apiRateLimit: { burst: 2, perSecond: 0.01 } });
      try {
        const get = () =>
          call(stack.api, "getWorkflow", { workflowId: "wf_none" }, { metadata: stack.auth() }).catch(
            (e: unknown) => e,
          );
        // A malformed id is refused after the limit is taken; the default burst (100) would refuse all three so.
        const answers = [await get(), await get(), await get()];
        expect(answers.map((e) => (e as { code?: number }).code)).toEqual([
          status.INVALID_ARGUMENT,
          status.INVALID_ARGUMENT,
          status.RESOURCE_EXHAUSTED,
        ]);
      } finally {
        await stack.stop();
      }
    });
  }
});
