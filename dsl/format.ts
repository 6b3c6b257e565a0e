import type { IToken } from "chevrotain";
import type { TemplateAst } from "./ast.ts";

export function formatAst(_ast: TemplateAst, _comments: IToken[], source: string): string {
  return source;
}
