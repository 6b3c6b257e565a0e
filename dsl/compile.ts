/**
 * The checker and compiler: AST → WorkflowProgram. Resolves names, types
 * every expression, checks the template's semantics and reports every problem
 * it finds as a diagnostic.
 */
import { createHash } from "node:crypto";
import type {
  ActionNode,
  AstExpr,
  HandlerNode,
  InputNode,
  Loc,
  Name,
  StepNode,
  StepStmt,
  Str,
  TemplateAst,
} from "./ast.ts";
import { Codes, type DiagnosticSink, didYouMean } from "./diagnostics.ts";
import { evaluate } from "./evaluate.ts";
import { formatDuration, toMinor } from "./money.ts";
import {
  type AcceptedDocument,
  type BankLinkProvider,
  type Channel,
  type Expr,
  type FinancialAccountKind,
  type HandlerAction,
  type HandlerIR,
  type InputDecl,
  IR_VERSION,
  type LinkPolicy,
  type LiteralValue,
  type ProfileField,
  type RuleIR,
  type StepAction,
  type StepIR,
  type TransactionMethod,
  type ValueType,
  type WorkflowProgram,
} from "./program.ts";

/** A static type: the IR type plus what the checker knows about it. */
interface Ty {
  t: ValueType | "any";
  currency?: string;
  /** Known members of an enum. */
  values?: readonly string[];
  /** A bare word such as `debit_card`. */
  symbol?: string;
}

const INPUT_TYPES = ["text", "number", "money", "phone", "email", "date", "boolean", "enum"] as const;
const STRINGISH = new Set<string>(["text", "email", "phone", "enum", "date"]);
/** The statuses the transactions service reports (lower case). */
export const TRANSACTION_STATUSES = [
  "new",
  "pending",
  "processing",
  "settled",
  "cleared",
  "returned",
  "cancelled",
  "declined",
  "error",
] as const;
const ACCOUNT_KINDS: FinancialAccountKind[] = ["bank_account", "debit_card", "credit_card"];
const BANK_SUBTYPES = ["checking", "savings"];
const PROVIDERS: BankLinkProvider[] = ["plaid", "finicity"];
const METHODS: TransactionMethod[] = ["push_to_card", "ach_credit", "ach_debit"];
const IDENTITY_METHODS = ["document", "selfie", "ssn"];
const LOOKUP_KEYS = ["phone", "email", "external_id"] as const;
/** The most documents one step accepts (the accounts service records at most that many at once). */
const MAX_ACCEPTED_DOCUMENTS = 20;

const FIELD_TYPES: Record<ProfileField, ValueType> = {
  first_name: "text",
  last_name: "text",
  email: "email",
  phone: "phone",
  date_of_birth: "date",
  address: "text",
  dba_name: "text",
  contact_first_name: "text",
  contact_last_name: "text",
  contact_email: "email",
  contact_phone: "phone",
  additional_contacts: "text",
  tax_id: "text",
};
const PROFILE_FIELDS: Record<"individual" | "business", ProfileField[]> = {
  individual: ["first_name", "last_name", "email", "phone", "date_of_birth", "address", "tax_id"],
  business: [
    "dba_name",
    "contact_first_name",
    "contact_last_name",
    "contact_email",
    "contact_phone",
    "additional_contacts",
    "address",
    "tax_id",
    "email",
    "phone",
  ],
};
const PROFILE_REQUIRED: Record<"individual" | "business", ProfileField[]> = {
  individual: ["first_name", "last_name"],
  business: ["dba_name"],
};

const DEFAULT_UPLOAD_TYPES = ["application/pdf", "image/jpeg", "image/png"];

/** Fields of the result each kind of step exposes to later expressions (`bank.kind`). */
function resultFields(action: StepAction): Map<string, Ty> {
  const m = new Map<string, Ty>();
  switch (action.kind) {
    case "collect_profile":
      m.set("customer_id", { t: "text" });
      for (const f of action.fields) m.set(f.name, { t: FIELD_TYPES[f.name] });
      break;
    case "lookup_customer":
      m.set("customer_id", { t: "text" });
      m.set("found", { t: "boolean" });
      m.set("first_name", { t: "text" });
      m.set("last_name", { t: "text" });
      m.set("email", { t: "email" });
      m.set("phone", { t: "phone" });
      break;
    case "collect_financial_account":
      m.set("account_id", { t: "text" });
      m.set("kind", { t: "enum", values: action.accountKinds });
      m.set("subtype", { t: "enum", values: action.subtypes });
      m.set("provider", { t: "enum", values: [...(action.manual ? ["manual"] : []), ...action.providers] });
      m.set("last4", { t: "text" });
      break;
    case "accept_documents":
      m.set("accepted", { t: "boolean" });
      m.set("accepted_at", { t: "text" });
      break;
    case "upload_documents":
      m.set("count", { t: "number" });
      break;
    case "verify_identity":
      m.set("verified", { t: "boolean" });
      m.set("method", { t: "enum", values: action.methods });
      break;
    case "confirm_transaction":
      m.set("transaction_id", { t: "text" });
      m.set("status", { t: "enum", values: TRANSACTION_STATUSES });
      m.set("amount", { t: "money" });
      m.set("method", { t: "enum", values: action.methods.map((x) => x.method) });
      break;
  }
  return m;
}

const TRANSACTION_FIELDS = new Map<string, Ty>([
  ["transaction_id", { t: "text" }],
  ["status", { t: "enum", values: TRANSACTION_STATUSES }],
  ["amount", { t: "money" }],
  ["method", { t: "enum", values: METHODS }],
  ["return_code", { t: "text" }],
]);

interface Scope {
  /** Steps with an index below this are visible. */
  stepsBefore: number;
  transaction: boolean;
  /** Why steps are not visible (rules), when stepsBefore is 0 for that reason. */
  stepsHiddenReason?: string;
  /** Where the expression is, for "comes later" messages. */
  where: string;
}

interface StepInfo {
  index: number;
  node: StepNode;
  ir?: StepIR;
  fields: Map<string, Ty>;
}

const show = (t: Ty): string =>
  t.symbol !== undefined ? `\`${t.symbol}\`` : t.currency ? `money(${t.currency})` : t.t;

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

