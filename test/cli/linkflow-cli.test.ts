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

  it("diagrams writes the grammar as railroad diagrams", () => {
    const r = linkflow("diagrams");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("<!DOCTYPE html>");
    expect(r.stdout).toMatch(/serializedGrammar/);
  });
});
