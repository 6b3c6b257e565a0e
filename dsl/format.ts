/**
 * The canonical printer. Works from the AST, so it never changes meaning;
 * comments are kept: a comment on its own line stays before the statement that
 * follows it, a comment at the end of a line stays at the end of that line.
 */
import type { IToken } from "chevrotain";
import type {
  ActionNode,
  AstExpr,
  HandlerNode,
  LinkStmt,
  Loc,
  StepNode,
  StepStmt,
  TemplateAst,
  TopNode,
} from "./ast.ts";
import { canonicalDuration } from "./syntax.ts";

const INDENT = "  ";
const MAX_LINE = 100;

const PREC: Record<string, number> = {
  or: 1,
  and: 2,
  "==": 4,
  "!=": 4,
  "<": 4,
  "<=": 4,
  ">": 4,
  ">=": 4,
  "+": 5,
  "-": 5,
  "*": 6,
  "/": 6,
};

function prec(e: AstExpr): number {
  switch (e.k) {
    case "bin":
      return PREC[e.op] ?? 8;
    case "not":
      return 3;
    case "in":
      return 4;
    case "neg":
      return 7;
    default:
      return 8;
  }
}

/** Prints an expression with the fewest parentheses that keep its meaning. */
export function printExpr(e: AstExpr, min = 0): string {
  let s: string;
  switch (e.k) {
    case "num":
      s = e.raw;
      break;
    case "money":
      s = `${e.amount} ${e.currency}`;
      break;
    case "dur":
      s = canonicalDuration(e.raw.replace(/\s+/g, " "));
      break;
    case "str":
      s = e.str.raw;
      break;
    case "bool":
      s = String(e.value);
      break;
    case "ref":
      s = e.path.map((p) => p.text).join(".");
      break;
    case "not":
      s = `not ${printExpr(e.expr, 3)}`;
      break;
    case "neg":
      s = `-${printExpr(e.expr, 7)}`;
      break;
    case "in":
      s = `${printExpr(e.expr, 5)} ${e.negated ? "not in" : "in"} (${e.list.map((x) => printExpr(x, 5)).join(", ")})`;
      break;
    case "bin": {
      const p = PREC[e.op] ?? 8;
      const cmp = p === 4;
      s = `${printExpr(e.left, cmp ? p + 1 : p)} ${e.op} ${printExpr(e.right, p + 1)}`;
      break;
    }
  }
  return prec(e) < min ? `(${s})` : s;
}

function printLinkStmt(st: LinkStmt): string {
  const d = (raw: string) => canonicalDuration(raw.replace(/\s+/g, " "));
  switch (st.k) {
    case "send":
      return `send via ${st.channels.map((c) => c.text).join(" and ")}`;
    case "expires":
      return `expires in ${d(st.raw)}`;
    case "every":
      return `remind every ${d(st.raw)}`;
    case "before":
      return `remind ${st.items.map((i) => d(i.raw)).join(", ")} before expiry`;
    case "maxCount":
      return `remind at most ${st.raw} times`;
    case "verify":
      return "verify with one-time code";
    case "singleUse":
      return st.value ? "single use" : "reusable";
  }
}

