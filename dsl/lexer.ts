/**
 * Tokens of the template language. Hard keywords are reserved words; soft
 * keywords (`text`, `email`, `customer`, …) belong to the Identifier category
 * so they can still name fields, types and paths (`profile.email`).
 */
import { createToken, Lexer, type TokenType } from "chevrotain";

export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

const hard = (word: string, name?: string): TokenType =>
  createToken({
    name: name ?? word[0]!.toUpperCase() + word.slice(1),
    pattern: new RegExp(`${word}(?![A-Za-z0-9_])`),
    longer_alt: Identifier,
  });
const soft = (word: string, name?: string): TokenType =>
  createToken({
    name: name ?? word[0]!.toUpperCase() + word.slice(1).replace(/_(\w)/g, (_, c: string) => c.toUpperCase()),
    pattern: new RegExp(`${word}(?![A-Za-z0-9_])`),
    longer_alt: Identifier,
    categories: [Identifier],
  });

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: "Comment", pattern: /#[^\n\r]*/, group: "comments" });

/** `7 days`, `36 hours`, `1 day`: one token so that expressions stay LL(1). */
export const DurationLit = createToken({
  name: "DurationLit",
  pattern: /\d+(?:\.\d+)?[ \t]*(?:weeks?|days?|hours?|minutes?|seconds?)(?![A-Za-z0-9_])/,
});
/** `10 MB` */
export const SizeLit = createToken({ name: "SizeLit", pattern: /\d+[ \t]*(?:KB|MB|GB)(?![A-Za-z0-9_])/ });
/** `250.00 USD` */
export const MoneyLit = createToken({
  name: "MoneyLit",
  pattern: /\d+(?:\.\d+)?[ \t]*[A-Z]{3}(?![A-Za-z0-9_])/,
});
export const NumberLit = createToken({ name: "NumberLit", pattern: /\d+(?:\.\d+)?(?![A-Za-z_])/ });
export const StringLit = createToken({ name: "StringLit", pattern: /"(?:[^"\\\n\r]|\\.)*"/ });
export const UnterminatedString = createToken({
  name: "UnterminatedString",
  pattern: /"(?:[^"\\\n\r]|\\.)*/,
});

export const OneTime = createToken({ name: "OneTime", pattern: /one-time(?![A-Za-z0-9_])/ });

// Hard keywords.
export const Template = hard("template");
export const Version = hard("version");
export const Input = soft("input");
export const Optional = hard("optional");
export const Required = hard("required");
export const Default = hard("default");
export const Link = hard("link");
export const Send = hard("send");
export const Via = hard("via");
export const Expires = hard("expires");
export const In = hard("in");
export const Remind = hard("remind");
export const Every = hard("every");
export const Before = hard("before");
export const Expiry = hard("expiry");
export const Verify = hard("verify");
export const Step = hard("step");
export const When = hard("when");
export const Collect = hard("collect");
export const Lookup = hard("lookup");
export const By = hard("by");
export const Accept = hard("accept");
export const Upload = hard("upload");
export const Confirm = hard("confirm");
export const Request = hard("request");
export const To = hard("to");
export const From = hard("from");
export const Method = hard("method");
export const Otherwise = hard("otherwise");
export const Decline = hard("decline");
export const Reasons = hard("reasons");
export const Other = hard("other");
export const Rule = hard("rule");
export const Require = hard("require");
export const Else = hard("else");
export const Reject = hard("reject");
export const On = hard("on");
export const And = hard("and");
export const Or = hard("or");
export const Not = hard("not");
export const True = hard("true");
export const False = hard("false");
export const Completed = hard("completed");
export const Declined = hard("declined");
export const Expired = hard("expired");
export const Cancelled = hard("cancelled");

