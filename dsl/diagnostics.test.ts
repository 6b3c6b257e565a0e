import { describe, expect, it } from "vitest";
import { compileTemplate, formatDiagnostics, TemplateInvalidError } from "./index.ts";

const HEAD = 'template t "T" version 1\n';
const STEP = 'step profile "P" { collect individual { first_name, last_name required; email optional } }\n';

/** Broken input → expected first diagnostic: code, line, column, message substring. */
const cases: [string, string, string, number, number, string][] = [
  ["unknown character", `${HEAD}${STEP}@`, "LF0001", 3, 1, "unexpected character"],
  ["unterminated string", `${HEAD}step a "A {\n}`, "LF0002", 2, 8, "unterminated string"],
  [
    "syntax error",
    `${HEAD}step a "A" { collect individual { first_name required }`,
    "LF1001",
    2,
    55,
    "expected",
  ],
  ["reserved word as name", `${HEAD}step when "A" { verify identity }`, "LF1001", 2, 6, "expected"],
  ["missing header", STEP, "LF1101", 1, 1, "missing template header"],
  ["no steps", HEAD, "LF1104", 1, 1, "no steps"],
  ["unknown input type", `${HEAD}input a: mony\n${STEP}`, "LF2004", 2, 10, "unknown input type `mony`"],
  [
    "unknown field",
    `${HEAD}step p "P" { collect individual { first_name, last_nme required } }`,
    "LF2005",
    2,
    47,
    "unknown profile field",
  ],
  ["duplicate step", `${HEAD}${STEP}${STEP}`, "LF2002", 3, 6, "duplicate step name"],
  [
    "unknown reference with did you mean",
    `${HEAD}${STEP}on completed { text customer "Hi {profile.frist_name}" }`,
    "LF2001",
    3,
    43,
    "has no field `frist_name`",
  ],
  [
    "unknown input ref",
    `${HEAD}input amount: money\n${STEP}rule "r": require input.amout > 0 USD else reject "no"`,
    "LF2001",
    4,
    25,
    "unknown input `amout`",
  ],
  [
    "later step",
    `${HEAD}step a "A" when b.verified { verify identity }\nstep b "B" { verify identity }`,
    "LF2003",
    2,
    17,
    "comes later",
  ],
  [
    "type error",
    `${HEAD}input n: number\nstep a "A" when input.n { verify identity }`,
    "LF3003",
    3,
    17,
    "must be true or false",
  ],
  [
    "currency mismatch",
    `${HEAD}input a: money(USD)\nstep s "S" when input.a > 5 EUR { verify identity }`,
    "LF3002",
    3,
    27,
    "currency mismatch",
  ],
  [
    "money vs number",
    `${HEAD}input a: money\nstep s "S" when input.a > 5 { verify identity }`,
    "LF3001",
    3,
    27,
    "cannot compare",
  ],
  [
    "too many decimals",
    `${HEAD}input a: money\nstep s "S" when input.a > 5.001 USD { verify identity }`,
    "LF3004",
    3,
    27,
    "2 decimal places",
  ],
  ["empty step", `${HEAD}step a "A" { }`, "LF4001", 2, 6, "does nothing"],
  [
    "ach debit without authorization",
    `${HEAD}input amt: money\nstep bank "B" { collect financial_account { bank_account; via manual } }\nstep pay "P" { confirm request input.amt from bank }`,
    "LF4003",
    4,
    16,
    "authorization",
  ],
  [
    "account is not a financial account step",
    `${HEAD}input amt: money\n${STEP}step pay "P" { confirm send input.amt to profile }`,
    "LF4004",
    4,
    42,
    "does not collect a financial account",
  ],
  [
    "reminder never fires",
    `${HEAD}link { expires in 2 days\n remind every 3 days }\n${STEP}`,
    "LF4005",
    3,
    2,
    "never fires",
  ],
  [
    "reminder before expiry too early",
    `${HEAD}link { expires in 1 day\n remind 2 days before expiry }\n${STEP}`,
    "LF4005",
    3,
    9,
    "never fires",
  ],
  ["unknown channel", `${HEAD}link { send via smss }\n${STEP}`, "LF2006", 2, 17, "unknown channel"],
  [
    "unknown provider",
    `${HEAD}step b "B" { collect financial_account { bank_account; via waterfall(plaid, finicty) } }`,
    "LF2007",
    2,
    77,
    "unknown bank-link provider",
  ],
  [
    "two actions in one step",
    `${HEAD}step a "A" { verify identity\n upload statement }`,
    "LF4009",
    3,
    2,
    "does one thing",
  ],
  [
    "transaction outside its handler",
    `${HEAD}${STEP}on completed { text customer "{transaction.status}" }`,
    "LF2012",
    3,
    32,
    "only available",
  ],
  [
    "rule using a step",
    `${HEAD}${STEP}rule "r": require profile.email == "a@b.co" else reject "x"`,
    "LF2012",
    3,
    19,
    "not available",
  ],
  [
    "bad interpolation",
    `${HEAD}${STEP}on completed { text customer "Hi {profile.first_name" }`,
    "LF0003",
    3,
    34,
    "unclosed",
  ],
  [
    "wrong method for direction",
    `${HEAD}input a: money\nstep b "B" { collect financial_account { bank_account } }\nstep p "P" { confirm send input.a to b method ach_debit }`,
    "LF4014",
    4,
    47,
    "cannot send",
  ],
  [
    "symbol not in enum",
    `${HEAD}step b "B" { collect financial_account { bank_account or debit_card } }\nstep c "C" when b.kind == debit_crd { verify identity }`,
    "LF2010",
    3,
    27,
    "is not one of",
  ],
];