/** One statement of a step, as lines (the first unindented, continuations indented once). */
function printStepStmt(st: StepStmt): string[] {
  switch (st.k) {
    case "collectProfile":
      return [
        `collect ${st.profile} { ${st.groups
          .map((g) => `${g.fields.map((f) => f.text).join(", ")} ${g.required ? "required" : "optional"}`)
          .join("; ")} }`,
      ];
    case "collectAccount":
      return [
        `collect financial_account { ${st.clauses
          .map(
            (c) =>
              `${c.via ? "via " : ""}${c.choices
                .map((ch) =>
                  ch.args.length > 0
                    ? `${ch.name.text}(${ch.args.map((a) => a.text).join(", ")})`
                    : ch.name.text,
                )
                .join(" or ")}`,
          )
          .join("; ")} }`,
      ];
    case "lookup":
      return [`lookup customer by ${st.by.map((b) => b.text).join(" or ")}`];
    case "accept":
      return [
        `accept ${st.doc.raw}${st.version ? ` version ${st.version.raw}` : ""}${st.title ? ` titled ${st.title.raw}` : ""}${st.text ? ` reading ${st.text.raw}` : ""}`,
      ];
    case "upload": {
      const kinds = st.kinds.map((k) => k.text).join(", ");
      if (st.clauses.length === 0) return [`upload ${kinds}`];
      const clauses = st.clauses.map((c) =>
        c.k === "count"
          ? `count ${c.min}${c.max !== undefined ? ` to ${c.max}` : ""}`
          : c.k === "size"
            ? `max size ${c.raw.replace(/\s*([KMG]B)$/, " $1")}`
            : `types ${c.types.map((t) => t.raw).join(", ")}`,
      );
      return [`upload ${kinds} { ${clauses.join("; ")} }`];
    }
    case "verifyIdentity":
      return [
        `verify identity${st.methods.length > 0 ? ` using ${st.methods.map((m) => m.text).join(", ")}` : ""}`,
      ];
    case "confirm": {
      const lines = [`confirm ${st.direction} ${printExpr(st.amount)} ${st.preposition} ${st.account.text}`];
      if (st.methods.length > 0) {
        const parts = st.methods.map(
          (m, i) =>
            `${i === 0 ? "" : "otherwise "}${m.method.text}${m.when ? ` when ${printExpr(m.when)}` : ""}`,
        );
        lines.push(`${INDENT}method ${parts.join(" ")}`);
      }
      if (st.authorization !== undefined) lines.push(`${INDENT}authorized by ${st.authorization.raw}`);
      return lines;
    }
    case "decline":
      return [`decline reasons ${st.reasons.map((r) => ("other" in r ? "other" : r.raw)).join(", ")}`];
  }
}

function printAction(a: ActionNode): string {
  switch (a.k) {
    case "text":
      return `text customer ${a.message.raw}`;
    case "email":
      return `email customer ${a.message.raw}${a.subject ? ` subject ${a.subject.raw}` : ""}`;
    case "notify":
      return "notify business";
    case "tag":
      return a.quoted ? `tag ${JSON.stringify(a.tag)}` : `tag ${a.tag}`;
  }
}

function printEvent(h: HandlerNode): string {
  switch (h.event) {
    case "transaction_status_changed":
      return "transaction status changed";
    case "step_completed":
      return h.step ? `step ${h.step.text} completed` : "step completed";
    default:
      return h.event;
  }
}

class Printer {
  readonly out: string[] = [];
  private ci = 0;
  constructor(
    private readonly comments: IToken[],
    private readonly source: string,
  ) {}

  private text(c: IToken): string {
    return c.image.replace(/\s+$/, "");
  }

  /** Emits, on their own lines, all comments that start before `offset`. */
  leading(offset: number, indent: string): void {
    while (this.ci < this.comments.length && this.comments[this.ci]!.startOffset < offset) {
      this.out.push(indent + this.text(this.comments[this.ci]!));
      this.ci++;
    }
  }

  /** Appends a comment found on the same source line right after `offset` to the last printed line. */
  trailing(offset: number): void {
    const c = this.comments[this.ci];
    if (c === undefined || c.startOffset < offset) return;
    const between = this.source.slice(offset, c.startOffset);
    if (/^[ \t;{}]*$/.test(between)) {
      this.out[this.out.length - 1] += `  ${this.text(c)}`;
      this.ci++;
    }
  }

  hasCommentIn(loc: Loc): boolean {
    const c = this.comments[this.ci];
    return c !== undefined && c.startOffset < loc.end;
  }

  line(s: string): void {
    this.out.push(s);
  }

  rest(): void {
    this.leading(Number.POSITIVE_INFINITY, "");
  }

  /** Offset just after the `{` that opens a block, searching from `from`, skipping comments. */
  braceAfter(from: number): number {
    let i = from;
    while (i < this.source.length) {
      const ch = this.source[i];
      if (ch === "{") return i + 1;
      if (ch === "#") {
        while (i < this.source.length && this.source[i] !== "\n") i++;
      } else i++;
    }
    return from;
  }
}

