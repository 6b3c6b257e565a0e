import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compileTemplate, type Diagnostic, formatTemplate } from "./index.ts";

/** mulberry32: a small seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dir = new URL("../examples/", import.meta.url);
const sources = readdirSync(dir)
  .filter((f) => f.endsWith(".flow"))
  .map((f) => readFileSync(new URL(f, dir), "utf8"));
const FRAGMENTS = [
  "{",
  "}",
  "(",
  ")",
  '"',
  ";",
  ",",
  ".",
  ":",
  "#",
  "\n",
  " ",
  "-",
  "*",
  "/",
  "==",
  "<=",
  "and",
  "or",
  "not",
  "in",
  "step",
  "when",
  "input",
  "collect",
  "confirm",
  "request",
  "send",
  "to",
  "from",
  "on",
  "rule",
  "link",
  "remind",
  "0 USD",
  "7 days",
  "1.999 USD",
  "10 MB",
  "x.y.z",
  "{input.amount}",
  "\\",
  "é",
  "\u0000",
  "\t",
  "9999999999999999999999",
];

function mutate(src: string, rnd: () => number): string {
  const tokens = src.match(/\s+|"[^"\n]*"|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|./g) ?? [];
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rnd() * tokens.length);
    const op = Math.floor(rnd() * 6);
    if (op === 0) tokens.splice(at, 1);
    else if (op === 1) tokens.splice(at, 0, FRAGMENTS[Math.floor(rnd() * FRAGMENTS.length)]!);
    else if (op === 2) {
      const b = Math.floor(rnd() * tokens.length);
      const t = tokens[at]!;
      tokens[at] = tokens[b]!;
      tokens[b] = t;
    } else if (op === 3) tokens.splice(at, 0, tokens[Math.floor(rnd() * tokens.length)] ?? "");
    else {
      // character-level edit
      const s = tokens.join("");
      const c = Math.floor(rnd() * s.length);
      const ch = String.fromCharCode(32 + Math.floor(rnd() * 95));
      return op === 4 ? s.slice(0, c) + s.slice(c + 1) : s.slice(0, c) + ch + s.slice(c);
    }
  }
  return tokens.join("");
}

function validRange(d: Diagnostic, src: string): boolean {
  const { start, end } = d.range;
  const lines = src.split("\n");
  const ok = (p: typeof start) =>
    Number.isInteger(p.offset) &&
    p.offset >= 0 &&
    p.offset <= src.length &&
    p.line >= 1 &&
    p.line <= lines.length &&
    p.column >= 1 &&
    p.column <= (lines[p.line - 1]?.length ?? 0) + 1;
  return ok(start) && ok(end) && start.offset <= end.offset;
}

describe("fuzz", () => {
  it("never throws and keeps every diagnostic inside the source (10,000 mutants)", () => {
    const rnd = prng(20240301);
    let withErrors = 0;
    for (let i = 0; i < 10_000; i++) {
      const base = sources[i % sources.length]!;
      const src = mutate(base, rnd);
      const r = compileTemplate(src, { file: "fuzz.flow" });
      for (const d of r.diagnostics) {
        if (!validRange(d, src)) throw new Error(`bad range in mutant ${i}: ${JSON.stringify(d)}\n${src}`);
        expect(d.code).toMatch(/^LF\d{4}$/);
      }
      expect(
        r.diagnostics.some((d) => d.code === "LF0000"),
        `internal error on mutant ${i}:\n${src}`,
      ).toBe(false);
      if (r.program === undefined) withErrors++;
      if (i % 10 === 0) {
        const f = formatTemplate(src);
        if (f.text !== undefined && r.program !== undefined) {
          expect(compileTemplate(f.text).program?.hash, `format changed mutant ${i}:\n${src}`).toBe(
            r.program.hash,
          );
          expect(formatTemplate(f.text).text, `format not idempotent on mutant ${i}:\n${src}`).toBe(f.text);
        }
      }
    }
    expect(withErrors).toBeGreaterThan(1000);
  }, 30_000);
});
