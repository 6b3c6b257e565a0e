import { describe, expect, it } from "vitest";
import { multipartBoundary, parseMultipart } from "./multipart.ts";

describe("multipart/form-data", () => {
  it("splits fields and files, keeping binary content intact", async () => {
    const form = new FormData();
    form.set("_csrf", "tok");
    const bytes = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d, 0x00, 0xff, 0x0d, 0x0a]);
    form.append("files", new Blob([bytes], { type: "application/pdf" }), "a.pdf");
    form.append("files", new Blob([new Uint8Array([1, 2, 3])]), "b.bin");
    const req = new Request("http://x/", { method: "POST", body: form });
    const boundary = multipartBoundary(req.headers.get("content-type") ?? undefined)!;
    const parts = parseMultipart(Buffer.from(await req.arrayBuffer()), boundary);
    expect(parts.map((p) => [p.name, p.filename])).toEqual([
      ["_csrf", undefined],
      ["files", "a.pdf"],
      ["files", "b.bin"],
    ]);
    expect(parts[0]?.data.toString()).toBe("tok");
    expect([...parts[1]!.data]).toEqual([...bytes]);
  });

  it("rejects what is not multipart", () => {
    expect(multipartBoundary("application/x-www-form-urlencoded")).toBeUndefined();
    expect(parseMultipart(Buffer.from("garbage"), "x")).toEqual([]);
  });
});