describe("diagnostics (golden)", () => {
  for (const [what, src, code, line, column, msg] of cases) {
    it(what, () => {
      const r = compileTemplate(src, { file: "t.flow" });
      expect(r.program).toBeUndefined();
      const d = r.diagnostics.find((x) => x.code === code);
      expect(d, JSON.stringify(r.diagnostics, null, 1)).toBeDefined();
      expect(d!.severity).toBe("error");
      expect({ line: d!.range.start.line, column: d!.range.start.column }).toEqual({ line, column });
      expect(d!.message).toContain(msg);
      expect(d!.file).toBe("t.flow");
    });
  }

  it("gives a did-you-mean hint", () => {
    const r = compileTemplate(`${HEAD}${STEP}on completed { text customer "Hi {profile.frist_name}" }`);
    expect(r.diagnostics[0]?.hint).toBe("did you mean `first_name`?");
  });

  it("reports several errors in one run", () => {
    const r = compileTemplate(
      `${HEAD}input a: mony\ninput b: nubmer\nstep s "S" { }\nstep s "S" { verify identity }`,
    );
    expect(r.diagnostics.filter((d) => d.severity === "error").length).toBeGreaterThanOrEqual(4);
    const syntax = compileTemplate(
      `${HEAD}step a "A" { collect individual { first_name required } \nstep b { }\nrule x`,
    );
    expect(syntax.diagnostics.length).toBeGreaterThanOrEqual(2);
  });

  it("renders rustc-style text", () => {
    const src = `${HEAD}${STEP}on completed { text customer "Hi {profile.frist_name}" }`;
    const text = formatDiagnostics(compileTemplate(src, { file: "w.flow" }).diagnostics, src);
    expect(text).toContain("error[LF2001]: `profile` has no field `frist_name`");
    expect(text).toContain(" --> w.flow:3:43");
    expect(text).toContain('3 | on completed { text customer "Hi {profile.frist_name}" }');
    expect(text).toContain(`  | ${" ".repeat(42)}^^^^^^^^^^`);
    expect(text).toContain("  = hint: did you mean `first_name`?");
  });

  it("warns about an unreachable step", () => {
    const r = compileTemplate(`${HEAD}${STEP}step a "A" when false { verify identity }`);
    expect(r.diagnostics).toMatchObject([
      { code: "LF4002", severity: "warning", range: { start: { line: 3, column: 17 } } },
    ]);
    expect(r.diagnostics[0]?.message).toContain("unreachable");
  });

  it("warnings do not block compilation", () => {
    const r = compileTemplate(`${HEAD}link { remind every 30 minutes }\n${STEP}`);
    expect(r.program).toBeDefined();
    expect(r.diagnostics.map((d) => d.severity)).toEqual(["warning"]);
  });

  it("TemplateInvalidError carries diagnostics and violations", () => {
    const r = compileTemplate(`${HEAD}step a "A" { }`);
    const e = new TemplateInvalidError(r.diagnostics);
    expect(e.code).toBe("template_invalid");
    expect(e.grpcStatus).toBe(3);
    expect(e.violations[0]?.field).toBe("template");
    expect(e.diagnostics).toBe(r.diagnostics);
  });
});
