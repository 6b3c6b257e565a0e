/**
 * The expression interpreter over the IR (`Expr`), input binding and rule
 * evaluation. Pure: no I/O, no `eval`.
 */
import { LinkflowError } from "../core/index.ts";
import { closest } from "./diagnostics.ts";
import { formatDuration, formatMoney, isMoney, toMinor } from "./money.ts";
import type { Expr, InputDecl, LiteralValue, Money, WorkflowProgram } from "./program.ts";

/** Evaluation environment: `{ input: {...}, <stepId>: {...step result}, transaction?: {...} }`; money values are Money objects. */
export type Env = Record<string, unknown>;

/** An expression could not be evaluated (missing value, currency mismatch, division by zero). */
export class ExpressionError extends LinkflowError {
  override readonly name = "ExpressionError";
  constructor(message: string) {
    super("expression_failed", message);
  }
}

type Value = LiteralValue | LiteralValue[];

function lookup(path: string[], env: Env): LiteralValue {
  let cur: unknown = env;
  for (const seg of path) {
    if (typeof cur !== "object" || cur === null || !Object.hasOwn(cur, seg)) {
      throw new ExpressionError(`no value for \`${path.join(".")}\``);
    }
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined) throw new ExpressionError(`no value for \`${path.join(".")}\``);
  if (
    cur === null ||
    typeof cur === "string" ||
    typeof cur === "number" ||
    typeof cur === "boolean" ||
    isMoney(cur)
  )
    return cur;
  if (cur instanceof Date) return cur.toISOString();
  throw new ExpressionError(`\`${path.join(".")}\` is not a simple value`);
}

function sameCurrency(a: Money, b: Money, op: string): void {
  if (a.currency !== b.currency)
    throw new ExpressionError(`currency mismatch: ${formatMoney(a)} ${op} ${formatMoney(b)}`);
}

function equal(a: LiteralValue, b: LiteralValue): boolean {
  if (isMoney(a) && isMoney(b)) {
    sameCurrency(a, b, "==");
    return a.amountMinor === b.amountMinor;
  }
  if (isMoney(a) || isMoney(b)) return false;
  return a === b;
}

function compare(a: LiteralValue, b: LiteralValue, op: string): number {
  if (isMoney(a) && isMoney(b)) {
    sameCurrency(a, b, op);
    return a.amountMinor - b.amountMinor;
  }
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  throw new ExpressionError(`cannot compare ${show(a)} ${op} ${show(b)}`);
}

function show(v: LiteralValue): string {
  if (v === null) return "nothing";
  if (isMoney(v)) return formatMoney(v);
  return JSON.stringify(v);
}

function arith(op: "+" | "-" | "*" | "/", a: LiteralValue, b: LiteralValue): LiteralValue {
  if (typeof a === "number" && typeof b === "number") {
    if (op === "/" && b === 0) throw new ExpressionError("division by zero");
    const r = op === "+" ? a + b : op === "-" ? a - b : op === "*" ? a * b : a / b;
    return r;
  }
  if (isMoney(a) && isMoney(b) && (op === "+" || op === "-")) {
    sameCurrency(a, b, op);
    const r = op === "+" ? a.amountMinor + b.amountMinor : a.amountMinor - b.amountMinor;
    return { amountMinor: r, currency: a.currency };
  }
  if (isMoney(a) && typeof b === "number" && (op === "*" || op === "/")) {
    if (op === "/" && b === 0) throw new ExpressionError("division by zero");
    return {
      amountMinor: Math.round(op === "*" ? a.amountMinor * b : a.amountMinor / b),
      currency: a.currency,
    };
  }
  if (typeof a === "number" && isMoney(b) && op === "*") {
    return { amountMinor: Math.round(a * b.amountMinor), currency: b.currency };
  }
  throw new ExpressionError(`cannot compute ${show(a)} ${op} ${show(b)}`);
}

function scalar(v: Value): LiteralValue {
  if (Array.isArray(v)) throw new ExpressionError("a list is not a single value");
  return v;
}

/** Evaluates an IR expression. Throws ExpressionError on a missing value or an impossible operation. */
export function evaluate(expr: Expr, env: Env): Value {
  switch (expr.k) {
    case "lit":
      return expr.value;
    case "ref":
      return lookup(expr.path, env);
    case "not": {
      const v = scalar(evaluate(expr.expr, env));
      if (typeof v !== "boolean") throw new ExpressionError(`\`not\` needs a boolean, got ${show(v)}`);
      return !v;
    }
    case "neg": {
      const v = scalar(evaluate(expr.expr, env));
      if (typeof v === "number") return -v;
      if (isMoney(v)) return { amountMinor: -v.amountMinor, currency: v.currency };
      throw new ExpressionError(`cannot negate ${show(v)}`);
    }
    case "in": {
      const v = scalar(evaluate(expr.expr, env));
      return expr.list.some((item) => equal(v, scalar(evaluate(item, env))));
    }
    case "interp":
      return renderText(expr, env);
    case "bin": {
      if (expr.op === "and" || expr.op === "or") {
        const l = scalar(evaluate(expr.left, env));
        if (typeof l !== "boolean")
          throw new ExpressionError(`\`${expr.op}\` needs booleans, got ${show(l)}`);
        if (expr.op === "and" ? !l : l) return l;
        const r = scalar(evaluate(expr.right, env));
        if (typeof r !== "boolean")
          throw new ExpressionError(`\`${expr.op}\` needs booleans, got ${show(r)}`);
        return r;
      }
      const l = scalar(evaluate(expr.left, env));
      const r = scalar(evaluate(expr.right, env));
      switch (expr.op) {
        case "==":
          return equal(l, r);
        case "!=":
          return !equal(l, r);
        case "<":
          return compare(l, r, "<") < 0;
        case "<=":
          return compare(l, r, "<=") <= 0;
        case ">":
          return compare(l, r, ">") > 0;
        case ">=":
          return compare(l, r, ">=") >= 0;
        default:
          return arith(expr.op, l, r);
      }
    }
  }
}

/** Renders a value for a message: money as `250.00 USD`, null as empty text. */
export function valueToText(v: Value, type?: string): string {
  if (Array.isArray(v)) return v.map((x) => valueToText(x)).join(", ");
  if (v === null) return "";
  if (isMoney(v)) return formatMoney(v);
  if (type === "duration" && typeof v === "number") return formatDuration(v);
  return String(v);
}

/** Evaluates an interpolation (or any expression) to text. */
export function renderText(expr: Expr, env: Env): string {
  if (expr.k === "interp") {
    return expr.parts
      .map((p) => (typeof p === "string" ? p : valueToText(evaluate(p, env), p.type)))
      .join("");
  }
  return valueToText(evaluate(expr, env), expr.type);
}

const E164 = /^\+[1-9]\d{6,14}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function validDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m === null) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return (
    d.getUTCFullYear() === Number(m[1]) &&
    d.getUTCMonth() === Number(m[2]) - 1 &&
    d.getUTCDate() === Number(m[3])
  );
}

/** Parses and validates one raw input string against its declaration. */
export function parseInputValue(
  decl: InputDecl,
  raw: string,
): { ok: true; value: LiteralValue } | { ok: false; description: string } {
  const s = raw.trim();
  switch (decl.type) {
    case "text":
      if (raw.length > 10_000) return { ok: false, description: "text longer than 10000 characters" };
      return { ok: true, value: raw };
    case "number": {
      if (!/^-?\d+(\.\d+)?$/.test(s)) return { ok: false, description: `expected a number, got "${s}"` };
      return { ok: true, value: Number(s) };
    }
    case "money": {
      const m = /^(-?\d+(?:\.\d+)?)\s*([A-Z]{3})$/.exec(s);
      if (m === null) return { ok: false, description: `expected an amount like "250.00 USD", got "${s}"` };
      const currency = m[2]!;
      if (decl.currency !== undefined && decl.currency !== currency)
        return { ok: false, description: `expected an amount in ${decl.currency}, got ${currency}` };
      const minor = toMinor(m[1]!, currency);
      if (!minor.ok) return { ok: false, description: minor.reason };
      return { ok: true, value: { amountMinor: minor.value, currency } };
    }
    case "phone": {
      const p = s.replace(/[\s().-]/g, "");
      if (!E164.test(p))
        return { ok: false, description: "expected a phone number in E.164 form, like +14155550123" };
      return { ok: true, value: p };
    }
    case "email":
      if (!EMAIL.test(s) || s.length > 254) return { ok: false, description: "expected an email address" };
      return { ok: true, value: s };
    case "date":
      if (!validDate(s)) return { ok: false, description: `expected a date YYYY-MM-DD, got "${s}"` };
      return { ok: true, value: s };
    case "boolean":
      if (s === "true") return { ok: true, value: true };
      if (s === "false") return { ok: true, value: false };
      return { ok: false, description: `expected true or false, got "${s}"` };
    case "enum": {
      const values = decl.values ?? [];
      if (values.includes(s)) return { ok: true, value: s };
      const near = closest(s, values);
      return {
        ok: false,
        description: `expected one of ${values.join(", ")}, got "${s}"${near === undefined ? "" : ` (did you mean ${near}?)`}`,
      };
    }
  }
}

/** Applies defaults and checks required inputs; violations carry field `inputs.<name>`. */
export function bindInputs(
  program: WorkflowProgram,
  raw: Record<string, string>,
):
  | { ok: true; values: Record<string, LiteralValue> }
  | { ok: false; violations: { field: string; description: string }[] } {
  const values: Record<string, LiteralValue> = {};
  const violations: { field: string; description: string }[] = [];
  const declared = new Set(program.inputs.map((d) => d.name));
  for (const name of Object.keys(raw)) {
    if (!declared.has(name)) {
      const near = closest(name, declared);
      violations.push({
        field: `inputs.${name}`,
        description: `unknown input${near === undefined ? "" : ` (did you mean ${near}?)`}`,
      });
    }
  }
  for (const decl of program.inputs) {
    const r = Object.hasOwn(raw, decl.name) ? raw[decl.name] : undefined;
    if (r === undefined || (r.trim() === "" && decl.type !== "text")) {
      if (decl.default !== undefined) values[decl.name] = decl.default;
      else if (decl.optional) values[decl.name] = null;
      else violations.push({ field: `inputs.${decl.name}`, description: "required" });
      continue;
    }
    const p = parseInputValue(decl, r);
    if (p.ok) values[decl.name] = p.value;
    else violations.push({ field: `inputs.${decl.name}`, description: p.description });
  }
  return violations.length > 0 ? { ok: false, violations } : { ok: true, values };
}

/** Evaluates every rule in order; the first whose `require` is not true rejects. */
export function evaluateRules(
  program: WorkflowProgram,
  env: Env,
): { ok: true } | { ok: false; rule: string; message: string } {
  for (const rule of program.rules) {
    let v: Value;
    try {
      v = evaluate(rule.require, env);
    } catch (e) {
      const why = e instanceof LinkflowError ? e.message : "evaluation failed";
      return { ok: false, rule: rule.name, message: `${rule.rejectMessage} (${why})` };
    }
    if (v !== true) return { ok: false, rule: rule.name, message: rule.rejectMessage };
  }
  return { ok: true };
}
