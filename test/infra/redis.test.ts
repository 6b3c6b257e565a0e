import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { startRedis } from "./index.ts";

describe("redis-server harness", () => {
  it("SET/GET through ioredis", async () => {
    const redis = await startRedis();
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      const client = new Redis(redis.url);
      try {
        await client.set("k", "v", "EX", 60);
        expect(await client.get("k")).toBe("v");
        expect(await client.incr("n")).toBe(1);
      } finally {
        client.disconnect();
      }
    } finally {
      await redis.stop();
    }
  });
});
