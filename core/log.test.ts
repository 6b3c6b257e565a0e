import { describe, expect, it } from "vitest";
import { createLogger, logSink, redact, redactText } from "./log.ts";

describe("redactText", () => {
  it("keeps ISO dates and timestamps in free text", () => {
    for (const text of [
      "payout due 2026-11-22",
      "expires 2026-11-22T06:05:21.123Z, retry at 2026-11-22T06:05:21+01:00",
      "window 2026-11-22 06:05 to 2026-12-01 18:00:00",
      "from 2026-01-31 until 2026-02-28",
    ]) {
      expect(redactText(text)).toBe(text);
    }
  });

  it("still scrubs phone and account numbers, also next to a date", () => {
    expect(redactText("texted +14155550123 on 2026-11-22")).toBe("texted [redacted-number] on 2026-11-22");
    expect(redactText("2026-11-22 4155550123")).toBe("2026-11-22 [redacted-number]");
    expect(redactText("call 415-555-0123 or (415) 555-0123 or 415.555.0123")).toBe(
      "call [redacted-number] or [redacted-number] or [redacted-number]",
    );
    expect(redactText("account 000123456789")).toBe("account [redacted-number]");
    // Date-shaped but not a date (no 13th month, a longer run): numbers, scrubbed.
    for (const text of ["2026-13-22", "2026-11-2233", "12026-11-22", "+1 2026-11-22"]) {
      expect(redactText(`x ${text} y`), text).not.toContain(text);
    }
  });

  it("scrubs emails, link tokens and API keys", () => {
    expect(redactText("ada@example.com opened https://x.test/l/abcDEF_123-xyz with lf_live_Zz9_abc")).toBe(
      "[redacted-email] opened https://x.test/l/[redacted] with [redacted-key]",
    );
  });
});

describe("the logger", () => {
  it("writes dates in messages and fields as they are, and secrets by field name as markers", () => {
    const lines: string[] = [];
    const write = logSink.write;
    logSink.write = (l) => lines.push(l);
    try {
      createLogger({ component: "test" }).warn("timer for 2026-11-22T06:05:21Z fired late for +14155550123", {
        due: "2026-11-22",
        phone: "+14155550123",
        nested: { account_number: "1234", on: "2026-11-22" },
      });
    } finally {
      logSink.write = write;
    }
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: "warn",
      component: "test",
      msg: "timer for 2026-11-22T06:05:21Z fired late for [redacted-number]",
      due: "2026-11-22",
      phone: "[redacted]",
      nested: { account_number: "[redacted]", on: "2026-11-22" },
    });
    expect(lines[0]).not.toContain("4155550123");
  });

  it("redacts inside arrays and errors", () => {
    expect(redact({ list: [{ to: "+14155550123" }, "on 2026-11-22"] })).toEqual({
      list: [{ to: "[redacted]" }, "on 2026-11-22"],
    });
    expect(redact({ err: new Error("no route to 4155550123") })).toEqual({
      err: { name: "Error", message: "no route to [redacted-number]" },
    });
  });
});
