/** Draws a program's steps and transitions as Mermaid (default) or Graphviz DOT. */
import { formatDuration, formatMoney, isMoney } from "./money.ts";
import type { Expr, StepIR, WorkflowProgram } from "./program.ts";

const PREC: Record<string, number> = { or: 1, and: 2, "+": 5, "-": 5, "*": 6, "/": 6 };

/** Source-like text of an IR expression (for labels and messages). */
export function exprToText(e: Expr, min = 0): string {
  let s: string;
  let p = 8;
  switch (e.k) {
    case "lit":
      s =
        e.value === null
          ? "null"
          : isMoney(e.value)
            ? formatMoney(e.value)
            : e.type === "duration" && typeof e.value === "number"
              ? formatDuration(e.value)
              : e.type === "text"
                ? JSON.stringify(e.value)
                : String(e.value);
      break;
    case "ref":
      s = e.path.join(".");
      break;
    case "not":
      p = 3;
      s = `not ${exprToText(e.expr, 3)}`;
      break;
    case "neg":
      p = 7;
      s = `-${exprToText(e.expr, 7)}`;
      break;
    case "in":
      p = 4;
      s = `${exprToText(e.expr, 5)} in (${e.list.map((x) => exprToText(x, 5)).join(", ")})`;
      break;
    case "interp":
      s = JSON.stringify(e.parts.map((x) => (typeof x === "string" ? x : `{${exprToText(x)}}`)).join(""));
      break;
    case "bin":
      p = PREC[e.op] ?? 4;
      s = `${exprToText(e.left, p === 4 ? 5 : p)} ${e.op} ${exprToText(e.right, p + 1)}`;
      break;
  }
  return p < min ? `(${s})` : s;
}

interface Edge {
  from: string;
  to: string;
  label?: string;
  dotted?: boolean;
}

interface Node {
  id: string;
  label: string;
  shape: "step" | "decision" | "terminal";
}

function build(program: WorkflowProgram): { nodes: Node[]; edges: Edge[] } {
  const nodes: Node[] = [{ id: "start", label: "link sent", shape: "terminal" }];
  const edges: Edge[] = [];
  const nodeId = (s: StepIR) => `step_${s.id}`;
  // Each conditional step gets a decision node in front of it.
  const entry = (s: StepIR) => (s.when !== undefined ? `when_${s.id}` : nodeId(s));
  const steps = program.steps;
  steps.forEach((s, i) => {
    const next = steps[i + 1];
    const after = next === undefined ? "completed" : entry(next);
    if (s.when !== undefined) {
      nodes.push({ id: `when_${s.id}`, label: exprToText(s.when), shape: "decision" });
      edges.push({ from: `when_${s.id}`, to: nodeId(s), label: "yes" });
      edges.push({ from: `when_${s.id}`, to: after, label: "no: skip" });
    }
    nodes.push({ id: nodeId(s), label: `${s.id}: ${s.title}`, shape: "step" });
    edges.push({ from: nodeId(s), to: after });
    if (s.declinable) edges.push({ from: nodeId(s), to: "declined", label: "decline" });
  });
  const first = steps[0];
  edges.unshift({ from: "start", to: first === undefined ? "completed" : entry(first) });
  edges.push({
    from: "start",
    to: "expired",
    label: `expires in ${formatDuration(program.link.expiresInMs)}`,
    dotted: true,
  });
  nodes.push({ id: "completed", label: "completed", shape: "terminal" });
  if (steps.some((s) => s.declinable)) nodes.push({ id: "declined", label: "declined", shape: "terminal" });
  nodes.push({ id: "expired", label: "expired", shape: "terminal" });
  return { nodes, edges };
}

const mermaidText = (s: string) => `"${s.replace(/"/g, "#quot;")}"`;
const dotText = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

export function renderGraph(program: WorkflowProgram, format: "mermaid" | "dot" = "mermaid"): string {
  const { nodes, edges } = build(program);
  if (format === "dot") {
    const out = [
      `digraph ${JSON.stringify(program.template.name)} {`,
      "  rankdir=TB;",
      '  node [fontname="Helvetica"];',
    ];
    for (const n of nodes) {
      const shape = n.shape === "decision" ? "diamond" : n.shape === "terminal" ? "oval" : "box";
      out.push(
        `  ${n.id} [label=${dotText(n.label)}, shape=${shape}${n.shape === "step" ? ", style=rounded" : ""}];`,
      );
    }
    for (const e of edges) {
      const attrs: string[] = [];
      if (e.label !== undefined) attrs.push(`label=${dotText(e.label)}`);
      if (e.dotted) attrs.push("style=dashed");
      out.push(`  ${e.from} -> ${e.to}${attrs.length > 0 ? ` [${attrs.join(", ")}]` : ""};`);
    }
    out.push("}");
    return `${out.join("\n")}\n`;
  }
  const out = ["flowchart TD"];
  for (const n of nodes) {
    const t = mermaidText(n.label);
    out.push(
      `  ${n.id}${n.shape === "decision" ? `{${t}}` : n.shape === "terminal" ? `([${t}])` : `[${t}]`}`,
    );
  }
  for (const e of edges) {
    const arrow = e.dotted ? "-.->" : "-->";
    out.push(`  ${e.from} ${arrow}${e.label !== undefined ? `|${mermaidText(e.label)}|` : ""} ${e.to}`);
  }
  return `${out.join("\n")}\n`;
}
