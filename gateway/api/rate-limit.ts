import { status } from "@grpc/grpc-js";
import type { Redis } from "ioredis";
import { LinkflowError } from "../../core/index.ts";

/** The per-key request budget is spent; retry after `retryAfterMs`. */
export class RateLimitedError extends LinkflowError {
  override readonly name = "RateLimitedError";
  constructor(
    readonly retryAfterMs: number,
    message = `too many requests for this API key; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
  ) {
    super("rate_limited", message, {
      grpcStatus: status.RESOURCE_EXHAUSTED,
      retryable: true,
    });
  }
}

/** What a limiter says about one request. */
export interface RateDecision {
  allowed: boolean;
  /** Tokens left after this request. */
  remaining: number;
  /** When refused: how long until the request would be allowed. */
  retryAfterMs: number;
}

/**
 * A per-key token bucket: `burst` requests at once, refilled at `perSecond`.
 * Two implementations share it: Redis (every node of a cluster shares the
 * buckets) and memory (the single-node embedded default).
 */
export interface RateLimiter {
  take(key: string, cost?: number): Promise<RateDecision>;
  /** The same store with another limit (and its own buckets), e.g. for failed authentications. */
  withLimit?(limit: RateLimit, prefix: string): RateLimiter;
  /** Resolves when the limiter's store answers (health checks). */
  ping?(): Promise<void>;
  close?(): Promise<void>;
}

export interface RateLimit {
  burst: number;
  perSecond: number;
}

/** Defaults: a burst of 100 requests, then 50 a second per API key. */
export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 100, perSecond: 50 };

/** Buckets in this process; for one node (`npm start`) and tests. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly limit: RateLimit = DEFAULT_RATE_LIMIT,
    private readonly now: () => number = Date.now,
  ) {}

  withLimit(limit: RateLimit, prefix: string): RateLimiter {
    const other = new MemoryRateLimiter(limit, this.now);
    return { take: (key, cost) => other.take(prefix + key, cost) };
  }

  async take(key: string, cost = 1): Promise<RateDecision> {
    const now = this.now();
    const { burst, perSecond } = this.limit;
    const b = this.#buckets.get(key) ?? { tokens: burst, at: now };
    const tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.at) * perSecond) / 1000);
    if (this.#buckets.size > 100_000) this.#buckets.clear();
    if (tokens >= cost) {
      this.#buckets.set(key, { tokens: tokens - cost, at: now });
      return { allowed: true, remaining: Math.floor(tokens - cost), retryAfterMs: 0 };
    }
    this.#buckets.set(key, { tokens, at: now });
    return {
      allowed: false,
      remaining: 0,
      retryAfterMs: Math.ceil(((cost - tokens) * 1000) / perSecond),
    };
  }
}

// One atomic step of a token bucket kept in a Redis hash {t: tokens, ts: ms}.
// Time comes from the Redis server so every node agrees on it.
const TOKEN_BUCKET = `
local burst = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2]) / 1000
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * per_ms)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_ms) + 1000)
return {allowed, math.floor(tokens), retry}
`;

type BucketRedis = Redis & {
  linkflowTokenBucket(key: string, burst: number, perSecond: number, cost: number): Promise<number[]>;
};

/** Buckets in Redis, shared by every node; one Lua script call per request. */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: BucketRedis;
  constructor(
    redis: Redis,
    private readonly limit: RateLimit = DEFAULT_RATE_LIMIT,
    private readonly prefix = "linkflow:rate:",
  ) {
    if (!("linkflowTokenBucket" in redis)) {
      redis.defineCommand("linkflowTokenBucket", { numberOfKeys: 1, lua: TOKEN_BUCKET });
    }
    this.#redis = redis as BucketRedis;
  }

  withLimit(limit: RateLimit, prefix: string): RateLimiter {
    return new RedisRateLimiter(this.#redis, limit, this.prefix + prefix);
  }

  async ping(): Promise<void> {
    await this.#redis.ping();
  }

  async take(key: string, cost = 1): Promise<RateDecision> {
    const [allowed, remaining, retry] = await this.#redis.linkflowTokenBucket(
      this.prefix + key,
      this.limit.burst,
      this.limit.perSecond,
      cost,
    );
    return { allowed: allowed === 1, remaining: remaining ?? 0, retryAfterMs: retry ?? 0 };
  }
}
