import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out.sort();
}

describe("proto/gen", () => {
  let tmp = "";
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("is what `npm run proto` generates from the committed .proto files", async () => {
    tmp = await mkdtemp(join(tmpdir(), "linkflow-proto-"));
    await run("bash", [join(root, "proto", "generate.sh"), tmp]);
    const committed = join(root, "proto", "gen");
    const fresh = join(tmp, "gen");
    const committedFiles = (await listFiles(committed)).map((f) => relative(committed, f));
    const freshFiles = (await listFiles(fresh)).map((f) => relative(fresh, f));
    expect(committedFiles, "files in proto/gen (run `npm run proto`)").toEqual(freshFiles);
    for (const f of freshFiles) {
      const [a, b] = await Promise.all([
        readFile(join(committed, f), "utf8"),
        readFile(join(fresh, f), "utf8"),
      ]);
      expect(a === b, `proto/gen/${f} is stale: run \`npm run proto\``).toBe(true);
    }
  });
});