export function programHash(p: Omit<WorkflowProgram, "hash">): string {
  const { hash: _ignored, ...rest } = p as WorkflowProgram;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

export class Compiler {
  private readonly inputs = new Map<string, { node: InputNode; decl: InputDecl }>();
  private readonly steps = new Map<string, StepInfo>();
  private readonly stepOrder: StepNode[] = [];

  constructor(private readonly sink: DiagnosticSink) {}

  compile(ast: TemplateAst): WorkflowProgram | undefined {
    const s = this.sink;
    const headers = ast.items.filter((i) => i.kind === "header");
    const header = headers[0];
    for (const h of headers.slice(1))
      s.error(Codes.duplicateHeader, h.loc, "a file holds one template; this is a second `template` header");
    if (header === undefined) {
      s.error(
        Codes.missingHeader,
        { start: 0, end: 0 },
        "missing template header",
        'start the file with `template <name> "<title>" version <n>`',
      );
    }
    const links = ast.items.filter((i) => i.kind === "link");
    for (const l of links.slice(1)) s.error(Codes.duplicateLink, l.loc, "only one `link` block is allowed");

    // Inputs first: everything may refer to them.
    const inputs: InputDecl[] = [];
    for (const i of ast.items)
      if (i.kind === "input") {
        const d = this.input(i);
        if (d !== undefined) inputs.push(d);
      }

    const link = this.link(links[0]);

    // Steps: register all names first so that "comes later" can be told apart from "unknown".
    const stepNodes = ast.items.filter((i): i is StepNode => i.kind === "step");
    stepNodes.forEach((n) => {
      if (n.name.text === "input" || n.name.text === "transaction") {
        s.error(
          Codes.reservedName,
          n.name.loc,
          `\`${n.name.text}\` cannot name a step`,
          "choose another name",
        );
        return;
      }
      const prev = this.steps.get(n.name.text);
      if (prev !== undefined) {
        s.error(
          Codes.duplicateName,
          n.name.loc,
          `duplicate step name \`${n.name.text}\``,
          `\`${n.name.text}\` is already the name of the step on line ${s.lines.position(prev.node.name.loc.start).line}`,
        );
        return;
      }
      this.steps.set(n.name.text, { index: this.stepOrder.length, node: n, fields: new Map() });
      this.stepOrder.push(n);
    });
    if (stepNodes.length === 0 && header !== undefined) {
      s.error(
        Codes.noSteps,
        header.loc,
        "the template has no steps",
        'add one, e.g. `step profile "Your details" { collect individual { first_name, last_name required } }`',
      );
    }
    const steps: StepIR[] = [];
    for (const n of stepNodes) {
      const info = this.steps.get(n.name.text);
      const ir = this.step(n, info?.node === n ? info.index : this.stepOrder.length);
      if (ir !== undefined && info?.node === n) {
        info.ir = ir;
        info.fields = resultFields(ir.action);
        steps.push(ir);
      }
    }

    const rules: RuleIR[] = [];
    const ruleNames = new Map<string, Loc>();
    for (const r of ast.items)
      if (r.kind === "rule") {
        const nameText = this.plain(r.name, "a rule name");
        if (ruleNames.has(nameText))
          s.error(Codes.duplicateName, r.name.loc, `duplicate rule name "${nameText}"`);
        ruleNames.set(nameText, r.name.loc);
        const req = this.condition(r.require, {
          stepsBefore: 0,
          transaction: false,
          stepsHiddenReason:
            "rules are checked when the workflow is created, before any step has run; they can use only `input.…`",
          where: "a rule",
        });
        const message = this.plain(r.message, "a reject message");
        if (req !== undefined) rules.push({ name: nameText, require: req, rejectMessage: message });
      }

    const handlers: HandlerIR[] = [];
    const seenHandlers = new Map<string, Loc>();
    for (const h of ast.items)
      if (h.kind === "handler") {
        const ir = this.handler(h, seenHandlers);
        if (ir !== undefined) handlers.push(ir);
      }

    if (s.hasErrors || header === undefined) return undefined;
    const program: Omit<WorkflowProgram, "hash"> = {
      irVersion: IR_VERSION,
      template: {
        name: header.name.text,
        title: this.plain(header.title, "a title"),
        version: header.version.value,
      },
      inputs,
      link,
      steps,
      rules,
      handlers,
    };
    if (s.hasErrors) return undefined;
    const { irVersion, ...rest } = program;
    return { irVersion, hash: programHash(program), ...rest };
  }

  /** A string that must not contain `{…}`. */
  private plain(str: Str, what: string): string {
    if (str.parts.some((p) => typeof p !== "string")) {
      this.sink.error(
        Codes.interpolationNotAllowed,
        str.loc,
        `\`{…}\` is not allowed in ${what}`,
        "only messages are interpolated; write `\\{` for a literal brace",
      );
    }
    return str.parts.filter((p): p is string => typeof p === "string").join("");
  }

  // ---- inputs ----

  private input(n: InputNode): InputDecl | undefined {
    const s = this.sink;
    if (this.inputs.has(n.name.text)) {
      s.error(Codes.duplicateName, n.name.loc, `duplicate input \`${n.name.text}\``);
      return undefined;
    }
    const typeName = n.type.text;
    if (!(INPUT_TYPES as readonly string[]).includes(typeName)) {
      s.error(
        Codes.unknownType,
        n.type.loc,
        `unknown input type \`${typeName}\``,
        didYouMean(typeName, INPUT_TYPES) ?? `types are ${INPUT_TYPES.join(", ")}`,
      );
      return undefined;
    }
    const type = typeName as InputDecl["type"];
    const decl: InputDecl = { name: n.name.text, type, optional: n.optional };
    if (type === "enum") {
      if (n.typeArgs.length === 0)
        s.error(Codes.unknownType, n.type.loc, "an enum lists its values", "write `enum(first, second)`");
      const seen = new Set<string>();
      for (const v of n.typeArgs) {
        if (seen.has(v.text)) s.error(Codes.duplicateName, v.loc, `duplicate enum value \`${v.text}\``);
        seen.add(v.text);
      }
      decl.values = [...seen];
    } else if (type === "money") {
      const [cur, ...extra] = n.typeArgs;
      if (cur !== undefined) {
        if (!/^[A-Z]{3}$/.test(cur.text))
          s.error(
            Codes.unknownType,
            cur.loc,
            `\`${cur.text}\` is not an ISO 4217 currency code`,
            "write e.g. `money(USD)`",
          );
        else decl.currency = cur.text;
      }
      for (const x of extra) s.error(Codes.unknownType, x.loc, "money takes one currency");
    } else {
      for (const x of n.typeArgs) s.error(Codes.unknownType, x.loc, `\`${typeName}\` takes no arguments`);
    }
    if (n.description !== undefined) decl.description = this.plain(n.description, "a description");
    if (n.default !== undefined) {
      const v = this.constant(n.default, decl);
      if (v !== undefined) decl.default = v;
    }
    this.inputs.set(n.name.text, { node: n, decl });
    return decl;
  }

  /** A default value: a literal of the input's type. */
  private constant(e: AstExpr, decl: InputDecl): LiteralValue | undefined {
    const s = this.sink;
    const bad = (why: string) => {
      s.error(Codes.badDefault, e.loc, `the default of \`${decl.name}\` ${why}`);
      return undefined;
    };
    const neg = e.k === "neg" && (e.expr.k === "num" || e.expr.k === "money");
    const inner = neg && e.k === "neg" ? e.expr : e;
    switch (decl.type) {
      case "number":
        return inner.k === "num" ? (neg ? -inner.value : inner.value) : bad("must be a number");
      case "money": {
        if (inner.k !== "money") return bad("must be an amount like `250.00 USD`");
        if (decl.currency !== undefined && inner.currency !== decl.currency) {
          s.error(
            Codes.currencyMismatch,
            e.loc,
            `the default is in ${inner.currency} but \`${decl.name}\` is money(${decl.currency})`,
          );
          return undefined;
        }
        const m = this.money(inner);
        return m === undefined
          ? undefined
          : { amountMinor: neg ? -m.amountMinor : m.amountMinor, currency: m.currency };
      }
      case "boolean":
        return e.k === "bool" ? e.value : bad("must be true or false");
      case "enum":
        if (e.k === "ref" && e.path.length === 1) {
          const v = e.path[0]!.text;
          if (!(decl.values ?? []).includes(v)) {
            s.error(
              Codes.unknownSymbol,
              e.loc,
              `\`${v}\` is not a value of \`${decl.name}\``,
              didYouMean(v, decl.values ?? []) ?? `values are ${(decl.values ?? []).join(", ")}`,
            );
            return undefined;
          }
          return v;
        }
        return bad("must be one of its values");
      default: {
        if (e.k !== "str") return bad(`must be a string`);
        return this.plain(e.str, "a default");
      }
    }
  }

  private money(e: {
    amount: string;
    currency: string;
    loc: Loc;
  }): { amountMinor: number; currency: string } | undefined {
    const r = toMinor(e.amount, e.currency);
    if (!r.ok) {
      this.sink.error(Codes.badMoney, e.loc, `invalid amount: ${r.reason}`);
      return undefined;
    }
    return { amountMinor: r.value, currency: e.currency };
  }

  // ---- link ----

  private link(n: { stmts: import("./ast.ts").LinkStmt[]; loc: Loc } | undefined): LinkPolicy {
    const s = this.sink;
    const policy: LinkPolicy = {
      channels: ["sms"],
      expiresInMs: 7 * 86_400_000,
      reminders: { beforeExpiryMs: [] },
      verifyWithCode: false,
      singleUse: true,
    };
    if (n === undefined) return policy;
    const seen = new Map<string, Loc>();
    const once = (key: string, loc: Loc, what: string) => {
      if (seen.has(key)) s.error(Codes.duplicateSetting, loc, `${what} is set twice in the link block`);
      seen.set(key, loc);
    };
    let expiresLoc: Loc | undefined;
    let everyLoc: Loc | undefined;
    const beforeLocs: { ms: number; loc: Loc }[] = [];
    for (const st of n.stmts) {
      switch (st.k) {
        case "send": {
          once("send", st.loc, "the channel");
          const channels: Channel[] = [];
          for (const c of st.channels) {
            const list: Channel[] | undefined =
              c.text === "sms"
                ? ["sms"]
                : c.text === "email"
                  ? ["email"]
                  : c.text === "both"
                    ? ["sms", "email"]
                    : undefined;
            if (list === undefined) {
              s.error(
                Codes.unknownChannel,
                c.loc,
                `unknown channel \`${c.text}\``,
                didYouMean(c.text, ["sms", "email", "both"]) ?? "channels are sms, email, or both",
              );
              continue;
            }
            for (const x of list) {
              if (channels.includes(x))
                s.warn(Codes.duplicateSetting, c.loc, `channel \`${x}\` is listed twice`);
              else channels.push(x);
            }
          }
          if (channels.length > 0) policy.channels = channels;
          break;
        }
        case "expires":
          once("expires", st.loc, "the expiry");
          if (st.ms <= 0)
            s.error(Codes.badReminder, st.loc, "the link must expire after a positive duration");
          else policy.expiresInMs = st.ms;
          expiresLoc = st.loc;
          break;
        case "every":
          once("every", st.loc, "`remind every`");
          if (st.ms <= 0) s.error(Codes.badReminder, st.loc, "reminders need a positive interval");
          else {
            policy.reminders.everyMs = st.ms;
            if (st.ms < 3_600_000)
              s.warn(
                Codes.badReminder,
                st.loc,
                `a reminder every ${formatDuration(st.ms)} would spam the customer`,
                "remind at most every hour",
              );
          }
          everyLoc = st.loc;
          break;
        case "before":
          for (const b of st.items) {
            if (b.ms <= 0)
              s.error(Codes.badReminder, b.loc, "a reminder before expiry needs a positive offset");
            else if (policy.reminders.beforeExpiryMs.includes(b.ms))
              s.warn(
                Codes.duplicateSetting,
                b.loc,
                `a reminder ${formatDuration(b.ms)} before expiry is already scheduled`,
              );
            else {
              policy.reminders.beforeExpiryMs.push(b.ms);
              beforeLocs.push(b);
            }
          }
          break;
        case "maxCount":
          once("maxCount", st.loc, "`remind at most`");
          if (!Number.isInteger(st.value) || st.value < 1)
            s.error(
              Codes.badReminder,
              st.loc,
              "`remind at most` needs a whole number ≥ 1",
              "remove the reminders instead to send none",
            );
          else policy.reminders.maxCount = st.value;
          break;
        case "verify":
          once("verify", st.loc, "`verify with one-time code`");
          policy.verifyWithCode = true;
          break;
        case "singleUse":
          once("singleUse", st.loc, "the link's use");
          policy.singleUse = st.value;
          break;
      }
    }
    policy.reminders.beforeExpiryMs.sort((a, b) => b - a);
    const exp = policy.expiresInMs;
    const expText = formatDuration(exp);
    if (policy.reminders.everyMs !== undefined && policy.reminders.everyMs >= exp && everyLoc !== undefined) {
      s.error(
        Codes.reminderNeverFires,
        everyLoc,
        `this reminder never fires: the link expires after ${expText}${expiresLoc === undefined ? " (the default)" : ""}`,
        `remind more often than every ${expText}, or extend the expiry`,
      );
    }
    for (const b of beforeLocs) {
      if (b.ms >= exp)
        s.error(
          Codes.reminderNeverFires,
          b.loc,
          `this reminder never fires: ${formatDuration(b.ms)} before expiry is before the link is sent (it expires after ${expText})`,
          `use an offset shorter than ${expText}`,
        );
    }
    if (
      policy.reminders.maxCount !== undefined &&
      policy.reminders.everyMs === undefined &&
      policy.reminders.beforeExpiryMs.length === 0
    ) {
      s.warn(
        Codes.badReminder,
        seen.get("maxCount") ?? n.loc,
        "`remind at most` has no effect without a reminder schedule",
      );
    }
    return policy;
  }

  // ---- steps ----

  private step(n: StepNode, index: number): StepIR | undefined {
    const s = this.sink;
    const scope: Scope = { stepsBefore: index, transaction: false, where: `step \`${n.name.text}\`` };
    const title = this.plain(n.title, "a step title");
    let when: Expr | undefined;
    if (n.when !== undefined) {
      when = this.condition(n.when, { ...scope, where: `the condition of step \`${n.name.text}\`` });
      if (when !== undefined) {
        const c = constantValue(when);
        if (c === false)
          s.warn(
            Codes.unreachableStep,
            n.when.loc,
            `step \`${n.name.text}\` is unreachable: its condition is always false`,
          );
        else if (c === true)
          s.warn(Codes.unreachableStep, n.when.loc, "this condition is always true", "remove the `when`");
      }
    }
    const actions = n.body.filter((b) => b.k !== "decline");
    const declines = n.body.filter((b): b is Extract<StepStmt, { k: "decline" }> => b.k === "decline");
    if (actions.length === 0) {
      s.error(
        Codes.emptyStep,
        n.name.loc,
        `step \`${n.name.text}\` does nothing`,
        "add `collect`, `lookup`, `accept`, `upload`, `verify identity` or `confirm`",
      );
      return undefined;
    }
    const first = actions[0]!;
    for (const a of actions.slice(1)) {
      if (!(a.k === "accept" && first.k === "accept")) {
        s.error(
          Codes.manyActions,
          a.loc,
          "a step does one thing; this is a second action",
          "move it into a step of its own",
        );
      }
    }
    for (const d of declines.slice(1))
      s.error(Codes.duplicateSetting, d.loc, "`decline reasons` is given twice in this step");
    const reasons: string[] = [];
    let allowOther = false;
    for (const r of declines[0]?.reasons ?? []) {
      if ("other" in r) {
        if (allowOther) s.warn(Codes.duplicateSetting, r.loc, "`other` is listed twice");
        allowOther = true;
      } else {
        const t = this.plain(r, "a decline reason");
        if (t.trim() === "") s.error(Codes.duplicateSetting, r.loc, "a decline reason cannot be empty");
        else if (reasons.includes(t))
          s.warn(Codes.duplicateSetting, r.loc, `decline reason "${t}" is listed twice`);
        else reasons.push(t);
      }
    }
    const action = this.action(first, actions, n, scope, reasons, allowOther);
    if (action === undefined) return undefined;
    const ir: StepIR = {
      id: n.name.text,
      title,
      action,
      declinable: declines.length > 0 || action.kind === "confirm_transaction",
    };
    if (when !== undefined) ir.when = when;
    if (declines.length > 0) {
      ir.declineReasons = reasons;
      ir.allowOtherReason = allowOther;
    }
    return ir;
  }

  private action(
    first: StepStmt,
    all: StepStmt[],
    step: StepNode,
    scope: Scope,
    reasons: string[],
    allowOther: boolean,
  ): StepAction | undefined {
    const s = this.sink;
    switch (first.k) {
      case "collectProfile": {
        const allowed = PROFILE_FIELDS[first.profile];
        const fields: { name: ProfileField; required: boolean }[] = [];
        const before = s.list.length;
        for (const g of first.groups) {
          for (const f of g.fields) {
            if (!(f.text in FIELD_TYPES)) {
              s.error(
                Codes.unknownField,
                f.loc,
                `unknown profile field \`${f.text}\``,
                didYouMean(f.text, allowed) ??
                  `fields of ${first.profile === "individual" ? "an individual" : "a business"}: ${allowed.join(", ")}`,
              );
              continue;
            }
            if (!allowed.includes(f.text as ProfileField)) {
              s.error(
                Codes.unknownField,
                f.loc,
                `\`${f.text}\` is not a field of ${first.profile === "individual" ? "an individual" : "a business"} profile`,
                `fields: ${allowed.join(", ")}`,
              );
              continue;
            }
            if (fields.some((x) => x.name === f.text)) {
              s.error(Codes.duplicateField, f.loc, `field \`${f.text}\` is listed twice`);
              continue;
            }
            fields.push({ name: f.text as ProfileField, required: g.required });
          }
        }
        for (const r of before === s.list.length ? PROFILE_REQUIRED[first.profile] : []) {
          const f = fields.find((x) => x.name === r);
          if (f === undefined)
            s.error(
              Codes.missingRequiredField,
              first.loc,
              `${first.profile === "individual" ? "an individual" : "a business"} profile needs \`${r}\``,
              `add \`${r}\` to the required fields`,
            );
          else if (!f.required)
            s.warn(
              Codes.missingRequiredField,
              first.loc,
              `\`${r}\` should be required: a customer cannot be created without it`,
            );
        }
        return { kind: "collect_profile", profile: first.profile, fields };
      }
      case "collectAccount": {
        const kinds: FinancialAccountKind[] = [];
        const subtypes: string[] = [];
        let manual = false;
        let sawVia = false;
        const providers: BankLinkProvider[] = [];
        for (const c of first.clauses) {
          if (c.via) {
            if (sawVia) s.error(Codes.duplicateSetting, c.loc, "`via` is given twice");
            sawVia = true;
            for (const ch of c.choices) {
              const w = ch.name.text;
              const addProvider = (p: Name) => {
                if (!(PROVIDERS as string[]).includes(p.text)) {
                  s.error(
                    Codes.unknownProvider,
                    p.loc,
                    `unknown bank-link provider \`${p.text}\``,
                    didYouMean(p.text, PROVIDERS) ?? `providers are ${PROVIDERS.join(", ")}`,
                  );
                } else if (providers.includes(p.text as BankLinkProvider)) {
                  s.error(Codes.unknownProvider, p.loc, `provider \`${p.text}\` is listed twice`);
                } else providers.push(p.text as BankLinkProvider);
              };
              if (w === "manual") {
                if (ch.args.length > 0) s.error(Codes.unknownProvider, ch.loc, "`manual` takes no arguments");
                manual = true;
              } else if (w === "waterfall") {
                if (ch.args.length === 0) for (const p of PROVIDERS) addProvider({ text: p, loc: ch.loc });
                else for (const p of ch.args) addProvider(p);
              } else if (ch.args.length > 0) {
                s.error(
                  Codes.unknownProvider,
                  ch.loc,
                  `\`${w}\` takes no arguments`,
                  "list providers in order with `waterfall(plaid, finicity)`",
                );
              } else if ((PROVIDERS as string[]).includes(w)) addProvider(ch.name);
              else
                s.error(
                  Codes.unknownProvider,
                  ch.name.loc,
                  `unknown way to add an account \`${w}\``,
                  didYouMean(w, ["manual", "waterfall", ...PROVIDERS]) ??
                    "use manual, plaid, finicity or waterfall(…)",
                );
            }
          } else {
            for (const ch of c.choices) {
              const k = ch.name.text;
              if (!(ACCOUNT_KINDS as string[]).includes(k)) {
                s.error(
                  Codes.unknownAccountKind,
                  ch.name.loc,
                  `unknown account kind \`${k}\``,
                  didYouMean(k, ACCOUNT_KINDS) ?? `kinds are ${ACCOUNT_KINDS.join(", ")}`,
                );
                continue;
              }
              if (kinds.includes(k as FinancialAccountKind))
                s.error(Codes.duplicateField, ch.name.loc, `\`${k}\` is listed twice`);
              else kinds.push(k as FinancialAccountKind);
              for (const a of ch.args) {
                if (k !== "bank_account")
                  s.error(Codes.unknownAccountKind, a.loc, `\`${k}\` has no subtypes`);
                else if (!BANK_SUBTYPES.includes(a.text))
                  s.error(
                    Codes.unknownAccountKind,
                    a.loc,
                    `unknown bank account subtype \`${a.text}\``,
                    didYouMean(a.text, BANK_SUBTYPES) ?? "subtypes are checking, savings",
                  );
                else if (!subtypes.includes(a.text)) subtypes.push(a.text);
              }
            }
          }
        }
        if (kinds.length === 0) {
          s.error(
            Codes.badAccount,
            first.loc,
            "say which accounts to collect",
            "e.g. `collect financial_account { bank_account or debit_card; via manual }`",
          );
          return undefined;
        }
        if (!sawVia) manual = true;
        if (kinds.includes("bank_account") && subtypes.length === 0) subtypes.push(...BANK_SUBTYPES);
        if (providers.length > 0 && !kinds.includes("bank_account")) {
          s.error(
            Codes.badAccount,
            first.loc,
            "bank-link providers link bank accounts, but this step collects only cards",
            "add `bank_account` or use `via manual`",
          );
        }
        if (!manual && kinds.some((k) => k !== "bank_account")) {
          s.error(
            Codes.badAccount,
            first.loc,
            "cards can only be entered manually",
            "add `manual` to the `via` list",
          );
        }
        return { kind: "collect_financial_account", accountKinds: kinds, subtypes, manual, providers };
      }
      case "lookup": {
        const by: ("phone" | "email" | "external_id")[] = [];
        for (const b of first.by) {
          if (!(LOOKUP_KEYS as readonly string[]).includes(b.text))
            s.error(
              Codes.unknownField,
              b.loc,
              `cannot look a customer up by \`${b.text}\``,
              didYouMean(b.text, LOOKUP_KEYS) ?? `use ${LOOKUP_KEYS.join(", ")}`,
            );
          else if (by.includes(b.text as "phone"))
            s.warn(Codes.duplicateField, b.loc, `\`${b.text}\` is listed twice`);
          else by.push(b.text as "phone");
        }
        return { kind: "lookup_customer", by };
      }
      case "accept": {
        const documents: AcceptedDocument[] = [];
        for (const a of all) {
          if (a.k !== "accept") continue;
          const id = this.plain(a.doc, "a document id");
          if (id.trim() === "") s.error(Codes.unknownReference, a.doc.loc, "a document id cannot be empty");
          if (documents.some((d) => d.id === id))
            s.error(Codes.duplicateName, a.doc.loc, `document "${id}" is accepted twice in this step`);
          if (documents.length === MAX_ACCEPTED_DOCUMENTS)
            s.error(
              Codes.manyDocuments,
              a.doc.loc,
              `a step accepts at most ${MAX_ACCEPTED_DOCUMENTS} documents`,
              "split the documents over several steps",
            );
          const d: AcceptedDocument = { id };
          if (a.version !== undefined) d.version = this.plain(a.version, "a document version");
          if (a.title !== undefined) d.title = this.plain(a.title, "a document title");
          if (a.text !== undefined) {
            d.text = this.plain(a.text, "a document's text");
            if (d.text.trim() === "")
              s.error(Codes.emptyDocument, a.text.loc, "a document's text cannot be empty");
          }
          documents.push(d);
        }
        return { kind: "accept_documents", documents };
      }
      case "upload": {
        const kinds: string[] = [];
        for (const k of first.kinds) {
          if (kinds.includes(k.text)) s.warn(Codes.duplicateField, k.loc, `\`${k.text}\` is listed twice`);
          else kinds.push(k.text);
        }
        let minCount = 1;
        let maxCount = 10;
        let maxSizeBytes = 10 * 1024 * 1024;
        let contentTypes = DEFAULT_UPLOAD_TYPES;
        const seen = new Set<string>();
        for (const c of first.clauses) {
          if (seen.has(c.k)) s.error(Codes.duplicateSetting, c.loc, `\`${c.k}\` is given twice`);
          seen.add(c.k);
          if (c.k === "count") {
            minCount = c.min;
            maxCount = c.max ?? c.min;
            if (
              !Number.isInteger(c.min) ||
              !Number.isInteger(maxCount) ||
              maxCount < 1 ||
              minCount > maxCount
            )
              s.error(
                Codes.badUpload,
                c.loc,
                `invalid count: ${c.min} to ${maxCount}`,
                "write `count 1 to 3` (whole numbers, min ≤ max, max ≥ 1)",
              );
          } else if (c.k === "size") {
            maxSizeBytes = c.bytes;
            if (c.bytes <= 0) s.error(Codes.badUpload, c.loc, "the maximum size must be positive");
            else if (c.bytes > 100 * 1024 * 1024)
              s.warn(Codes.badUpload, c.loc, "uploads over 100 MB are likely to fail on a phone");
          } else {
            contentTypes = [];
            for (const t of c.types) {
              const v = this.plain(t, "a content type");
              if (!/^[a-z]+\/[a-z0-9.+*-]+$/i.test(v))
                s.error(
                  Codes.badUpload,
                  t.loc,
                  `"${v}" is not a content type`,
                  'write e.g. "application/pdf" or "image/*"',
                );
              else if (!contentTypes.includes(v)) contentTypes.push(v);
            }
          }
        }
        return { kind: "upload_documents", kinds, minCount, maxCount, maxSizeBytes, contentTypes };
      }
      case "verifyIdentity": {
        const methods: string[] = [];
        for (const m of first.methods) {
          if (!IDENTITY_METHODS.includes(m.text))
            s.error(
              Codes.unknownMethod,
              m.loc,
              `unknown identity check \`${m.text}\``,
              didYouMean(m.text, IDENTITY_METHODS) ?? `checks are ${IDENTITY_METHODS.join(", ")}`,
            );
          else if (!methods.includes(m.text)) methods.push(m.text);
        }
        if (first.methods.length === 0) methods.push("document");
        return { kind: "verify_identity", methods };
      }
      case "confirm":
        return this.confirm(first, step, scope, reasons, allowOther);
      case "decline":
        return undefined;
    }
  }

  private confirm(
    c: Extract<StepStmt, { k: "confirm" }>,
    step: StepNode,
    scope: Scope,
    reasons: string[],
    allowOther: boolean,
  ): StepAction | undefined {
    const s = this.sink;
    const amount = this.expr(c.amount, scope);
    if (amount !== undefined && amount.ty.t !== "money" && amount.ty.t !== "any") {
      s.error(
        Codes.typeMismatch,
        c.amount.loc,
        `the amount must be money, not ${show(amount.ty)}`,
        "write e.g. `input.amount` or `25.00 USD`",
      );
    }
    if (c.direction === "send" && c.preposition !== "to")
      s.error(
        Codes.syntax,
        c.account.loc,
        "money is sent `to` an account",
        `write \`confirm send … to ${c.account.text}\``,
      );
    if (c.direction === "request" && c.preposition !== "from")
      s.error(
        Codes.syntax,
        c.account.loc,
        "money is requested `from` an account",
        `write \`confirm request … from ${c.account.text}\``,
      );

    // The account must come from an earlier step that collected a financial account.
    const acc = this.steps.get(c.account.text);
    let accountKinds: FinancialAccountKind[] = [];
    if (acc === undefined) {
      s.error(
        Codes.unknownReference,
        c.account.loc,
        `unknown step \`${c.account.text}\``,
        didYouMean(c.account.text, this.stepsBeforeNames(scope.stepsBefore)) ??
          "name the step that collects the financial account",
      );
    } else if (acc.index >= scope.stepsBefore) {
      s.error(
        Codes.laterStep,
        c.account.loc,
        `step \`${c.account.text}\` comes ${acc.index === scope.stepsBefore ? "is this step" : "later"}`,
        "the account must be collected in an earlier step",
      );
    } else if (acc.ir !== undefined && acc.ir.action.kind !== "collect_financial_account") {
      s.error(
        Codes.notAnAccountStep,
        c.account.loc,
        `step \`${c.account.text}\` does not collect a financial account`,
        (() => {
          const fa = [...this.steps.values()].find(
            (x) => x.index < scope.stepsBefore && x.ir?.action.kind === "collect_financial_account",
          );
          return fa === undefined
            ? "add a step with `collect financial_account { … }` before this one"
            : `did you mean \`${fa.node.name.text}\`?`;
        })(),
      );
    } else if (acc.ir?.action.kind === "collect_financial_account") {
      accountKinds = acc.ir.action.accountKinds;
    }

    const methods: { method: TransactionMethod; when?: Expr }[] = [];
    const allowed: TransactionMethod[] =
      c.direction === "send" ? ["push_to_card", "ach_credit"] : ["ach_debit"];
    c.methods.forEach((m, i) => {
      const name = m.method.text;
      if (!(METHODS as string[]).includes(name)) {
        s.error(
          Codes.unknownMethod,
          m.method.loc,
          `unknown payment method \`${name}\``,
          didYouMean(name, METHODS) ?? `methods are ${METHODS.join(", ")}`,
        );
        return;
      }
      const method = name as TransactionMethod;
      if (!allowed.includes(method)) {
        s.error(
          Codes.methodNotAllowed,
          m.method.loc,
          `\`${method}\` cannot ${c.direction} money`,
          `to ${c.direction} money use ${allowed.join(" or ")}`,
        );
        return;
      }
      if (accountKinds.length > 0) {
        const needs: FinancialAccountKind[] = method === "push_to_card" ? ["debit_card"] : ["bank_account"];
        if (!accountKinds.some((k) => needs.includes(k)))
          s.error(
            Codes.methodNotAllowed,
            m.method.loc,
            `\`${method}\` needs a ${needs.join(" or ").replace("_", " ")}, but step \`${c.account.text}\` collects ${accountKinds.join(" or ")}`,
          );
      }
      const entry: { method: TransactionMethod; when?: Expr } = { method };
      const w = c.methods[i]?.when;
      if (w !== undefined) {
        const cond = this.condition(w, scope);
        if (cond !== undefined) entry.when = cond;
      }
      methods.push(entry);
    });
    if (c.methods.length === 0) {
      if (c.direction === "request") methods.push({ method: "ach_debit" });
      else if (accountKinds.includes("debit_card") && accountKinds.includes("bank_account"))
        methods.push(
          {
            method: "push_to_card",
            when: {
              k: "bin",
              op: "==",
              left: { k: "ref", path: [c.account.text, "kind"], type: "enum" },
              right: { k: "lit", type: "enum", value: "debit_card" },
              type: "boolean",
            },
          },
          { method: "ach_credit" },
        );
      else if (accountKinds.length > 0 && !accountKinds.includes("bank_account"))
        methods.push({ method: "push_to_card" });
      else methods.push({ method: "ach_credit" });
    }

    const action: StepAction = {
      kind: "confirm_transaction",
      direction: c.direction,
      amount: amount?.expr ?? { k: "lit", type: "money", value: null },
      account: c.account.text,
      methods,
      declineReasons: reasons,
      allowOtherReason: allowOther,
    };

    if (methods.some((m) => m.method === "ach_debit")) {
      const earlier = [...this.steps.values()].filter(
        (x) => x.index < scope.stepsBefore && x.ir?.action.kind === "accept_documents",
      );
      const docsOf = (x: StepInfo) =>
        x.ir?.action.kind === "accept_documents" ? x.ir.action.documents.map((d) => d.id) : [];
      const all = earlier.flatMap((x) => docsOf(x).map((id) => ({ id, step: x })));
      if (c.authorization !== undefined) {
        const id = this.plain(c.authorization, "a document id");
        const found = all.find((d) => d.id === id);
        if (found === undefined) {
          s.error(
            Codes.achWithoutAuthorization,
            c.authorization.loc,
            `the ACH debit authorization "${id}" is not accepted in an earlier step`,
            didYouMean(
              id,
              all.map((d) => d.id),
            ) ?? `add a step before \`${step.name.text}\` with \`accept "${id}"\``,
          );
        } else {
          action.authorizationDocument = id;
          if (found.step.node.when !== undefined)
            s.warn(
              Codes.achWithoutAuthorization,
              c.authorization.loc,
              `step \`${found.step.node.name.text}\` may be skipped, and with it the authorization`,
            );
        }
      } else {
        const guess = all.filter((d) => /auth|ach|debit|mandate/i.test(d.id));
        if (guess.length === 1) action.authorizationDocument = guess[0]!.id;
        else
          s.error(
            Codes.achWithoutAuthorization,
            c.loc,
            "an ACH debit needs the customer's authorization, accepted in an earlier step",
            guess.length > 1
              ? `say which one: \`authorized by "${guess[0]!.id}"\``
              : `add a step before \`${step.name.text}\` with \`accept "ach-debit-authorization" version "…"\` and write \`authorized by "ach-debit-authorization"\``,
          );
      }
    }
    return action;
  }

  private stepsBeforeNames(before: number): string[] {
    return [...this.steps.values()].filter((x) => x.index < before).map((x) => x.node.name.text);
  }

  // ---- handlers ----

  private handler(h: HandlerNode, seen: Map<string, Loc>): HandlerIR | undefined {
    const s = this.sink;
    const key = `${h.event}:${h.step?.text ?? ""}`;
    if (seen.has(key))
      s.warn(
        Codes.duplicateHandler,
        h.eventLoc,
        "a handler for this event is already defined; both will run",
      );
    seen.set(key, h.eventLoc);
    const ir: HandlerIR = { on: h.event, actions: [] };
    if (h.step !== undefined) {
      const st = this.steps.get(h.step.text);
      if (st === undefined)
        s.error(
          Codes.unknownReference,
          h.step.loc,
          `unknown step \`${h.step.text}\``,
          didYouMean(h.step.text, this.steps.keys()),
        );
      else ir.step = h.step.text;
    }
    if (
      h.event === "transaction_status_changed" &&
      ![...this.steps.values()].some((x) => x.ir?.action.kind === "confirm_transaction")
    ) {
      s.warn(Codes.notAvailableHere, h.eventLoc, "this handler never runs: no step confirms a transaction");
    }
    if (h.actions.length === 0) s.warn(Codes.emptyStep, h.eventLoc, "this handler does nothing");
    const scope: Scope = {
      stepsBefore: Number.POSITIVE_INFINITY,
      transaction: h.event === "transaction_status_changed",
      where: "a handler",
    };
    for (const a of h.actions) {
      const x = this.handlerAction(a, scope);
      if (x !== undefined) ir.actions.push(x);
    }
    return ir;
  }

  private handlerAction(a: ActionNode, scope: Scope): HandlerAction | undefined {
    switch (a.k) {
      case "text": {
        const m = this.message(a.message, scope);
        return m === undefined ? undefined : { kind: "text_customer", message: m };
      }
      case "email": {
        const m = this.message(a.message, scope);
        if (m === undefined) return undefined;
        const out: HandlerAction = { kind: "email_customer", message: m };
        if (a.subject !== undefined) {
          const sub = this.message(a.subject, scope);
          if (sub !== undefined) out.subject = sub;
        }
        return out;
      }
      case "notify":
        return { kind: "notify_business" };
      case "tag":
        if (!/^[A-Za-z0-9_:.-]+$/.test(a.tag)) {
          this.sink.error(
            Codes.badDefault,
            a.loc,
            `invalid tag "${a.tag}"`,
            "tags are letters, digits, `_`, `-`, `:` and `.`",
          );
          return undefined;
        }
        return { kind: "tag", tag: a.tag };
    }
  }

  private message(str: Str, scope: Scope): Expr | undefined {
    const parts: (string | Expr)[] = [];
    let ok = true;
    for (const p of str.parts) {
      if (typeof p === "string") parts.push(p);
      else {
        const e = this.expr(p, scope);
        if (e === undefined) ok = false;
        else parts.push(e.expr);
      }
    }
    return ok ? { k: "interp", parts, type: "text" } : undefined;
  }

  // ---- expressions ----

  private condition(e: AstExpr, scope: Scope): Expr | undefined {
    const r = this.expr(e, scope);
    if (r === undefined) return undefined;
    if (r.ty.t !== "boolean" && r.ty.t !== "any") {
      this.sink.error(
        Codes.notBoolean,
        e.loc,
        `a condition must be true or false, not ${show(r.ty)}`,
        r.ty.t === "money" ? "compare it, e.g. `input.amount > 0 USD`" : undefined,
      );
      return undefined;
    }
    return r.expr;
  }

  /** Types and lowers an expression; reports and returns undefined on errors. */
  expr(e: AstExpr, scope: Scope): { expr: Expr; ty: Ty } | undefined {
    const s = this.sink;
    switch (e.k) {
      case "num":
        return { expr: { k: "lit", type: "number", value: e.value }, ty: { t: "number" } };
      case "money": {
        const m = this.money(e);
        return m === undefined
          ? undefined
          : { expr: { k: "lit", type: "money", value: m }, ty: { t: "money", currency: m.currency } };
      }
      case "dur":
        return { expr: { k: "lit", type: "duration", value: e.ms }, ty: { t: "duration" } };
      case "bool":
        return { expr: { k: "lit", type: "boolean", value: e.value }, ty: { t: "boolean" } };
      case "str": {
        if (e.str.parts.every((p) => typeof p === "string")) {
          return { expr: { k: "lit", type: "text", value: e.str.parts.join("") }, ty: { t: "text" } };
        }
        const m = this.message(e.str, scope);
        return m === undefined ? undefined : { expr: m, ty: { t: "text" } };
      }
      case "ref":
        return this.ref(e, scope);
      case "not": {
        const x = this.expr(e.expr, scope);
        if (x === undefined) return undefined;
        if (x.ty.t !== "boolean") {
          s.error(Codes.typeMismatch, e.expr.loc, `\`not\` needs a condition, not ${show(x.ty)}`);
          return undefined;
        }
        return { expr: { k: "not", expr: x.expr, type: "boolean" }, ty: { t: "boolean" } };
      }
      case "neg": {
        const x = this.expr(e.expr, scope);
        if (x === undefined) return undefined;
        if (!["number", "money", "duration"].includes(x.ty.t)) {
          s.error(Codes.typeMismatch, e.loc, `cannot negate ${show(x.ty)}`);
          return undefined;
        }
        return { expr: { k: "neg", expr: x.expr, type: x.ty.t as ValueType }, ty: x.ty };
      }
      case "in": {
        const x = this.expr(e.expr, scope);
        const items = e.list.map((i) => ({ node: i, r: this.expr(i, scope) }));
        if (x === undefined || items.some((i) => i.r === undefined)) return undefined;
        for (const i of items) if (!this.comparable(x.ty, i.r!.ty, i.node.loc, e.expr.loc)) return undefined;
        const inner: Expr = { k: "in", expr: x.expr, list: items.map((i) => i.r!.expr), type: "boolean" };
        return { expr: e.negated ? { k: "not", expr: inner, type: "boolean" } : inner, ty: { t: "boolean" } };
      }
      case "bin": {
        const l = this.expr(e.left, scope);
        const r = this.expr(e.right, scope);
        if (l === undefined || r === undefined) return undefined;
        const bin = (type: ValueType, ty: Ty = { t: type }) => ({
          expr: { k: "bin" as const, op: e.op, left: l.expr, right: r.expr, type },
          ty,
        });
        switch (e.op) {
          case "and":
          case "or":
            for (const [side, x] of [
              [e.left, l],
              [e.right, r],
            ] as const) {
              if (x.ty.t !== "boolean") {
                s.error(
                  Codes.typeMismatch,
                  side.loc,
                  `\`${e.op}\` joins conditions, but this is ${show(x.ty)}`,
                );
                return undefined;
              }
            }
            return bin("boolean");
          case "==":
          case "!=":
            return this.comparable(l.ty, r.ty, e.right.loc, e.left.loc) ? bin("boolean") : undefined;
          case "<":
          case "<=":
          case ">":
          case ">=": {
            const ordered = ["number", "money", "date", "duration"];
            if (!ordered.includes(l.ty.t) || l.ty.symbol !== undefined) {
              s.error(
                Codes.typeMismatch,
                e.left.loc,
                `\`${e.op}\` compares numbers, money, dates or durations, not ${show(l.ty)}`,
              );
              return undefined;
            }
            return this.comparable(l.ty, r.ty, e.right.loc, e.left.loc) ? bin("boolean") : undefined;
          }
          case "+":
          case "-": {
            if (l.ty.t === "number" && r.ty.t === "number") return bin("number");
            if (l.ty.t === "duration" && r.ty.t === "duration") return bin("duration");
            if (l.ty.t === "money" && r.ty.t === "money") {
              if (!this.sameCurrency(l.ty, r.ty, e.loc)) return undefined;
              return bin("money", { t: "money", currency: l.ty.currency ?? r.ty.currency });
            }
            s.error(
              Codes.typeMismatch,
              e.loc,
              `cannot ${e.op === "+" ? "add" : "subtract"} ${show(r.ty)} ${e.op === "+" ? "to" : "from"} ${show(l.ty)}`,
              l.ty.t === "text" || r.ty.t === "text" ? 'build text with interpolation: "{a} {b}"' : undefined,
            );
            return undefined;
          }
          case "*":
          case "/": {
            if (l.ty.t === "number" && r.ty.t === "number") return bin("number");
            if (l.ty.t === "money" && r.ty.t === "number") return bin("money", l.ty);
            if (e.op === "*" && l.ty.t === "number" && r.ty.t === "money") return bin("money", r.ty);
            s.error(
              Codes.typeMismatch,
              e.loc,
              `cannot ${e.op === "*" ? "multiply" : "divide"} ${show(l.ty)} by ${show(r.ty)}`,
              l.ty.t === "money" && r.ty.t === "money"
                ? "money can be multiplied or divided by a number only"
                : undefined,
            );
            return undefined;
          }
        }
      }
    }
  }

  private sameCurrency(a: Ty, b: Ty, loc: Loc): boolean {
    if (a.currency !== undefined && b.currency !== undefined && a.currency !== b.currency) {
      this.sink.error(
        Codes.currencyMismatch,
        loc,
        `currency mismatch: ${a.currency} and ${b.currency}`,
        "arithmetic and comparisons work on money of one currency",
      );
      return false;
    }
    return true;
  }

  /** Can values of these types be compared with `==`, `in` or ordering? */
  private comparable(a: Ty, b: Ty, loc: Loc, otherLoc: Loc): boolean {
    const s = this.sink;
    // A bare word against an enum: check membership.
    const sym =
      a.symbol !== undefined
        ? { sym: a, other: b, loc: otherLoc }
        : b.symbol !== undefined
          ? { sym: b, other: a, loc }
          : undefined;
    if (sym !== undefined) {
      const word = sym.sym.symbol!;
      if (sym.other.symbol !== undefined) {
        s.error(
          Codes.typeMismatch,
          loc,
          `comparing two bare words (\`${word}\`, \`${sym.other.symbol}\`) is always the same`,
        );
        return false;
      }
      if (sym.other.t === "enum" && sym.other.values !== undefined && !sym.other.values.includes(word)) {
        s.error(
          Codes.unknownSymbol,
          sym.loc,
          `\`${word}\` is not one of ${sym.other.values.join(", ") || "(no values)"}`,
          didYouMean(word, sym.other.values),
        );
        return false;
      }
      if (!STRINGISH.has(sym.other.t)) {
        s.error(
          Codes.typeMismatch,
          sym.loc,
          `cannot compare ${show(sym.other)} with the word \`${word}\``,
          this.refHint(word),
        );
        return false;
      }
      return true;
    }
    if (a.t === "money" && b.t === "money") return this.sameCurrency(a, b, loc);
    if (a.t === b.t || (STRINGISH.has(a.t) && STRINGISH.has(b.t))) return true;
    s.error(
      Codes.typeMismatch,
      loc,
      `cannot compare ${show(a)} with ${show(b)}`,
      a.t === "money" && b.t === "number" ? "write the amount with its currency, e.g. `0 USD`" : undefined,
    );
    return false;
  }

  private refHint(word: string): string | undefined {
    const candidates = ["input", ...this.steps.keys(), ...[...this.inputs.keys()].map((k) => `input.${k}`)];
    return didYouMean(word, candidates);
  }

  private ref(e: Extract<AstExpr, { k: "ref" }>, scope: Scope): { expr: Expr; ty: Ty } | undefined {
    const s = this.sink;
    const [head, field, ...rest] = e.path;
    if (head === undefined) return undefined;
    const full = e.path.map((p) => p.text).join(".");
    const roots = [
      "input",
      ...(scope.transaction ? ["transaction"] : []),
      ...this.stepsBeforeNames(scope.stepsBefore),
    ];
    if (field === undefined) {
      if (head.text === "input" || head.text === "transaction" || this.steps.has(head.text)) {
        s.error(
          Codes.unknownReference,
          e.loc,
          `\`${head.text}\` needs a field`,
          head.text === "input"
            ? `e.g. \`input.${[...this.inputs.keys()][0] ?? "amount"}\``
            : `e.g. \`${head.text}.${[...(this.steps.get(head.text)?.fields.keys() ?? ["status"])][0]}\``,
        );
        return undefined;
      }
      // A bare word: a symbol such as `debit_card`, checked where it is compared.
      return { expr: { k: "lit", type: "enum", value: head.text }, ty: { t: "enum", symbol: head.text } };
    }
    if (rest.length > 0) {
      s.error(Codes.unknownReference, rest[0]!.loc, `\`${head.text}.${field.text}\` has no fields`);
      return undefined;
    }
    let ty: Ty | undefined;
    let fields: Map<string, Ty> | undefined;
    if (head.text === "input") {
      const inp = this.inputs.get(field.text);
      if (inp === undefined) {
        s.error(
          Codes.unknownReference,
          field.loc,
          `unknown input \`${field.text}\``,
          didYouMean(field.text, this.inputs.keys()) ??
            (this.inputs.size === 0
              ? `declare it: \`input ${field.text}: text\``
              : `inputs are ${[...this.inputs.keys()].join(", ")}`),
        );
        return undefined;
      }
      const d = inp.decl;
      ty = { t: d.type };
      if (d.currency !== undefined) ty.currency = d.currency;
      if (d.values !== undefined) ty.values = d.values;
    } else if (head.text === "transaction") {
      if (!scope.transaction) {
        s.error(
          Codes.notAvailableHere,
          head.loc,
          "`transaction` is only available in `on transaction status changed`",
          [...this.steps.values()].find((x) => x.ir?.action.kind === "confirm_transaction")
            ? `use the confirm step's result, e.g. \`${[...this.steps.values()].find((x) => x.ir?.action.kind === "confirm_transaction")!.node.name.text}.status\``
            : undefined,
        );
        return undefined;
      }
      fields = TRANSACTION_FIELDS;
    } else {
      const st = this.steps.get(head.text);
      if (st === undefined) {
        s.error(
          Codes.unknownReference,
          head.loc,
          `unknown name \`${head.text}\` in \`${full}\``,
          didYouMean(head.text, [...roots, ...this.steps.keys()]) ??
            `you can refer to ${roots.map((r) => `\`${r}.…\``).join(", ")}`,
        );
        return undefined;
      }
      if (scope.stepsHiddenReason !== undefined) {
        s.error(
          Codes.notAvailableHere,
          head.loc,
          `\`${full}\` is not available in ${scope.where}`,
          scope.stepsHiddenReason,
        );
        return undefined;
      }
      if (st.index >= scope.stepsBefore) {
        s.error(
          Codes.laterStep,
          head.loc,
          `${scope.where} refers to step \`${head.text}\`, which ${st.index === scope.stepsBefore ? "has not completed yet (it is this step)" : "comes later"}`,
          "a step can only use the results of earlier steps",
        );
        return undefined;
      }
      if (st.ir === undefined)
        return { expr: { k: "ref", path: [head.text, field.text], type: "text" }, ty: { t: "any" } };
      fields = st.fields;
    }
    if (fields !== undefined) {
      ty = fields.get(field.text);
      if (ty === undefined) {
        s.error(
          Codes.unknownReference,
          field.loc,
          `\`${head.text}\` has no field \`${field.text}\``,
          didYouMean(field.text, fields.keys()) ?? `fields: ${[...fields.keys()].join(", ")}`,
        );
        return undefined;
      }
    }
    if (ty === undefined) return undefined;
    return { expr: { k: "ref", path: [head.text, field.text], type: ty.t === "any" ? "text" : ty.t }, ty };
  }
}

/** The value of an expression made only of literals, if it has one. */
function constantValue(e: Expr): LiteralValue | undefined {
  try {
    const v = evaluate(e, {});
    return Array.isArray(v) ? undefined : v;
  } catch {
    return undefined;
  }
}

export type { Scope };
export const _internal = { resultFields };
export function describeLoc(loc: Loc): string {
  return `${loc.start}..${loc.end}`;
}
