/**
 * Source text → typed AST: lexing, parsing (with error recovery) and the CST
 * visitor. Lexing and parsing errors become diagnostics, never exceptions.
 */
import type { CstElement, CstNode, IRecognitionException, IToken } from "chevrotain";
import type {
  ActionNode,
  AstExpr,
  BinOp,
  Choice,
  HandlerNode,
  HeaderNode,
  InputNode,
  LinkNode,
  LinkStmt,
  Loc,
  Name,
  RuleNode,
  StepNode,
  StepStmt,
  Str,
  TemplateAst,
  TopNode,
} from "./ast.ts";
import { Codes, type DiagnosticSink } from "./diagnostics.ts";
import * as T from "./lexer.ts";
import { parser } from "./parser.ts";

type Ctx = Record<string, CstElement[] | undefined>;

const isToken = (e: CstElement | undefined): e is IToken => e !== undefined && "image" in e;

function toks(ctx: Ctx, key: string): IToken[] {
  return (ctx[key] ?? []).filter(isToken).sort((a, b) => a.startOffset - b.startOffset);
}
function tok(ctx: Ctx, key: string, i = 0): IToken | undefined {
  return toks(ctx, key)[i];
}
function nodes(ctx: Ctx, key: string): CstNode[] {
  return (ctx[key] ?? []).filter((e): e is CstNode => !isToken(e));
}
function node(ctx: Ctx, key: string, i = 0): CstNode | undefined {
  return nodes(ctx, key)[i];
}
function tokLoc(t: IToken | undefined): Loc {
  if (t === undefined || !Number.isFinite(t.startOffset)) return { start: 0, end: 0 };
  return { start: t.startOffset, end: t.startOffset + t.image.length };
}
function nodeLoc(n: CstNode | undefined): Loc {
  const l = n?.location;
  if (l === undefined || !Number.isFinite(l.startOffset)) return { start: 0, end: 0 };
  const end = Number.isFinite(l.endOffset) ? (l.endOffset as number) + 1 : l.startOffset;
  return { start: l.startOffset, end };
}
function name(t: IToken | undefined): Name {
  return { text: t?.image ?? "", loc: tokLoc(t) };
}

const UNIT_MS: Record<string, number> = {
  week: 7 * 86_400_000,
  day: 86_400_000,
  hour: 3_600_000,
  minute: 60_000,
  second: 1000,
};

export function durationMs(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+?)s?$/.exec(raw);
  if (m === null) return 0;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2]!] ?? 0));
}

/** Canonical spelling of a duration literal: `7 days`, `1 day`. */
export function canonicalDuration(raw: string): string {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+?)s?$/.exec(raw);
  if (m === null) return raw;
  const n = m[1]!;
  return `${n} ${m[2]}${n === "1" ? "" : "s"}`;
}

const SIZE: Record<string, number> = { KB: 1024, MB: 1024 * 1024, GB: 1024 * 1024 * 1024 };
export function sizeBytes(raw: string): number {
  const m = /^(\d+)\s*([KMG]B)$/.exec(raw);
  return m === null ? 0 : Number(m[1]) * (SIZE[m[2]!] ?? 1);
}

export interface ParseResult {
  ast?: TemplateAst;
  comments: IToken[];
}

function reportLexErrors(
  source: string,
  base: number,
  errors: { offset: number; length: number }[],
  sink: DiagnosticSink,
): void {
  for (const e of errors) {
    const ch = source.slice(e.offset, e.offset + Math.max(1, Math.min(e.length, 1)));
    sink.error(
      Codes.unexpectedCharacter,
      { start: base + e.offset, end: base + e.offset + Math.max(1, e.length) },
      `unexpected character \`${ch}\``,
      ch === "'" ? 'strings use double quotes: "…"' : undefined,
    );
  }
}

const TOKEN_LABELS: Record<string, string> = {
  Identifier: "a name",
  StringLit: "a string",
  NumberLit: "a number",
  MoneyLit: "an amount like `250.00 USD`",
  DurationLit: "a duration like `7 days`",
  SizeLit: "a size like `10 MB`",
  LBrace: "`{`",
  RBrace: "`}`",
  LParen: "`(`",
  RParen: "`)`",
  Comma: "`,`",
  Semicolon: "`;`",
  Colon: "`:`",
  Dot: "`.`",
};

