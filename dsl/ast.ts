/** The typed abstract syntax tree the CST visitor builds. Locations are source offsets (end exclusive). */

export interface Loc {
  start: number;
  end: number;
}

export interface Name {
  text: string;
  loc: Loc;
}

export interface Str {
  /** Decoded literal parts and `{…}` interpolations. */
  parts: (string | AstExpr)[];
  raw: string;
  loc: Loc;
}

export type BinOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "and" | "or" | "+" | "-" | "*" | "/";

export type AstExpr =
  | { k: "num"; raw: string; value: number; loc: Loc }
  | { k: "money"; raw: string; amount: string; currency: string; loc: Loc }
  | { k: "dur"; raw: string; ms: number; loc: Loc }
  | { k: "str"; str: Str; loc: Loc }
  | { k: "bool"; value: boolean; loc: Loc }
  /** A dotted path, or a bare symbol such as `debit_card` when it has one segment. */
  | { k: "ref"; path: Name[]; loc: Loc }
  | { k: "bin"; op: BinOp; left: AstExpr; right: AstExpr; loc: Loc }
  | { k: "not"; expr: AstExpr; loc: Loc }
  | { k: "neg"; expr: AstExpr; loc: Loc }
  | { k: "in"; expr: AstExpr; list: AstExpr[]; negated: boolean; loc: Loc };

export interface Header {
  name: Name;
  title: Str;
  version: { value: number; raw: string; loc: Loc };
  loc: Loc;
}

export interface InputNode {
  kind: "input";
  name: Name;
  type: Name;
  typeArgs: Name[];
  optional: boolean;
  default?: AstExpr;
  description?: Str;
  loc: Loc;
}

export type LinkStmt =
  | { k: "send"; channels: Name[]; loc: Loc }
  | { k: "expires"; ms: number; raw: string; loc: Loc }
  | { k: "every"; ms: number; raw: string; loc: Loc }
  | { k: "before"; items: { ms: number; raw: string; loc: Loc }[]; loc: Loc }
  | { k: "maxCount"; value: number; raw: string; loc: Loc }
  | { k: "verify"; loc: Loc }
  | { k: "singleUse"; value: boolean; loc: Loc };

export interface LinkNode {
  kind: "link";
  stmts: LinkStmt[];
  loc: Loc;
}

export interface Choice {
  name: Name;
  args: Name[];
  loc: Loc;
}

export type StepStmt =
  | {
      k: "collectProfile";
      profile: "individual" | "business";
      groups: { fields: Name[]; required: boolean; loc: Loc }[];
      loc: Loc;
    }
  | { k: "collectAccount"; clauses: { via: boolean; choices: Choice[]; loc: Loc }[]; loc: Loc }
  | { k: "lookup"; by: Name[]; loc: Loc }
  | { k: "accept"; doc: Str; version?: Str; title?: Str; text?: Str; loc: Loc }
  | {
      k: "upload";
      kinds: Name[];
      clauses: (
        | { k: "count"; min: number; max?: number; loc: Loc }
        | { k: "size"; raw: string; bytes: number; loc: Loc }
        | { k: "types"; types: Str[]; loc: Loc }
      )[];
      loc: Loc;
    }
  | { k: "verifyIdentity"; methods: Name[]; loc: Loc }
  | {
      k: "confirm";
      direction: "send" | "request";
      amount: AstExpr;
      preposition: "to" | "from";
      account: Name;
      methods: { method: Name; when?: AstExpr }[];
      authorization?: Str;
      loc: Loc;
    }
  | { k: "decline"; reasons: (Str | { other: true; loc: Loc })[]; loc: Loc };

export interface StepNode {
  kind: "step";
  name: Name;
  title: Str;
  when?: AstExpr;
  body: StepStmt[];
  /** Offset of the closing brace. */
  closeAt: number;
  loc: Loc;
}

export interface RuleNode {
  kind: "rule";
  name: Str;
  require: AstExpr;
  message: Str;
  loc: Loc;
}

export type HandlerEventAst =
  | "completed"
  | "declined"
  | "expired"
  | "cancelled"
  | "transaction_status_changed"
  | "step_completed";

export type ActionNode =
  | { k: "text"; message: Str; loc: Loc }
  | { k: "email"; message: Str; subject?: Str; loc: Loc }
  | { k: "notify"; loc: Loc }
  | { k: "tag"; tag: string; quoted: boolean; loc: Loc };

export interface HandlerNode {
  kind: "handler";
  event: HandlerEventAst;
  eventLoc: Loc;
  step?: Name;
  actions: ActionNode[];
  closeAt: number;
  loc: Loc;
}

export interface HeaderNode extends Header {
  kind: "header";
}

export type TopNode = HeaderNode | InputNode | LinkNode | StepNode | RuleNode | HandlerNode;

export interface TemplateAst {
  items: TopNode[];
}
