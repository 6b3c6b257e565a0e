import { status } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from "../../gateway/api/index.ts";
import { call, readErrorCode } from "../../services/grpc/index.ts";
import { startRedis } from "../infra/index.ts";
import { type ApiHarness, startApi } from "./harness.ts";

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
      api = await startApi({ rateLimiter: limiter });
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
