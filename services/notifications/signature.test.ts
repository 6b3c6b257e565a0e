import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY, signWebhook, verifyWebhookSignature } from "./webhooks.ts";

const body = '{"id":"evt_1","type":"workflow.completed"}';
const t = 1_790_000_000;

describe("webhook signatures", () => {
  it("hold for 5 minutes either way, and not a second longer", () => {
    const header = signWebhook("whsec_a", body, t);
    for (const skew of [0, 299, 300, -300]) {
      expect(verifyWebhookSignature(header, body, ["whsec_a"], { nowSeconds: t + skew }), `${skew}`).toBe(
        true,
      );
    }
    for (const skew of [301, -301, 86_400]) {
      expect(verifyWebhookSignature(header, body, ["whsec_a"], { nowSeconds: t + skew }), `${skew}`).toBe(
        false,
      );
    }
  });

  it("are documented for receivers with the tolerance and retry schedule the code applies", () => {
    const doc = readFileSync(new URL("./WEBHOOKS.md", import.meta.url), "utf8");
    const header = signWebhook("whsec_a", body, t);
    expect(doc).toContain("more than 5 minutes (300 s)");
    expect(verifyWebhookSignature(header, body, ["whsec_a"], { nowSeconds: t + 300 })).toBe(true);
    expect(verifyWebhookSignature(header, body, ["whsec_a"], { nowSeconds: t + 301 })).toBe(false);
    expect(doc).toContain(`(${DEFAULT_RETRY.maxAttempts} attempts)`);
    expect(doc).toContain(`${DEFAULT_RETRY.baseBackoffMs / 1000} s, doubling`);
  });

  it("match only the signed body and a secret the receiver holds; either secret during a rotation", () => {
    const both = `${signWebhook("whsec_new", body, t)},${signWebhook("whsec_old", body, t).split(",")[1]}`;
    const at = { nowSeconds: t };
    expect(verifyWebhookSignature(both, body, ["whsec_old"], at)).toBe(true);
    expect(verifyWebhookSignature(both, body, ["whsec_new"], at)).toBe(true);
    expect(verifyWebhookSignature(both, body, ["whsec_other"], at)).toBe(false);
    expect(verifyWebhookSignature(both, `${body} `, ["whsec_new"], at)).toBe(false);
    // The timestamp is signed too: moving it breaks the signature.
    expect(verifyWebhookSignature(both.replace(`t=${t}`, `t=${t + 1}`), body, ["whsec_new"], at)).toBe(false);
    expect(verifyWebhookSignature("v1=abc", body, ["whsec_new"], at)).toBe(false);
  });
});