function describe(t: IToken): string {
  if (t.tokenType.name === "EOF") return "end of file";
  return `\`${t.image}\``;
}

function expectedOf(e: IRecognitionException): string | undefined {
  // Chevrotain's messages list token sequences; reduce them to readable names.
  const names = new Set<string>();
  for (const m of e.message.matchAll(/\[([A-Za-z]+)\]|--> ([A-Za-z]+) <--/g)) {
    const n = m[1] ?? m[2];
    if (n !== undefined) names.add(n);
  }
  if (names.size === 0) return undefined;
  const readable = [...names].map((n) => TOKEN_LABELS[n] ?? `\`${keywordOf(n)}\``);
  return readable.length > 6 ? `${readable.slice(0, 6).join(", ")}, …` : readable.join(", ");
}

function keywordOf(tokenName: string): string {
  const t = T.allTokens.find((x) => x.name === tokenName);
  const src = t === undefined ? "" : String(t.PATTERN);
  const m = /^\/([a-z_-]+)/.exec(src);
  return m?.[1] ?? tokenName.toLowerCase();
}

function reportParseErrors(
  errors: IRecognitionException[],
  sourceLength: number,
  sink: DiagnosticSink,
): void {
  const seen = new Set<number>();
  for (const e of errors) {
    let t = e.token;
    // Recovery may report on an inserted token or EOF (NaN offsets): use the previous real token.
    if (!Number.isFinite(t.startOffset)) {
      const prev = (e as { previousToken?: IToken }).previousToken;
      t = prev !== undefined && Number.isFinite(prev.startOffset) ? prev : t;
    }
    const start = Number.isFinite(t.startOffset) ? t.startOffset : sourceLength;
    if (seen.has(start)) continue;
    seen.add(start);
    const end = Number.isFinite(t.startOffset) ? start + Math.max(1, t.image.length) : start;
    const expected = expectedOf(e);
    const found = t === e.token ? describe(e.token) : "end of file";
    const message = expected === undefined ? `unexpected ${found}` : `expected ${expected}, found ${found}`;
    let hint: string | undefined;
    if (T.reservedWords.has(e.token.image))
      hint = `\`${e.token.image}\` is a reserved word; choose another name`;
    else if (e.name === "NotAllInputParsedException")
      hint = "a template is made of `template`, `input`, `link`, `step`, `rule` and `on` declarations";
    sink.error(Codes.syntax, { start, end }, message, hint);
  }
}

/** Lexes and parses a whole template. Returns no AST when there are syntax errors. */
export function parseSource(source: string, sink: DiagnosticSink): ParseResult {
  const lexed = T.lexer.tokenize(source);
  reportLexErrors(source, 0, lexed.errors, sink);
  const tokens: IToken[] = [];
  for (const t of lexed.tokens) {
    if (t.tokenType === T.UnterminatedString) {
      sink.error(
        Codes.unterminatedString,
        tokLoc(t),
        "unterminated string",
        'close it with `"` on the same line',
      );
    } else tokens.push(t);
  }
  const comments = (lexed.groups.comments ?? []) as IToken[];
  parser.input = tokens;
  const cst = parser.file();
  reportParseErrors(parser.errors, source.length, sink);
  if (sink.hasErrors) return { comments };
  const v = new AstBuilder(sink);
  const ast = v.visit(cst) as TemplateAst;
  return { ast, comments };
}

/** Parses one interpolated `{expression}` found inside a string at offset `base`. */
function parseEmbedded(text: string, base: number, sink: DiagnosticSink): AstExpr | undefined {
  const lexed = T.lexer.tokenize(text);
  const before = sink.list.length;
  reportLexErrors(text, base, lexed.errors, sink);
  const tokens = lexed.tokens.filter((t) => t.tokenType !== T.UnterminatedString);
  if (tokens.length !== lexed.tokens.length)
    sink.error(
      Codes.badInterpolation,
      { start: base, end: base + text.length },
      "strings cannot nest inside `{…}`",
    );
  if (tokens.length === 0) {
    sink.error(
      Codes.badInterpolation,
      { start: base - 1, end: base + text.length + 1 },
      "empty `{}` in a string",
      "write `\\{` for a literal brace",
    );
    return undefined;
  }
  // Shift offsets so that diagnostics point into the template.
  for (const t of tokens) {
    t.startOffset += base;
    t.endOffset = (t.endOffset ?? t.startOffset) + base;
  }
  parser.input = tokens;
  const cst = parser.expression();
  for (const e of parser.errors) {
    const t = e.token;
    const start = Number.isFinite(t.startOffset) ? t.startOffset : base + text.length;
    sink.error(
      Codes.badInterpolation,
      { start, end: start + Math.max(1, t.image?.length ?? 1) },
      `invalid expression in \`{…}\`: ${e.message.split("\n")[0]}`,
    );
  }
  if (sink.list.length > before) return undefined;
  return new AstBuilder(sink).visit(cst) as AstExpr;
}

