import { status } from "@grpc/grpc-js";
import { LinkflowError, UnavailableError } from "../../core/index.ts";
import { type RateLimit, RateLimitedError, type RateLimiter } from "./rate-limit.ts";

/** Defaults: 20 failed authentications from one address, then one every 5 s. */
export const DEFAULT_AUTH_FAILURE_LIMIT: RateLimit = { burst: 20, perSecond: 0.2 };

/** The host of a grpc-js peer ("1.2.3.4:5678", "[::1]:5678", "ipv4:…"), without its port. */
export function peerHost(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, "");
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(p);
  if (v6?.[1]) return v6[1];
  return /^[^:]+:\d+$/.test(p) ? p.slice(0, p.lastIndexOf(":")) : p;
}

const bucket = (peer: string) => `authfail:${peerHost(peer)}`;

function unavailable(err: unknown): never {
  throw new UnavailableError("rate_limit_unavailable", "rate limits cannot be checked; retry shortly", err);
}

/**
 * A budget of failed authentications per client address, kept with the other
 * rate limits (Redis when configured), against API-key guessing. A peer that
 * spent it is refused with RESOURCE_EXHAUSTED *before* its key is checked,
 * valid or not: answering a valid key would still tell a guesser it found one.
 * The budget is per address, not per key prefix, so nobody can lock a business
 * out of its own keys by sending bad keys that start like them.
 */
export class AuthFailureGuard {
  constructor(private readonly limiter: RateLimiter) {}

  /** Refuses a peer whose failures used up its budget. */
  async admit(peer: string): Promise<void> {
    const d = await this.limiter.take(bucket(peer), 0).catch(unavailable);
    if (d.remaining >= 1) return;
    // A refused take consumes nothing and says how long until the next attempt.
    const again = await this.limiter.take(bucket(peer), 1).catch(unavailable);
    if (!again.allowed) throw tooMany(again.retryAfterMs);
  }

  /** Charges a failed authentication; the failure that overdraws the budget is RESOURCE_EXHAUSTED. */
  async failed(peer: string, err: unknown): Promise<never> {
    const d = await this.limiter.take(bucket(peer), 1).catch(unavailable);
    if (!d.allowed) throw tooMany(d.retryAfterMs);
    throw err;
  }
}

function tooMany(retryAfterMs: number): RateLimitedError {
  return new RateLimitedError(
    retryAfterMs,
    `too many failed authentications from this address; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
  );
}

/** Whether an authentication error means a missing or invalid key (not a key that may not act for a business). */
export function isBadKey(err: unknown): boolean {
  return err instanceof LinkflowError && err.grpcStatus === status.UNAUTHENTICATED;
}
