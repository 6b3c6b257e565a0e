/** Diagnostics: stable codes, source ranges, and rustc-style rendering. */
import type { Loc } from "./ast.ts";

export interface Position {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
  /** 0-based offset into the source. */
  offset: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface Diagnostic {
  code: string;
  severity: "error" | "warning";
  message: string;
  file: string;
  range: Range;
  hint?: string;
}

/**
 * Every diagnostic code the DSL emits. Codes are stable: tools and tests key
 * on them; messages may be reworded.
 */
export const Codes = {
  internal: "LF0000",
  unexpectedCharacter: "LF0001",
  unterminatedString: "LF0002",
  badInterpolation: "LF0003",
  syntax: "LF1001",
  missingHeader: "LF1101",
  duplicateHeader: "LF1102",
  duplicateLink: "LF1103",
  noSteps: "LF1104",
  unknownReference: "LF2001",
  duplicateName: "LF2002",
  laterStep: "LF2003",
  unknownType: "LF2004",
  unknownField: "LF2005",
  unknownChannel: "LF2006",
  unknownProvider: "LF2007",
  unknownAccountKind: "LF2008",
  unknownMethod: "LF2009",
  unknownSymbol: "LF2010",
  reservedName: "LF2011",
  notAvailableHere: "LF2012",
  typeMismatch: "LF3001",
  currencyMismatch: "LF3002",
  notBoolean: "LF3003",
  badMoney: "LF3004",
  badDefault: "LF3005",
  interpolationNotAllowed: "LF3006",
  badNumber: "LF3007",
  emptyStep: "LF4001",
  unreachableStep: "LF4002",
  achWithoutAuthorization: "LF4003",
  notAnAccountStep: "LF4004",
  reminderNeverFires: "LF4005",
  badReminder: "LF4006",
  duplicateSetting: "LF4007",
  duplicateField: "LF4008",
  manyActions: "LF4009",
  badUpload: "LF4010",
  duplicateHandler: "LF4011",
  badAccount: "LF4012",
  missingRequiredField: "LF4013",
  methodNotAllowed: "LF4014",
  unusedInput: "LF4015",
  emptyDocument: "LF4016",
  manyDocuments: "LF4017",
} as const;

/** Maps offsets to 1-based line/column. */
export class LineIndex {
  private readonly starts: number[] = [0];
  constructor(readonly source: string) {
    for (let i = 0; i < source.length; i++) if (source.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  position(offset: number): Position {
    const o = Number.isFinite(offset) ? Math.max(0, Math.min(Math.trunc(offset), this.source.length)) : 0;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: o - this.starts[lo]! + 1, offset: o };
  }

  range(loc: Loc): Range {
    const start = this.position(loc.start);
    const end = this.position(Math.max(loc.end, start.offset));
    return { start, end };
  }

  lineText(line: number): string {
    const s = this.starts[line - 1];
    if (s === undefined) return "";
    const e = this.starts[line];
    return this.source.slice(s, e === undefined ? undefined : e - 1).replace(/\r$/, "");
  }
}

/** Collects diagnostics for one source file. */
export class DiagnosticSink {
  readonly list: Diagnostic[] = [];
  readonly lines: LineIndex;
  constructor(
    source: string,
    readonly file: string,
  ) {
    this.lines = new LineIndex(source);
  }

  error(code: string, loc: Loc, message: string, hint?: string): void {
    this.add("error", code, loc, message, hint);
  }

  warn(code: string, loc: Loc, message: string, hint?: string): void {
    this.add("warning", code, loc, message, hint);
  }

  add(severity: "error" | "warning", code: string, loc: Loc, message: string, hint?: string): void {
    const d: Diagnostic = { code, severity, message, file: this.file, range: this.lines.range(loc) };
    if (hint !== undefined) d.hint = hint;
    this.list.push(d);
  }

  get hasErrors(): boolean {
    return this.list.some((d) => d.severity === "error");
  }
}

export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return [...diags].sort(
    (a, b) => a.range.start.offset - b.range.start.offset || a.code.localeCompare(b.code),
  );
}

/**
 * Renders diagnostics like rustc:
 *
 *     error[LF2001]: unknown reference `profile.frist_name`
 *      --> welcome.flow:12:30
 *        |
 *     12 |   text customer "Hi {profile.frist_name}"
 *        |                      ^^^^^^^^^^^^^^^^^^
 *        = hint: did you mean `first_name`?
 */
export function formatDiagnostics(diags: Diagnostic[], source: string): string {
  const lines = new LineIndex(source);
  const out: string[] = [];
  for (const d of diags) {
    const { start, end } = d.range;
    const gutter = String(start.line).length;
    const pad = " ".repeat(gutter);
    out.push(`${d.severity}[${d.code}]: ${d.message}`);
    out.push(`${pad}--> ${d.file}:${start.line}:${start.column}`);
    const text = lines.lineText(start.line).replace(/\t/g, " ");
    out.push(`${pad} |`);
    out.push(`${start.line} | ${text}`);
    const width =
      end.line === start.line
        ? Math.max(1, end.column - start.column)
        : Math.max(1, text.length - start.column + 1);
    out.push(`${pad} | ${" ".repeat(Math.max(0, start.column - 1))}${"^".repeat(width)}`);
    if (d.hint !== undefined) out.push(`${pad} = hint: ${d.hint}`);
    out.push("");
  }
  const errors = diags.filter((d) => d.severity === "error").length;
  const warnings = diags.length - errors;
  if (diags.length > 0) {
    const parts: string[] = [];
    if (errors > 0) parts.push(`${errors} error${errors === 1 ? "" : "s"}`);
    if (warnings > 0) parts.push(`${warnings} warning${warnings === 1 ? "" : "s"}`);
    out.push(`${parts.join(", ")} emitted`);
  }
  return out.join("\n");
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidate within a distance proportional to the word's length. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  const limit = Math.max(1, Math.floor(word.length / 3));
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD && d <= limit) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const c = closest(word, candidates);
  return c === undefined ? undefined : `did you mean \`${c}\`?`;
}
