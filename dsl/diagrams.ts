import { createSyntaxDiagramsCode } from "chevrotain";
import { parser } from "./parser.ts";

/**
 * The grammar as railroad diagrams, for template authors: a standalone HTML
 * page generated from the parser itself, so it can never drift from it.
 */
export function renderSyntaxDiagrams(): string {
  return createSyntaxDiagramsCode(parser.getSerializedGastProductions());
}