/** Decodes a string literal token into text and interpolation parts. */
export function decodeString(t: IToken | undefined, sink: DiagnosticSink): Str {
  const raw = t?.image ?? '""';
  const loc = tokLoc(t);
  const parts: (string | AstExpr)[] = [];
  let buf = "";
  const body = raw.slice(1, -1);
  const base = loc.start + 1;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "\\") {
      const n = body[i + 1] ?? "";
      buf += n === "n" ? "\n" : n === "t" ? "\t" : n;
      i++;
    } else if (c === "{") {
      const close = body.indexOf("}", i + 1);
      if (close < 0) {
        sink.error(
          Codes.badInterpolation,
          { start: base + i, end: base + i + 1 },
          "unclosed `{` in a string",
          "write `\\{` for a literal brace",
        );
        buf += body.slice(i);
        break;
      }
      if (buf !== "") parts.push(buf);
      buf = "";
      const e = parseEmbedded(body.slice(i + 1, close), base + i + 1, sink);
      if (e !== undefined) parts.push(e);
      i = close;
    } else if (c === "}") {
      sink.error(
        Codes.badInterpolation,
        { start: base + i, end: base + i + 1 },
        "unmatched `}` in a string",
        "write `\\}` for a literal brace",
      );
      buf += c;
    } else buf += c;
  }
  if (buf !== "" || parts.length === 0) parts.push(buf);
  return { parts, raw, loc };
}

const BaseVisitor = parser.getBaseCstVisitorConstructor();

/** The CST → AST visitor. */
class AstBuilder extends BaseVisitor {
  constructor(private readonly sink: DiagnosticSink) {
    super();
    this.validateVisitor();
  }

  private str(t: IToken | undefined): Str {
    return decodeString(t, this.sink);
  }

  file(ctx: Ctx): TemplateAst {
    const items: TopNode[] = [];
    for (const key of ["header", "inputDecl", "linkBlock", "stepDecl", "ruleDecl", "handlerDecl"]) {
      for (const n of nodes(ctx, key)) items.push(this.visit(n) as TopNode);
    }
    items.sort((a, b) => a.loc.start - b.loc.start);
    return { items };
  }

  header(ctx: Ctx, loc: Loc): HeaderNode {
    const v = tok(ctx, "NumberLit");
    const value = Number(v?.image ?? "0");
    if (!Number.isInteger(value) || value < 1)
      this.sink.error(Codes.badNumber, tokLoc(v), "the version must be a whole number ≥ 1");
    return {
      kind: "header",
      name: name(tok(ctx, "Identifier")),
      title: this.str(tok(ctx, "StringLit")),
      version: { value, raw: v?.image ?? "", loc: tokLoc(v) },
      loc,
    };
  }

  inputDecl(ctx: Ctx, loc: Loc): InputNode {
    const n: InputNode = {
      kind: "input",
      name: name(tok(ctx, "Identifier")),
      type: name(tok(ctx, "type")),
      typeArgs: this.names(node(ctx, "typeArgs")),
      optional: tok(ctx, "Optional") !== undefined,
      loc,
    };
    const d = node(ctx, "default");
    if (d !== undefined) n.default = this.visit(d) as AstExpr;
    const desc = tok(ctx, "description");
    if (desc !== undefined) n.description = this.str(desc);
    return n;
  }

  private names(n: CstNode | undefined): Name[] {
    if (n === undefined) return [];
    return toks(n.children as Ctx, "Identifier").map(name);
  }

  identList(ctx: Ctx): Name[] {
    return toks(ctx, "Identifier").map(name);
  }

  linkBlock(ctx: Ctx, loc: Loc): LinkNode {
    return { kind: "link", stmts: nodes(ctx, "linkStmt").map((n) => this.visit(n) as LinkStmt), loc };
  }

