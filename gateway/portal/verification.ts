import { createHmac, randomInt, timingSafeEqual } from "node:crypto";
import type { EphemeralStore } from "../../core/index.ts";

export const CODE_TTL_MS = 10 * 60_000;
export const MAX_ATTEMPTS = 5;
export const LOCK_MS = 30 * 60_000;
const SESSION_TTL_MS = 24 * 3_600_000;
const MAX_SENDS = 3;

export type CodeCheck = { result: "ok" | "wrong" | "expired" | "locked"; attemptsLeft: number };

/**
 * One-time codes proving the customer holds the phone: 6 digits, valid 10
 * minutes, 5 attempts, then the link is locked for 30 minutes. The ephemeral
 * store keeps only an HMAC of the code under the node's secret, bound to the
 * link and the session: a plain hash of six digits would give the code back
 * to a million guesses.
 */
export class Verification {
  constructor(
    private readonly store: EphemeralStore,
    private readonly secret: string,
  ) {}

  #mac(workflowId: string, sid: string, code: string): Buffer {
    return createHmac("sha256", this.secret).update(`otp\n${workflowId}\n${sid}\n${code}`).digest();
  }

  async isVerified(workflowId: string, sid: string): Promise<boolean> {
    return (await this.store.get(`verified:${workflowId}:${sid}`)) === "1";
  }

  async isLocked(workflowId: string): Promise<boolean> {
    return (await this.store.get(`otp-lock:${workflowId}`)) === "1";
  }

  async hasActiveCode(workflowId: string, sid: string): Promise<boolean> {
    return (await this.store.get(`otp:${workflowId}:${sid}`)) !== undefined;
  }

  /** A new code for this session, or undefined when too many were sent recently. */
  async issue(workflowId: string, sid: string): Promise<string | undefined> {
    if ((await this.store.incr(`otp-sends:${workflowId}`, CODE_TTL_MS)) > MAX_SENDS) return undefined;
    const code = String(randomInt(0, 1_000_000)).padStart(6, "0");
    await this.store.set(
      `otp:${workflowId}:${sid}`,
      this.#mac(workflowId, sid, code).toString("hex"),
      CODE_TTL_MS,
    );
    return code;
  }

  async check(workflowId: string, sid: string, code: string): Promise<CodeCheck> {
    if (await this.isLocked(workflowId)) return { result: "locked", attemptsLeft: 0 };
    const stored = await this.store.get(`otp:${workflowId}:${sid}`);
    if (!stored) return { result: "expired", attemptsLeft: MAX_ATTEMPTS };
    const attempts = await this.store.incr(`otp-attempts:${workflowId}`, LOCK_MS);
    const given = this.#mac(workflowId, sid, code.trim());
    const ok = /^\d{6}$/.test(code.trim()) && timingSafeEqual(given, Buffer.from(stored, "hex"));
    if (ok) {
      await this.store.del(`otp:${workflowId}:${sid}`);
      await this.store.del(`otp-attempts:${workflowId}`);
      await this.store.set(`verified:${workflowId}:${sid}`, "1", SESSION_TTL_MS);
      return { result: "ok", attemptsLeft: MAX_ATTEMPTS };
    }
    if (attempts >= MAX_ATTEMPTS) {
      await this.store.set(`otp-lock:${workflowId}`, "1", LOCK_MS);
      await this.store.del(`otp:${workflowId}:${sid}`);
      return { result: "locked", attemptsLeft: 0 };
    }
    return { result: "wrong", attemptsLeft: MAX_ATTEMPTS - attempts };
  }
}

/** Fixed-window rate limit; true when the request may go ahead. */
export async function allow(
  store: EphemeralStore,
  key: string,
  limit: number,
  windowMs: number,
): Promise<boolean> {
  return (await store.incr(`rl:${key}`, windowMs)) <= limit;
}
