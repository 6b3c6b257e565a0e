import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;
const linkflow = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "bin/linkflow.ts", ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, DATABASE_URL: "", NATS_URL: "" },
  });

describe("the linkflow CLI", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("check passes on every example template", async () => {
    const files = (await readdir(join(root, "examples")))
      .filter((f) => f.endsWith(".flow"))
      .map((f) => `examples/${f}`);
    expect(files.length).toBeGreaterThanOrEqual(5);
    const r = linkflow("check", ...files);
    expect(r.stderr + r.stdout).not.toMatch(/error\[/);
    expect(r.status).toBe(0);
  });

  it("a broken copy of an example prints a diagnostic with line, column, caret and hint, and exits 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "linkflow-cli-"));
    dirs.push(dir);
    const src = await readFile(join(root, "examples/onboard_and_pay.flow"), "utf8");
    const broken = join(dir, "broken.flow");
    await writeFile(broken, src.replace("step terms", "step bank"));
    const r = linkflow("check", broken);
    const out = r.stdout + r.stderr;
    expect(r.status).toBe(1);
    expect(out).toMatch(/error\[LF\d{4}\]/);
    expect(out).toMatch(/broken\.flow:\d+:\d+/);
    expect(out).toContain("^");
    expect(out).toMatch(/hint/i);
    expect(out).not.toMatch(/\n\s+at .+\.ts:\d+/);
  });

  it("fmt --check passes on the examples and graph draws the steps", () => {
    expect(linkflow("fmt", "--check", "examples/welcome.flow").status).toBe(0);
    const g = linkflow("graph", "examples/onboard_and_pay.flow");
    expect(g.status).toBe(0);
    expect(g.stdout).toMatch(/payout/);
  });

  it("lists the SRE commands, and says what they need instead of failing obscurely", () => {
    const help = linkflow("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^ {2}cluster +cluster operations/m);
    expect(help.stdout).toMatch(/^ {2}workflow +workflow operations/m);
    expect(linkflow("cluster", "--help").stdout).toMatch(
      /status +nodes, shards, owners, epochs, active actors and timer lag/,
    );
    const status = linkflow("cluster", "status");
    expect(status.status).toBe(2);
    expect(status.stderr).toBe("error: set DATABASE_URL to the cluster's PostgreSQL\n");
    const show = linkflow("workflow", "show");
    expect(show.status).toBe(2);
    expect(show.stderr).toBe("usage: linkflow workflow show <id>\n");
    expect(linkflow("workflow", "show", "wf_1").stderr).toMatch(/set DATABASE_URL/);
  });

  it("diagrams writes the grammar as railroad diagrams", () => {
    const r = linkflow("diagrams");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("<!DOCTYPE html>");
    expect(r.stdout).toMatch(/serializedGrammar/);
  });
});
