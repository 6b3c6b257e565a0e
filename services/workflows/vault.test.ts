import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { accountFingerprint } from "./vault.ts";

const card = { $case: "card", value: { number: "4000056655665556", expiry: "12/29", cardType: 1 } };

describe("the fingerprint of a typed account in its idempotency key", () => {
  it("is the same for the same account under one secret, and differs for another account", () => {
    const secret = "a".repeat(43);
    expect(accountFingerprint(secret, card)).toBe(accountFingerprint(secret, structuredClone(card)));
    const other = { ...card, value: { ...card.value, number: "4000056655665564" } };
    expect(accountFingerprint(secret, other)).not.toBe(accountFingerprint(secret, card));
    expect(accountFingerprint(secret, card)).toMatch(/^[0-9a-f]{32}$/);
  });

  it("cannot be recomputed without the node's secret (no plain hash of the number)", () => {
    const plain = createHash("sha256").update(JSON.stringify(card)).digest("hex").slice(0, 32);
    expect(accountFingerprint("a".repeat(43), card)).not.toBe(plain);
    expect(accountFingerprint("a".repeat(43), card)).not.toBe(accountFingerprint("b".repeat(43), card));
  });
});