function group(n: TopNode): string {
  return n.kind;
}

export function formatAst(ast: TemplateAst, comments: IToken[], source: string): string {
  const p = new Printer(
    [...comments].sort((a, b) => a.startOffset - b.startOffset),
    source,
  );
  let prev: TopNode | undefined;
  for (const item of ast.items) {
    const tight =
      prev !== undefined &&
      group(prev) === group(item) &&
      (item.kind === "input" ||
        item.kind === "rule" ||
        (item.kind === "handler" && !isBlockHandler(p, prev)));
    if (prev !== undefined && !tight) p.line("");
    printTop(p, item);
    prev = item;
  }
  p.rest();
  return `${p.out.join("\n").replace(/\n{3,}/g, "\n\n")}\n`;
}

function isBlockHandler(p: Printer, n: TopNode): boolean {
  return n.kind === "handler" && (p.out.at(-1) ?? "") === "}";
}

function printTop(p: Printer, n: TopNode): void {
  switch (n.kind) {
    case "header":
      p.leading(n.loc.end, "");
      p.line(`template ${n.name.text} ${n.title.raw} version ${n.version.raw}`);
      p.trailing(n.loc.end);
      return;
    case "input": {
      p.leading(n.loc.end, "");
      const args = n.typeArgs.length > 0 ? `(${n.typeArgs.map((a) => a.text).join(", ")})` : "";
      p.line(
        `input ${n.name.text}: ${n.type.text}${args}${n.optional ? " optional" : ""}${
          n.default ? ` default ${printExpr(n.default)}` : ""
        }${n.description ? ` ${n.description.raw}` : ""}`,
      );
      p.trailing(n.loc.end);
      return;
    }
    case "rule":
      p.leading(n.loc.end, "");
      p.line(`rule ${n.name.raw}: require ${printExpr(n.require)} else reject ${n.message.raw}`);
      p.trailing(n.loc.end);
      return;
    case "link": {
      const open = p.braceAfter(n.loc.start);
      p.leading(open, "");
      p.line("link {");
      p.trailing(open);
      for (const st of n.stmts) {
        p.leading(st.loc.end, INDENT);
        p.line(INDENT + printLinkStmt(st));
        p.trailing(st.loc.end);
      }
      closeBlock(p, n.loc);
      return;
    }
    case "step":
      printStep(p, n);
      return;
    case "handler":
      printHandler(p, n);
      return;
  }
}

function closeBlock(p: Printer, loc: Loc): void {
  p.leading(loc.end - 1, INDENT);
  p.line("}");
  p.trailing(loc.end);
}

function printStep(p: Printer, n: StepNode): void {
  const headEnd = Math.max(n.title.loc.end, n.when?.loc.end ?? 0);
  const open = p.braceAfter(headEnd);
  p.leading(open, "");
  p.line(`step ${n.name.text} ${n.title.raw}${n.when ? ` when ${printExpr(n.when)}` : ""} {`);
  p.trailing(open);
  for (const st of n.body) {
    p.leading(st.loc.end, INDENT);
    for (const l of printStepStmt(st)) p.line(INDENT + l);
    p.trailing(st.loc.end);
  }
  closeBlock(p, n.loc);
}

function printHandler(p: Printer, n: HandlerNode): void {
  const head = `on ${printEvent(n)}`;
  const open = p.braceAfter(n.eventLoc.end);
  p.leading(open, "");
  const actions = n.actions.map(printAction);
  const oneLine = actions.length === 0 ? `${head} {}` : `${head} { ${actions.join("; ")} }`;
  if (oneLine.length <= MAX_LINE && !p.hasCommentIn({ start: open, end: n.loc.end - 1 })) {
    p.line(oneLine);
    p.trailing(n.loc.end);
    return;
  }
  p.line(`${head} {`);
  p.trailing(open);
  n.actions.forEach((a, i) => {
    p.leading(a.loc.end, INDENT);
    p.line(INDENT + actions[i]!);
    p.trailing(a.loc.end);
  });
  closeBlock(p, n.loc);
}
