import type { WorkflowProgram } from "./program.ts";

export function renderGraph(program: WorkflowProgram, _format: "mermaid" | "dot" = "mermaid"): string {
  return program.steps.map((s) => s.id).join("\n");
}
