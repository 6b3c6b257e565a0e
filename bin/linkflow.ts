#!/usr/bin/env -S npx tsx
/**
 * The `linkflow` command line. Subcommands live in one table; to add one
 * (e.g. `cluster status`), add an entry with a `run` or nested `subcommands`.
 */
import { realpathSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import {
  compileTemplate,
  type Diagnostic,
  formatDiagnostics,
  formatTemplate,
  renderGraph,
} from "../dsl/index.ts";

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export interface Command {
  summary: string;
  usage: string;
  /** Returns the process exit code. */
  run?: (args: string[], io: Io) => Promise<number>;
  subcommands?: Record<string, Command>;
}

async function readSource(file: string, io: Io): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    io.err(`error: cannot read ${file}${code === "ENOENT" ? ": no such file" : code ? ` (${code})` : ""}\n`);
    return undefined;
  }
}

function report(diags: Diagnostic[], source: string, io: Io): void {
  if (diags.length > 0) io.err(`${formatDiagnostics(diags, source)}\n`);
}

const check: Command = {
  summary: "compile templates and report diagnostics",
  usage: "linkflow check FILE...",
  async run(args, io) {
    if (args.length === 0) return usageError(io, this.usage);
    let failed = false;
    for (const file of args) {
      const source = await readSource(file, io);
      if (source === undefined) {
        failed = true;
        continue;
      }
      const r = compileTemplate(source, { file });
      report(r.diagnostics, source, io);
      if (r.program === undefined) failed = true;
      else
        io.out(
          `ok: ${file} (${r.program.template.name} v${r.program.template.version}, ${r.program.steps.length} steps)\n`,
        );
    }
    return failed ? 1 : 0;
  },
};

const fmt: Command = {
  summary: "format templates in place (--check: list unformatted files)",
  usage: "linkflow fmt [--check] FILE...",
  async run(args, io) {
    const checkOnly = args.includes("--check");
    const files = args.filter((a) => a !== "--check");
    if (files.length === 0) return usageError(io, this.usage);
    let code = 0;
    for (const file of files) {
      const source = await readSource(file, io);
      if (source === undefined) {
        code = 1;
        continue;
      }
      const r = formatTemplate(source, { file });
      if (r.text === undefined) {
        report(r.diagnostics, source, io);
        code = 1;
        continue;
      }
      if (r.text === source) continue;
      if (checkOnly) {
        io.out(`${file}\n`);
        code = 1;
      } else {
        await writeFile(file, r.text);
        io.err(`formatted ${file}\n`);
      }
    }
    return code;
  },
};

const graph: Command = {
  summary: "draw a template's steps as Mermaid (default) or Graphviz DOT",
  usage: "linkflow graph [--dot|--mermaid] FILE",
  async run(args, io) {
    const format = args.includes("--dot") ? "dot" : "mermaid";
    const files = args.filter((a) => !a.startsWith("--"));
    if (files.length !== 1 || files[0] === undefined) return usageError(io, this.usage);
    const source = await readSource(files[0], io);
    if (source === undefined) return 1;
    const r = compileTemplate(source, { file: files[0] });
    report(r.diagnostics, source, io);
    if (r.program === undefined) return 1;
    io.out(renderGraph(r.program, format));
    return 0;
  },
};

export const commands: Record<string, Command> = { check, fmt, graph };

function usageError(io: Io, usage: string): number {
  io.err(`usage: ${usage}\n`);
  return 2;
}

function help(table: Record<string, Command>, prefix: string): string {
  const lines = [`usage: ${prefix} <command> [args]`, "", "commands:"];
  const width = Math.max(...Object.keys(table).map((k) => k.length));
  for (const [name, c] of Object.entries(table)) lines.push(`  ${name.padEnd(width)}  ${c.summary}`);
  return `${lines.join("\n")}\n`;
}

/** Dispatches argv through the command table (nested tables for `cluster status` style commands). */
export async function main(argv: string[], io: Io): Promise<number> {
  let table = commands;
  let prefix = "linkflow";
  let i = 0;
  for (;;) {
    const name = argv[i];
    if (name === undefined || name === "help" || name === "--help" || name === "-h") {
      io.out(help(table, prefix));
      return name === undefined ? 2 : 0;
    }
    const cmd = table[name];
    if (cmd === undefined) {
      io.err(`error: unknown command \`${name}\`\n${help(table, prefix)}`);
      return 2;
    }
    prefix = `${prefix} ${name}`;
    i++;
    const rest = argv.slice(i);
    if (
      cmd.run !== undefined &&
      (cmd.subcommands === undefined || rest[0] === undefined || !(rest[0] in cmd.subcommands))
    ) {
      if (rest.includes("--help") || rest.includes("-h")) {
        io.out(`usage: ${cmd.usage}\n${cmd.summary}\n`);
        return 0;
      }
      return cmd.run(rest, io);
    }
    if (cmd.subcommands === undefined) return 2;
    table = cmd.subcommands;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

const isMain = invokedDirectly();
if (isMain) {
  const io: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      io.err(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
