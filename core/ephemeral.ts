import { SpanKind } from "@opentelemetry/api";
import { Redis } from "ioredis";
import { inSpan } from "./telemetry.ts";

/** A CLIENT span per Redis command; keys are left out (they contain workflow and session ids). */
const redisSpan = <T>(command: string, fn: () => Promise<T>) =>
  inSpan(`redis.${command}`, { "db.system": "redis", "db.operation": command }, fn, SpanKind.CLIENT);

/**
 * Short-lived state shared by a node's front doors: customer sessions,
 * one-time codes, rate-limit counters. Two adapters: Redis (clusters) and
 * memory (the single-node embedded default).
 */
export interface EphemeralStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  del(key: string): Promise<void>;
  /** Increments a counter, starting its TTL on first use; returns the new value. */
  incr(key: string, ttlMs: number): Promise<number>;
  close(): Promise<void>;
}

export class MemoryStore implements EphemeralStore {
  #data = new Map<string, { value: string; until: number }>();
  #sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, v] of this.#data) if (v.until <= now) this.#data.delete(k);
  }, 30_000);

  constructor() {
    this.#sweep.unref();
  }

  async get(key: string): Promise<string | undefined> {
    const v = this.#data.get(key);
    if (!v || v.until <= Date.now()) return undefined;
    return v.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.#data.set(key, { value, until: Date.now() + ttlMs });
  }

  async del(key: string): Promise<void> {
    this.#data.delete(key);
  }

  async incr(key: string, ttlMs: number): Promise<number> {
    const v = this.#data.get(key);
    if (!v || v.until <= Date.now()) {
      this.#data.set(key, { value: "1", until: Date.now() + ttlMs });
      return 1;
    }
    v.value = String(Number(v.value) + 1);
    return Number(v.value);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#data.clear();
  }
}

export class RedisStore implements EphemeralStore {
  readonly redis: Redis;

  constructor(url: string, prefix = "linkflow:") {
    this.redis = new Redis(url, {
      keyPrefix: prefix,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      lazyConnect: false,
    });
  }

  async get(key: string): Promise<string | undefined> {
    return redisSpan("get", async () => (await this.redis.get(key)) ?? undefined);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await redisSpan("set", () => this.redis.set(key, value, "PX", Math.max(1, Math.floor(ttlMs))));
  }

  async del(key: string): Promise<void> {
    await redisSpan("del", () => this.redis.del(key));
  }

  async incr(key: string, ttlMs: number): Promise<number> {
    // One round trip, atomic: the TTL starts with the first increment only.
    const [[, n]] = (await redisSpan("incr", () =>
      this.redis
        .multi()
        .incr(key)
        .pexpire(key, Math.max(1, Math.floor(ttlMs)), "NX")
        .exec(),
    )) as [[Error | null, number]];
    return n;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export function createEphemeralStore(redisUrl?: string): EphemeralStore {
  return redisUrl ? new RedisStore(redisUrl) : new MemoryStore();
}