// Soft keywords (also Identifiers).
export const Text = soft("text");
export const Email = soft("email");
export const Customer = soft("customer");
export const Business = soft("business");
export const Individual = soft("individual");
export const FinancialAccount = soft("financial_account");
export const Notify = soft("notify");
export const Tag = soft("tag");
export const Identity = soft("identity");
export const Transaction = soft("transaction");
export const Status = soft("status");
export const Changed = soft("changed");
export const With = soft("with");
export const Code = soft("code");
export const Single = soft("single");
export const Use = soft("use");
export const Reusable = soft("reusable");
export const At = soft("at");
export const Most = soft("most");
export const Times = soft("times");
export const Subject = soft("subject");
export const Count = soft("count");
export const Max = soft("max");
export const Size = soft("size");
export const Types = soft("types");
export const Titled = soft("titled");
export const Reading = soft("reading");
export const Using = soft("using");
export const Authorized = soft("authorized");

// Punctuation and operators.
export const LBrace = createToken({ name: "LBrace", pattern: /\{/ });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/ });
export const LParen = createToken({ name: "LParen", pattern: /\(/ });
export const RParen = createToken({ name: "RParen", pattern: /\)/ });
export const Comma = createToken({ name: "Comma", pattern: /,/ });
export const Semicolon = createToken({ name: "Semicolon", pattern: /;/ });
export const Colon = createToken({ name: "Colon", pattern: /:/ });
export const Dot = createToken({ name: "Dot", pattern: /\./ });

export const CmpOp = createToken({ name: "CmpOp", pattern: Lexer.NA });
export const Eq = createToken({ name: "Eq", pattern: /==/, categories: [CmpOp] });
export const Neq = createToken({ name: "Neq", pattern: /!=/, categories: [CmpOp] });
export const Le = createToken({ name: "Le", pattern: /<=/, categories: [CmpOp] });
export const Ge = createToken({ name: "Ge", pattern: />=/, categories: [CmpOp] });
export const Lt = createToken({ name: "Lt", pattern: /</, categories: [CmpOp] });
export const Gt = createToken({ name: "Gt", pattern: />/, categories: [CmpOp] });
export const AddOp = createToken({ name: "AddOp", pattern: Lexer.NA });
export const Plus = createToken({ name: "Plus", pattern: /\+/, categories: [AddOp] });
export const Minus = createToken({ name: "Minus", pattern: /-/, categories: [AddOp] });
export const MulOp = createToken({ name: "MulOp", pattern: Lexer.NA });
export const Star = createToken({ name: "Star", pattern: /\*/, categories: [MulOp] });
export const Slash = createToken({ name: "Slash", pattern: /\//, categories: [MulOp] });

const keywords = [
  Template,
  Version,
  Input,
  Optional,
  Required,
  Default,
  Link,
  Send,
  Via,
  Expires,
  In,
  Remind,
  Every,
  Before,
  Expiry,
  Verify,
  Step,
  When,
  Collect,
  Lookup,
  By,
  Accept,
  Upload,
  Confirm,
  Request,
  To,
  From,
  Method,
  Otherwise,
  Decline,
  Reasons,
  Other,
  Rule,
  Require,
  Else,
  Reject,
  On,
  And,
  Or,
  Not,
  True,
  False,
  Completed,
  Declined,
  Expired,
  Cancelled,
  Text,
  Email,
  Customer,
  Business,
  Individual,
  FinancialAccount,
  Notify,
  Tag,
  Identity,
  Transaction,
  Status,
  Changed,
  With,
  Code,
  Single,
  Use,
  Reusable,
  At,
  Most,
  Times,
  Subject,
  Count,
  Max,
  Size,
  Types,
  Titled,
  Reading,
  Using,
  Authorized,
];

/** The hard keywords: reserved words that cannot name a step, input or field. */
export const reservedWords: ReadonlySet<string> = new Set(
  keywords
    .filter((t) => !t.CATEGORIES?.includes(Identifier))
    .map((t) => String(t.PATTERN).slice(1).split("(")[0]!),
);

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  DurationLit,
  SizeLit,
  MoneyLit,
  NumberLit,
  StringLit,
  UnterminatedString,
  OneTime,
  ...keywords,
  Identifier,
  LBrace,
  RBrace,
  LParen,
  RParen,
  Comma,
  Semicolon,
  Colon,
  Dot,
  Eq,
  Neq,
  Le,
  Ge,
  Lt,
  Gt,
  CmpOp,
  Plus,
  Minus,
  AddOp,
  Star,
  Slash,
  MulOp,
];

export const lexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });
