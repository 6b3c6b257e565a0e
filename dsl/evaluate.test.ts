import { describe, expect, it } from "vitest";
import {
  bindInputs,
  compileTemplate,
  type Env,
  type Expr,
  ExpressionError,
  evaluate,
  evaluateRules,
  type InputDecl,
  parseInputValue,
  renderText,
  type WorkflowProgram,
} from "./index.ts";

/** Compiles `expr` as a rule over the given inputs and returns its IR. */
function expr(src: string, inputs = "input amount: money\ninput n: number\ninput name: text"): Expr {
  const r = compileTemplate(
    `template t "T" version 1\n${inputs}\nstep v "V" { verify identity }\nrule "r": require ${src} else reject "no"`,
  );
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.program!.rules[0]!.require;
}
const usd = (minor: number) => ({ amountMinor: minor, currency: "USD" });
const env: Env = { input: { amount: usd(25000), n: 3, name: "Ada" } };

describe("evaluate", () => {
  it("compares money", () => {
    expect(evaluate(expr("input.amount > 0 USD"), env)).toBe(true);
    expect(evaluate(expr("input.amount <= 250.00 USD"), env)).toBe(true);
    expect(evaluate(expr("input.amount < 250.00 USD"), env)).toBe(false);
    expect(evaluate(expr("input.amount == 250 USD"), env)).toBe(true);
  });
  it("does arithmetic on money of one currency", () => {
    expect(evaluate(expr("input.amount + 1.50 USD > 251 USD"), env)).toBe(true);
    expect(evaluate(expr("input.amount * 2 == 500.00 USD"), env)).toBe(true);
    expect(evaluate(expr("input.amount / 4 == 62.50 USD"), env)).toBe(true);
    expect(evaluate(expr("input.amount - 50 USD == 200 USD"), env)).toBe(true);
  });
  it("fails on a currency mismatch at run time", () => {
    const e = expr("input.amount > 0 USD");
    expect(() => evaluate(e, { input: { amount: { amountMinor: 5, currency: "EUR" } } })).toThrow(
      ExpressionError,
    );
    try {
      evaluate(e, { input: { amount: { amountMinor: 5, currency: "EUR" } } });
    } catch (err) {
      expect((err as ExpressionError).code).toBe("expression_failed");
      expect((err as ExpressionError).message).toContain("currency mismatch");
    }
  });
  it("does boolean logic, numbers and `in`", () => {
    expect(evaluate(expr("input.n > 2 and not (input.n == 4) or false"), env)).toBe(true);
    expect(evaluate(expr("input.n * 2 + 1 == 7"), env)).toBe(true);
    expect(evaluate(expr('input.name in ("Ada", "Grace")'), env)).toBe(true);
    expect(evaluate(expr('input.name not in ("Ada", "Grace")'), env)).toBe(false);
    expect(evaluate(expr("-input.n < 0"), env)).toBe(true);
  });
  it("compares enums with bare words", () => {
    const e = expr("input.kind == gold", "input kind: enum(gold, silver)");
    expect(evaluate(e, { input: { kind: "gold" } })).toBe(true);
    expect(evaluate(e, { input: { kind: "silver" } })).toBe(false);
  });
  it("throws on a missing value", () => {
    expect(() => evaluate(expr("input.n > 1"), { input: {} })).toThrow(/no value for `input.n`/);
    expect(() => evaluate(expr("input.n / 0 > 1"), env)).toThrow(/division by zero/);
  });
  it("interpolates text", () => {
    const r = compileTemplate(
      'template t "T" version 1\ninput amount: money\nstep p "P" { collect individual { first_name, last_name required } }\non completed { text customer "Hi {p.first_name}, {input.amount} is on its way ({input.amount * 2})." }',
    );
    const a = r.program!.handlers[0]!.actions[0]!;
    if (a.kind !== "text_customer") throw new Error("expected text");
    expect(renderText(a.message, { input: { amount: usd(25000) }, p: { first_name: "Ada" } })).toBe(
      "Hi Ada, 250.00 USD is on its way (500.00 USD).",
    );
  });
});

describe("parseInputValue", () => {
  const d = (type: InputDecl["type"], extra: Partial<InputDecl> = {}): InputDecl => ({
    name: "x",
    type,
    optional: false,
    ...extra,
  });
  it("parses each type", () => {
    expect(parseInputValue(d("money"), "250.00 USD")).toEqual({ ok: true, value: usd(25000) });
    expect(parseInputValue(d("money"), "1000 JPY")).toEqual({
      ok: true,
      value: { amountMinor: 1000, currency: "JPY" },
    });
    expect(parseInputValue(d("number"), "42.5")).toEqual({ ok: true, value: 42.5 });
    expect(parseInputValue(d("boolean"), "true")).toEqual({ ok: true, value: true });
    expect(parseInputValue(d("phone"), "+14155550123")).toEqual({ ok: true, value: "+14155550123" });
    expect(parseInputValue(d("email"), "ada@example.com")).toEqual({ ok: true, value: "ada@example.com" });
    expect(parseInputValue(d("date"), "2024-02-29")).toEqual({ ok: true, value: "2024-02-29" });
    expect(parseInputValue(d("enum", { values: ["a", "b"] }), "b")).toEqual({ ok: true, value: "b" });
    expect(parseInputValue(d("text"), "anything")).toEqual({ ok: true, value: "anything" });
  });
  it("rejects bad values with a description", () => {
    for (const [decl, raw] of [
      [d("money"), "250"],
      [d("money"), "2.505 USD"],
      [d("money", { currency: "USD" }), "5 EUR"],
      [d("number"), "abc"],
      [d("boolean"), "yes"],
      [d("phone"), "4155550123"],
      [d("email"), "nope"],
      [d("date"), "2023-02-29"],
      [d("enum", { values: ["gold"] }), "gld"],
    ] as const) {
      const r = parseInputValue(decl, raw);
      expect(r.ok, `${decl.type} ${raw}`).toBe(false);
      if (!r.ok) expect(r.description.length).toBeGreaterThan(0);
    }
    const e = parseInputValue(d("enum", { values: ["gold"] }), "gld");
    expect(!e.ok && e.description).toContain("did you mean gold");
  });
});

describe("bindInputs and evaluateRules", () => {
  const program = compileTemplate(
    'template t "T" version 1\ninput amount: money(USD)\ninput memo: text optional\ninput tier: enum(a, b) default a\nstep v "V" { verify identity }\nrule "limit": require input.amount <= 100 USD else reject "amount over limit"',
  ).program as WorkflowProgram;

  it("applies defaults and optional nulls", () => {
    expect(bindInputs(program, { amount: "5.00 USD" })).toEqual({
      ok: true,
      values: { amount: usd(500), memo: null, tier: "a" },
    });
  });
  it("reports missing, bad and unknown inputs", () => {
    const r = bindInputs(program, { amont: "5", tier: "c" });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const fields = r.violations.map((v) => v.field).sort();
      expect(fields).toEqual(["inputs.amont", "inputs.amount", "inputs.tier"]);
      expect(r.violations.find((v) => v.field === "inputs.amont")?.description).toContain(
        "did you mean amount",
      );
    }
  });
  it("evaluates rules", () => {
    expect(evaluateRules(program, { input: { amount: usd(500) } })).toEqual({ ok: true });
    expect(evaluateRules(program, { input: { amount: usd(50000) } })).toEqual({
      ok: false,
      rule: "limit",
      message: "amount over limit",
    });
  });
});
