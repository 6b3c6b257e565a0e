import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY, retryDelayMs } from "./webhooks.ts";

describe("webhook retry policy", () => {
  it("backs off exponentially to the cap", () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, DEFAULT_RETRY))).toEqual([5000, 10_000, 20_000, 40_000]);
    expect(retryDelayMs(30, DEFAULT_RETRY)).toBe(3_600_000);
  });

  it("keeps retrying for at least 3 days before a delivery is given up", () => {
    let total = 0;
    for (let a = 1; a < DEFAULT_RETRY.maxAttempts; a++) total += retryDelayMs(a, DEFAULT_RETRY);
    expect(total).toBeGreaterThanOrEqual(3 * 86_400_000);
    // …and not absurdly longer.
    expect(total).toBeLessThan(4 * 86_400_000);
  });
});
