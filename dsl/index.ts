/**
 * The template language: compile `.flow` source to a WorkflowProgram, format
 * it, draw it, and evaluate its expressions.
 */
import { status as GrpcStatus } from "@grpc/grpc-js";
import { LinkflowError } from "../core/index.ts";
import { Compiler } from "./compile.ts";
import { Codes, type Diagnostic, DiagnosticSink, sortDiagnostics } from "./diagnostics.ts";
import { formatAst } from "./format.ts";
import type { WorkflowProgram } from "./program.ts";
import { parseSource } from "./syntax.ts";

export type { Diagnostic, Position, Range } from "./diagnostics.ts";
export { Codes as DiagnosticCodes, formatDiagnostics } from "./diagnostics.ts";
export type { Env } from "./evaluate.ts";
export {
  bindInputs,
  ExpressionError,
  evaluate,
  evaluateRules,
  parseInputValue,
  renderText,
} from "./evaluate.ts";
export { renderGraph } from "./graph.ts";
export { formatMoney } from "./money.ts";
export * from "./program.ts";

function internal(sink: DiagnosticSink, err: unknown): void {
  const detail = err instanceof Error ? err.message.split("\n")[0] : "unknown failure";
  sink.error(
    Codes.internal,
    { start: 0, end: 0 },
    `internal error in the template compiler: ${detail}`,
    "please report this template to the Linkflow team",
  );
}

/** Compiles template source. `program` is present only when there are no errors. */
export function compileTemplate(
  source: string,
  opts: { file?: string } = {},
): { program?: WorkflowProgram; diagnostics: Diagnostic[] } {
  const sink = new DiagnosticSink(source, opts.file ?? "<template>");
  let program: WorkflowProgram | undefined;
  try {
    const { ast } = parseSource(source, sink);
    if (ast !== undefined) program = new Compiler(sink).compile(ast);
  } catch (err) {
    internal(sink, err);
    program = undefined;
  }
  const diagnostics = sortDiagnostics(sink.list);
  return program !== undefined && !sink.hasErrors ? { program, diagnostics } : { diagnostics };
}

/** Prints template source canonically, keeping comments. No text when the source has syntax errors. */
export function formatTemplate(
  source: string,
  opts: { file?: string } = {},
): { text?: string; diagnostics: Diagnostic[] } {
  const sink = new DiagnosticSink(source, opts.file ?? "<template>");
  try {
    const { ast, comments } = parseSource(source, sink);
    if (ast === undefined || sink.hasErrors) return { diagnostics: sortDiagnostics(sink.list) };
    return { text: formatAst(ast, comments, source), diagnostics: sortDiagnostics(sink.list) };
  } catch (err) {
    internal(sink, err);
    return { diagnostics: sink.list };
  }
}

/** A template failed to compile. Carries the diagnostics; one violation per error. */
export class TemplateInvalidError extends LinkflowError {
  override readonly name = "TemplateInvalidError";
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[], message?: string) {
    const errors = diagnostics.filter((d) => d.severity === "error");
    super(
      "template_invalid",
      message ??
        `template has ${errors.length} error${errors.length === 1 ? "" : "s"}${errors[0] ? `: ${errors[0].message}` : ""}`,
      {
        grpcStatus: GrpcStatus.INVALID_ARGUMENT,
        violations: errors.map((d) => ({
          field: "template",
          description: `${d.file}:${d.range.start.line}:${d.range.start.column}: ${d.code} ${d.message}`,
        })),
      },
    );
    this.diagnostics = diagnostics;
  }
}

/** Compiles or throws TemplateInvalidError. */
export function compileTemplateOrThrow(source: string, opts: { file?: string } = {}): WorkflowProgram {
  const r = compileTemplate(source, opts);
  if (r.program === undefined) throw new TemplateInvalidError(r.diagnostics);
  return r.program;
}
export { renderSyntaxDiagrams } from "./diagrams.ts";
