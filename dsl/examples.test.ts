import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compileTemplate, formatTemplate, renderGraph } from "./index.ts";

const dir = new URL("../examples/", import.meta.url);
const examples = readdirSync(dir)
  .filter((f) => f.endsWith(".flow"))
  .map((f) => ({ file: f, source: readFileSync(new URL(f, dir), "utf8") }));

describe("examples", () => {
  it("has the required templates", () => {
    const names = examples.map((e) => e.file);
    for (const n of [
      "welcome",
      "onboard_and_pay",
      "ach_debit_collection",
      "terms_only",
      "rent_collection",
      "vixo_invite",
    ])
      expect(names).toContain(`${n}.flow`);
  });

  for (const { file, source } of examples) {
    describe(file, () => {
      it("compiles without diagnostics", () => {
        const r = compileTemplate(source, { file });
        expect(r.diagnostics).toEqual([]);
        expect(r.program?.hash).toMatch(/^[0-9a-f]{64}$/);
      });
      it("is already formatted, and formatting is idempotent", () => {
        const once = formatTemplate(source).text;
        expect(once).toBe(source);
        expect(formatTemplate(once ?? "").text).toBe(once);
      });
      it("compiles to the same program after formatting", () => {
        const scrambled = source.replace(/\n\n/g, "\n").replace(/^ +/gm, "      ").replace(/; /g, " ;  ");
        const formatted = formatTemplate(scrambled).text ?? "";
        expect(compileTemplate(formatted).program).toEqual(compileTemplate(source).program);
        expect(formatTemplate(formatted).text).toBe(formatted);
      });
      it("draws a graph", () => {
        const p = compileTemplate(source).program!;
        const m = renderGraph(p);
        expect(m.startsWith("flowchart TD")).toBe(true);
        for (const s of p.steps) expect(m).toContain(`step_${s.id}`);
        expect(renderGraph(p, "dot")).toContain("digraph");
      });
    });
  }

  it("compiles welcome.flow to the walking-skeleton program", () => {
    const src = examples.find((e) => e.file === "welcome.flow")!.source;
    const p = compileTemplate(src).program!;
    expect(p.template).toEqual({ name: "welcome", title: "Welcome aboard", version: 1 });
    expect(p.link).toEqual({
      channels: ["sms"],
      expiresInMs: 7 * 86_400_000,
      reminders: { everyMs: 2 * 86_400_000, beforeExpiryMs: [] },
      verifyWithCode: false,
      singleUse: true,
    });
    expect(p.steps).toEqual([
      {
        id: "profile",
        title: "Confirm your details",
        declinable: false,
        action: {
          kind: "collect_profile",
          profile: "individual",
          fields: [
            { name: "first_name", required: true },
            { name: "last_name", required: true },
            { name: "email", required: false },
          ],
        },
      },
    ]);
    expect(p.handlers).toEqual([{ on: "completed", actions: [{ kind: "notify_business" }] }]);
  });
});
