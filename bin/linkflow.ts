#!/usr/bin/env -S npx tsx
/**
 * The `linkflow` command line. Subcommands live in one table; to add one
 * (e.g. `cluster status`), add an entry with a `run` or nested `subcommands`.
 */
import { realpathSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { connect as connectNats } from "nats";
import { connect, type Keyring, keyringFromEnv, redact, type Sql } from "../core/index.ts";
import {
  compileTemplate,
  type Diagnostic,
  formatDiagnostics,
  formatTemplate,
  renderGraph,
  renderSyntaxDiagrams,
} from "../dsl/index.ts";
import { collectNodeReports, type NodeReport } from "../runtime/index.ts";
import { formatReencryption, keysStatus, reencryptAll } from "./keys.ts";

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

/** Opens DATABASE_URL for the duration of `fn`. */
async function withDatabase(io: Io, fn: (sql: Sql) => Promise<number>): Promise<number> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    io.err("error: set DATABASE_URL to the cluster's PostgreSQL\n");
    return 2;
  }
  const sql = connect(url, { max: 2 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

interface LeaseRow {
  shard: number;
  owner: string | null;
  epoch: bigint;
  expires_in_ms: number;
}

/**
 * The cluster at a glance from Postgres (shard leases, actors, timers, effects)
 * and, with NATS_URL, every node's live report through the NATS micro protocol.
 */
export async function clusterStatus(sql: Sql, reports: NodeReport[] = []): Promise<string> {
  const leases = await sql<LeaseRow[]>`
    select shard, owner, epoch,
      (extract(epoch from (expires_at - now())) * 1000)::float8 as expires_in_ms
    from runtime.shard_leases order by shard`;
  const [counts] = await sql<{ actors: bigint; timers: bigint; effects: bigint; lag_ms: number | null }[]>`
    select (select count(*) from runtime.actors) as actors,
      (select count(*) from runtime.timers) as timers,
      (select count(*) from runtime.effects) as effects,
      (select (extract(epoch from now()) * 1000 - min(fire_at))::float8 from runtime.timers
        where fire_at <= extract(epoch from now()) * 1000) as lag_ms`;
  const byOwner = new Map<string, LeaseRow[]>();
  for (const l of leases) {
    const owner = l.owner && l.expires_in_ms > 0 ? l.owner : "(unowned)";
    byOwner.set(owner, [...(byOwner.get(owner) ?? []), l]);
  }
  const live = new Map(reports.map((r) => [r.nodeId, r]));
  const lines = [
    `shards: ${leases.length}   nodes: ${[...byOwner.keys()].filter((o) => o !== "(unowned)").length}   ` +
      `actors journaled: ${counts?.actors ?? 0}   timers armed: ${counts?.timers ?? 0}   ` +
      `effects pending: ${counts?.effects ?? 0}   oldest due timer: ${Math.round(Math.max(0, counts?.lag_ms ?? 0))} ms`,
    "",
    `${"NODE".padEnd(28)} ${"SHARDS".padEnd(7)} ${"ACTIVE".padEnd(7)} ${"QUEUED".padEnd(7)} ${"TIMER LAG".padEnd(10)} LEASES (shard@epoch)`,
  ];
  const owners = [...new Set([...byOwner.keys(), ...live.keys()])].sort();
  for (const owner of owners) {
    const held = byOwner.get(owner) ?? [];
    const r = live.get(owner);
    lines.push(
      `${owner.padEnd(28)} ${String(held.length).padEnd(7)} ${String(r?.activeActors ?? "-").padEnd(7)} ` +
        `${String(r?.queued ?? "-").padEnd(7)} ${(r ? `${r.timerLagMs} ms` : "-").padEnd(10)} ` +
        held.map((l) => `${l.shard}@${l.epoch}`).join(" "),
    );
  }
  if (reports.length === 0)
    lines.push("", "(set NATS_URL for live actor counts and timer lag from each node)");
  return `${lines.join("\n")}\n`;
}

/** A workflow's (or any actor's) journal as a timeline; PII in event data is redacted. */
export async function workflowTimeline(sql: Sql, actorId: string): Promise<string | undefined> {
  const events = await sql<
    { seq: bigint; epoch: bigint; command_id: string | null; data: unknown; at: Date }[]
  >`
    select seq, epoch, command_id, data, at from runtime.events where actor_id = ${actorId} order by seq`;
  if (events.length === 0) return undefined;
  const [actor] = await sql<{ kind: string; shard: number; seq: bigint }[]>`
    select kind, shard, seq from runtime.actors where actor_id = ${actorId}`;
  const [pending] = await sql<{ timers: bigint; effects: bigint }[]>`
    select (select count(*) from runtime.timers where actor_id = ${actorId}) as timers,
      (select count(*) from runtime.effects where actor_id = ${actorId}) as effects`;
  const t0 = events[0]!.at.getTime();
  const lines = [
    `${actorId}  kind ${actor?.kind ?? "?"}  shard ${actor?.shard ?? "?"}  events ${events.length}  ` +
      `timers armed ${pending?.timers ?? 0}  effects pending ${pending?.effects ?? 0}`,
    "",
  ];
  for (const e of events) {
    const { type, ...rest } = (e.data ?? {}) as { type?: string } & Record<string, unknown>;
    const detail = Object.keys(rest).length > 0 ? JSON.stringify(redact(summarize(rest))) : "";
    const offset = `+${((e.at.getTime() - t0) / 1000).toFixed(3)}s`;
    lines.push(
      `${String(e.seq).padStart(4)}  ${e.at.toISOString()}  ${offset.padStart(10)}  ${String(type ?? "?").padEnd(22)} ${
        detail.length > 160 ? `${detail.slice(0, 157)}...` : detail
      }`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Customer data in events (submitted values, inputs, recipient, results) shows as its field names only. */
const CUSTOMER_DATA = new Set(["values", "inputs", "recipient", "result", "profile", "program", "customer"]);
function summarize(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) =>
      CUSTOMER_DATA.has(k) && v && typeof v === "object" ? [k, `{${Object.keys(v).join(",")}}`] : [k, v],
    ),
  );
}

async function liveReports(io: Io): Promise<NodeReport[]> {
  const servers = process.env.NATS_URL;
  if (!servers) return [];
  try {
    const nc = await connectNats({ servers: servers.split(","), name: "linkflow-cli", timeout: 3000 });
    try {
      return await collectNodeReports(nc);
    } finally {
      await nc.close();
    }
  } catch (err) {
    io.err(`warning: no live reports from NATS (${err instanceof Error ? err.message : String(err)})\n`);
    return [];
  }
}

const cluster: Command = {
  summary: "cluster operations (status)",
  usage: "linkflow cluster status",
  subcommands: {
    status: {
      summary: "nodes, shards, owners, epochs, active actors and timer lag (DATABASE_URL, optional NATS_URL)",
      usage: "linkflow cluster status",
      run: (_args, io) =>
        withDatabase(io, async (sql) => {
          io.out(await clusterStatus(sql, await liveReports(io)));
          return 0;
        }),
    },
  },
};

const workflow: Command = {
  summary: "workflow operations (show)",
  usage: "linkflow workflow show <id>",
  subcommands: {
    show: {
      summary: "a workflow's timeline from its journal (DATABASE_URL)",
      usage: "linkflow workflow show <id>",
      async run(args, io) {
        const id = args[0];
        if (id === undefined || args.length !== 1) return usageError(io, this.usage);
        return withDatabase(io, async (sql) => {
          const text = await workflowTimeline(sql, id);
          if (text === undefined) {
            io.err(`error: no journal for ${id}\n`);
            return 1;
          }
          io.out(text);
          return 0;
        });
      },
    },
  },
};

/** The keyring from LINKFLOW_ENCRYPTION_KEYS / LINKFLOW_ENCRYPTION_KEY_ID, or a message saying what is wrong. */
function keyringOrError(io: Io): Keyring | undefined {
  try {
    const keyring = keyringFromEnv(process.env);
    if (!keyring)
      io.err("error: set LINKFLOW_ENCRYPTION_KEYS (and LINKFLOW_ENCRYPTION_KEY_ID) to the nodes' keyring\n");
    return keyring;
  } catch (err) {
    io.err(`error: ${err instanceof Error ? err.message : "the keyring is not valid"}\n`);
    return undefined;
  }
}

const keys: Command = {
  summary: "encryption keys at rest (status, reencrypt)",
  usage: "linkflow keys status | linkflow keys reencrypt [--batch N]",
  subcommands: {
    status: {
      summary: "sealed values by table and key, and which keys can be retired (DATABASE_URL, keyring env)",
      usage: "linkflow keys status",
      run: (_args, io) => {
        const keyring = keyringOrError(io);
        if (!keyring) return Promise.resolve(2);
        return withDatabase(io, async (sql) => {
          io.out(await keysStatus(sql, keyring));
          return 0;
        });
      },
    },
    reencrypt: {
      summary: "seal every value again under the current key, so older keys can be retired",
      usage: "linkflow keys reencrypt [--batch N]",
      async run(args, io) {
        const at = args.indexOf("--batch");
        const batch = at >= 0 ? Number(args[at + 1]) : undefined;
        if (
          (batch !== undefined && (!Number.isInteger(batch) || batch < 1 || batch > 10_000)) ||
          args.length !== (at >= 0 ? 2 : 0)
        )
          return usageError(io, this.usage);
        const keyring = keyringOrError(io);
        if (!keyring) return 2;
        return withDatabase(io, async (sql) => {
          const reports = await reencryptAll(sql, keyring, batch);
          io.out(formatReencryption(reports));
          return reports.some((r) => r.failed.length > 0) ? 1 : 0;
        });
      },
    },
  },
};

const diagrams: Command = {
  summary: "write the template grammar as railroad diagrams (HTML)",
  usage: "linkflow diagrams [OUT.html]",
  async run(args, io) {
    const html = renderSyntaxDiagrams();
    const out = args.find((a) => !a.startsWith("-"));
    if (out) {
      await writeFile(out, html);
      io.out(`${out}\n`);
    } else io.out(html);
    return 0;
  },
};

export const commands: Record<string, Command> = { check, fmt, graph, diagrams, cluster, workflow, keys };

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