  linkStmt(ctx: Ctx, loc: Loc): LinkStmt {
    if (tok(ctx, "Send") !== undefined) return { k: "send", channels: toks(ctx, "channel").map(name), loc };
    const dur = (t: IToken | undefined) => ({
      ms: durationMs(t?.image ?? ""),
      raw: t?.image ?? "",
      loc: tokLoc(t),
    });
    if (tok(ctx, "Expires") !== undefined) return { k: "expires", ...dur(tok(ctx, "expires")), loc };
    if (tok(ctx, "every") !== undefined) return { k: "every", ...dur(tok(ctx, "every")), loc };
    if (tok(ctx, "Before") !== undefined) return { k: "before", items: toks(ctx, "before").map(dur), loc };
    if (tok(ctx, "maxCount") !== undefined) {
      const t = tok(ctx, "maxCount");
      return { k: "maxCount", value: Number(t?.image), raw: t?.image ?? "", loc };
    }
    if (tok(ctx, "Verify") !== undefined) return { k: "verify", loc };
    if (tok(ctx, "Reusable") !== undefined) return { k: "singleUse", value: false, loc };
    return { k: "singleUse", value: true, loc };
  }

  stepDecl(ctx: Ctx, loc: Loc): StepNode {
    const n: StepNode = {
      kind: "step",
      name: name(tok(ctx, "Identifier")),
      title: this.str(tok(ctx, "StringLit")),
      body: nodes(ctx, "stepStmt").map((s) => this.visit(s) as StepStmt),
      closeAt: tokLoc(tok(ctx, "RBrace")).start,
      loc,
    };
    const w = node(ctx, "when");
    if (w !== undefined) n.when = this.visit(w) as AstExpr;
    return n;
  }

  stepStmt(ctx: Ctx): StepStmt {
    for (const key of Object.keys(ctx)) {
      const n = node(ctx, key);
      if (n !== undefined) return this.visit(n) as StepStmt;
    }
    throw new Error("empty step statement");
  }

  collectStmt(ctx: Ctx, loc: Loc): StepStmt {
    if (tok(ctx, "FinancialAccount") !== undefined) {
      return {
        k: "collectAccount",
        clauses: nodes(ctx, "accountClause").map((c) => {
          const cc = c.children as Ctx;
          return {
            via: tok(cc, "Via") !== undefined,
            choices: nodes(cc, "choice").map((x) => this.visit(x) as Choice),
            loc: nodeLoc(c),
          };
        }),
        loc,
      };
    }
    return {
      k: "collectProfile",
      profile: tok(ctx, "Business") !== undefined ? "business" : "individual",
      groups: nodes(ctx, "fieldGroup").map(
        (g) => this.visit(g) as { fields: Name[]; required: boolean; loc: Loc },
      ),
      loc,
    };
  }

  fieldGroup(ctx: Ctx, loc: Loc): { fields: Name[]; required: boolean; loc: Loc } {
    return { fields: this.names(node(ctx, "identList")), required: tok(ctx, "Required") !== undefined, loc };
  }

  accountClause(): void {}

  choice(ctx: Ctx, loc: Loc): Choice {
    return { name: name(tok(ctx, "Identifier")), args: this.names(node(ctx, "identList")), loc };
  }

  lookupStmt(ctx: Ctx, loc: Loc): StepStmt {
    return {
      k: "lookup",
      by: toks(ctx, "Identifier")
        .filter((t) => t.tokenType !== T.Customer)
        .map(name),
      loc,
    };
  }

  acceptStmt(ctx: Ctx, loc: Loc): StepStmt {
    const s: StepStmt = { k: "accept", doc: this.str(tok(ctx, "doc")), loc };
    const v = tok(ctx, "version");
    if (v !== undefined) s.version = this.str(v);
    const t = tok(ctx, "title");
    if (t !== undefined) s.title = this.str(t);
    const body = tok(ctx, "text");
    if (body !== undefined) s.text = this.str(body);
    return s;
  }

