import { describe, expect, it } from "vitest";
import { BankLinkError, linkViaWaterfall, sandboxProviders } from "./banklink.ts";
import { checkFiles, sniffType } from "./uploads.ts";

const pdf = Buffer.from("%PDF-1.7\n...");
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]);
const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]);

describe("uploaded files", () => {
  it("are typed by their content, not their name", () => {
    expect(sniffType(pdf)).toBe("application/pdf");
    expect(sniffType(png)).toBe("image/png");
    expect(sniffType(jpeg)).toBe("image/jpeg");
    expect(sniffType(Buffer.from("<html>"))).toBeUndefined();
  });

  it("are checked for count, size and type", () => {
    const limits = { minCount: 2, maxCount: 3, maxSizeBytes: 1024, contentTypes: ["application/pdf"] };
    const f = (name: string, data: Buffer) => ({
      field: "files",
      filename: name,
      contentType: "application/pdf",
      data,
    });
    expect(checkFiles([f("a.pdf", pdf), f("b.pdf", pdf)], "files", limits)).toEqual([]);
    expect(checkFiles([f("a.pdf", pdf)], "files", limits)[0]?.description).toMatch(/at least 2/);
    expect(
      checkFiles([f("a.pdf", pdf), f("b.pdf", pdf), f("c.pdf", pdf), f("d.pdf", pdf)], "files", limits)[0]
        ?.description,
    ).toMatch(/at most 3/);
    expect(
      checkFiles([f("a.pdf", pdf), f("fake.pdf", Buffer.from("hello"))], "files", limits)[0]?.description,
    ).toContain("fake.pdf");
    const big = Buffer.concat([pdf, Buffer.alloc(2048)]);
    expect(checkFiles([f("a.pdf", pdf), f("big.pdf", big)], "files", limits)[0]?.description).toContain(
      "larger",
    );
    // Empty file inputs (nothing chosen) do not count.
    expect(checkFiles([f("", Buffer.alloc(0)), f("a.pdf", pdf)], "files", limits)[0]?.description).toMatch(
      /at least 2/,
    );
  });
});

describe("bank link waterfall", () => {
  const providers = [sandboxProviders.plaid, sandboxProviders.finicity];

  it("uses the first provider that supports the bank", async () => {
    expect((await linkViaWaterfall(providers, "ins_platypus", "user_good", "pass_good")).provider).toBe(
      "plaid",
    );
    expect((await linkViaWaterfall(providers, "ins_tartan", "user_good", "pass_good")).provider).toBe(
      "finicity",
    );
  });

  it("moves on when a provider is down, but stops at wrong credentials", async () => {
    await expect(linkViaWaterfall(providers, "ins_gingham", "user_down", "x")).rejects.toMatchObject({
      reason: "unavailable",
    });
    await expect(linkViaWaterfall(providers, "ins_platypus", "user_good", "nope")).rejects.toBeInstanceOf(
      BankLinkError,
    );
    await expect(
      linkViaWaterfall([sandboxProviders.plaid], "ins_tartan", "user_good", "pass_good"),
    ).rejects.toMatchObject({
      reason: "unsupported",
    });
  });

  it("returns a stable sandbox account for the same login", async () => {
    const a = await linkViaWaterfall(providers, "ins_platypus", "user_good", "pass_good");
    const b = await linkViaWaterfall(providers, "ins_platypus", "user_good", "pass_good");
    expect(a.accountNumber).toBe(b.accountNumber);
    expect(a.routingNumber).toMatch(/^\d{9}$/);
  });
});