  uploadStmt(ctx: Ctx, loc: Loc): StepStmt {
    return {
      k: "upload",
      kinds: this.names(node(ctx, "identList")),
      clauses: nodes(ctx, "uploadClause").map((c) => {
        const cc = c.children as Ctx;
        const l = nodeLoc(c);
        if (tok(cc, "Count") !== undefined) {
          const max = tok(cc, "max");
          return max === undefined
            ? { k: "count" as const, min: Number(tok(cc, "min")?.image), loc: l }
            : { k: "count" as const, min: Number(tok(cc, "min")?.image), max: Number(max.image), loc: l };
        }
        if (tok(cc, "Size") !== undefined) {
          const raw = tok(cc, "SizeLit")?.image ?? "";
          return { k: "size" as const, raw, bytes: sizeBytes(raw), loc: l };
        }
        return { k: "types" as const, types: toks(cc, "StringLit").map((t) => this.str(t)), loc: l };
      }),
      loc,
    };
  }

  uploadClause(): void {}

  verifyStmt(ctx: Ctx, loc: Loc): StepStmt {
    return { k: "verifyIdentity", methods: this.names(node(ctx, "identList")), loc };
  }

  confirmStmt(ctx: Ctx, loc: Loc): StepStmt {
    const methodToks = toks(ctx, "method");
    const whens = nodes(ctx, "methodWhen").map((n) => this.visit(n) as AstExpr);
    const methods = methodToks.map((m, i) => {
      const w = whens[i];
      return w === undefined ? { method: name(m) } : { method: name(m), when: w };
    });
    const s: StepStmt = {
      k: "confirm",
      direction: tok(ctx, "Request") !== undefined ? "request" : "send",
      amount: this.visit(node(ctx, "amount") as CstNode) as AstExpr,
      preposition: tok(ctx, "From") !== undefined ? "from" : "to",
      account: name(tok(ctx, "account")),
      methods,
      loc,
    };
    const a = tok(ctx, "authorization");
    if (a !== undefined) s.authorization = this.str(a);
    return s;
  }

  declineStmt(ctx: Ctx, loc: Loc): StepStmt {
    const items = [...toks(ctx, "StringLit"), ...toks(ctx, "Other")].sort(
      (a, b) => a.startOffset - b.startOffset,
    );
    return {
      k: "decline",
      reasons: items.map((t) =>
        t.tokenType === T.Other ? { other: true as const, loc: tokLoc(t) } : this.str(t),
      ),
      loc,
    };
  }

  ruleDecl(ctx: Ctx, loc: Loc): RuleNode {
    return {
      kind: "rule",
      name: this.str(tok(ctx, "name")),
      require: this.visit(node(ctx, "expression") as CstNode) as AstExpr,
      message: this.str(tok(ctx, "message")),
      loc,
    };
  }

  handlerDecl(ctx: Ctx, loc: Loc): HandlerNode {
    const ev = tok(ctx, "event");
    let event: HandlerNode["event"];
    let eventLoc: Loc;
    if (ev !== undefined) {
      event = ev.image as HandlerNode["event"];
      eventLoc = tokLoc(ev);
    } else if (tok(ctx, "Transaction") !== undefined) {
      event = "transaction_status_changed";
      eventLoc = { start: tokLoc(tok(ctx, "Transaction")).start, end: tokLoc(tok(ctx, "Changed")).end };
    } else {
      event = "step_completed";
      eventLoc = { start: tokLoc(tok(ctx, "Step")).start, end: tokLoc(tok(ctx, "stepCompleted")).end };
    }
    const h: HandlerNode = {
      kind: "handler",
      event,
      eventLoc,
      actions: nodes(ctx, "action").map((a) => this.visit(a) as ActionNode),
      closeAt: tokLoc(tok(ctx, "RBrace")).start,
      loc,
    };
    const s = tok(ctx, "stepName");
    if (s !== undefined) h.step = name(s);
    return h;
  }

  action(ctx: Ctx, loc: Loc): ActionNode {
    if (tok(ctx, "Text") !== undefined) return { k: "text", message: this.str(tok(ctx, "message")), loc };
    if (tok(ctx, "Email") !== undefined) {
      const a: ActionNode = { k: "email", message: this.str(tok(ctx, "message")), loc };
      const s = tok(ctx, "subject");
      if (s !== undefined) a.subject = this.str(s);
      return a;
    }
    if (tok(ctx, "Notify") !== undefined) return { k: "notify", loc };
    const id = tok(ctx, "Identifier");
    if (id !== undefined && id.tokenType !== T.Tag) return { k: "tag", tag: id.image, quoted: false, loc };
    const s = tok(ctx, "StringLit");
    return { k: "tag", tag: s === undefined ? "" : this.str(s).parts.join(""), quoted: true, loc };
  }

  // ---- expressions ----

  private chain(ctx: Ctx, sub: string, opKey: string, ops: (t: IToken) => BinOp): AstExpr {
    const operands = nodes(ctx, sub).map((n) => this.visit(n) as AstExpr);
    const operators = toks(ctx, opKey);
    let acc = operands[0]!;
    for (let i = 1; i < operands.length; i++) {
      const right = operands[i]!;
      const op = operators[i - 1];
      acc = {
        k: "bin",
        op: op === undefined ? "or" : ops(op),
        left: acc,
        right,
        loc: { start: acc.loc.start, end: right.loc.end },
      };
    }
    return acc;
  }

  expression(ctx: Ctx): AstExpr {
    return this.chain(ctx, "andExpr", "Or", () => "or");
  }

  andExpr(ctx: Ctx): AstExpr {
    return this.chain(ctx, "notExpr", "And", () => "and");
  }

  notExpr(ctx: Ctx, loc: Loc): AstExpr {
    const inner = node(ctx, "notExpr");
    if (inner !== undefined) return { k: "not", expr: this.visit(inner) as AstExpr, loc };
    return this.visit(node(ctx, "cmpExpr") as CstNode) as AstExpr;
  }

  cmpExpr(ctx: Ctx, loc: Loc): AstExpr {
    const left = this.visit(node(ctx, "addExpr") as CstNode) as AstExpr;
    const op = tok(ctx, "CmpOp");
    if (op !== undefined) {
      const right = this.visit(node(ctx, "addExpr", 1) as CstNode) as AstExpr;
      return { k: "bin", op: op.image as BinOp, left, right, loc };
    }
    if (tok(ctx, "In") !== undefined) {
      return {
        k: "in",
        expr: left,
        list: nodes(ctx, "list").map((n) => this.visit(n) as AstExpr),
        negated: tok(ctx, "Not") !== undefined,
        loc,
      };
    }
    return left;
  }

  addExpr(ctx: Ctx): AstExpr {
    return this.chain(ctx, "mulExpr", "AddOp", (t) => t.image as BinOp);
  }

  mulExpr(ctx: Ctx): AstExpr {
    return this.chain(ctx, "unaryExpr", "MulOp", (t) => t.image as BinOp);
  }

  unaryExpr(ctx: Ctx, loc: Loc): AstExpr {
    const inner = node(ctx, "unaryExpr");
    if (inner !== undefined) return { k: "neg", expr: this.visit(inner) as AstExpr, loc };
    return this.visit(node(ctx, "primary") as CstNode) as AstExpr;
  }

  primary(ctx: Ctx, loc: Loc): AstExpr {
    const money = tok(ctx, "MoneyLit");
    if (money !== undefined) {
      const m = /^(\d+(?:\.\d+)?)\s*([A-Z]{3})$/.exec(money.image);
      return { k: "money", raw: money.image, amount: m?.[1] ?? "0", currency: m?.[2] ?? "USD", loc };
    }
    const dur = tok(ctx, "DurationLit");
    if (dur !== undefined) return { k: "dur", raw: dur.image, ms: durationMs(dur.image), loc };
    const num = tok(ctx, "NumberLit");
    if (num !== undefined) return { k: "num", raw: num.image, value: Number(num.image), loc };
    const str = tok(ctx, "StringLit");
    if (str !== undefined) return { k: "str", str: this.str(str), loc };
    if (tok(ctx, "True") !== undefined) return { k: "bool", value: true, loc };
    if (tok(ctx, "False") !== undefined) return { k: "bool", value: false, loc };
    const sym = tok(ctx, "symbol");
    if (sym !== undefined) return { k: "ref", path: [name(sym)], loc };
    const e = node(ctx, "expression");
    if (e !== undefined) {
      const inner = this.visit(e) as AstExpr;
      return { ...inner, loc } as AstExpr;
    }
    return { k: "ref", path: toks(ctx, "Identifier").map(name), loc };
  }
}

// `visit` passes the node's location as the second argument so rules can record spans.
const origVisit = AstBuilder.prototype.visit;
AstBuilder.prototype.visit = function (this: AstBuilder, cst: CstNode | CstNode[], param?: unknown): unknown {
  const n = Array.isArray(cst) ? cst[0] : cst;
  if (n === undefined) return undefined;
  return origVisit.call(this, n, param ?? nodeLoc(n));
};
