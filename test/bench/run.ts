/**
 * Benchmark runner. `npm run bench` runs every suite; `npm run bench -- <suite>`
 * runs one. A suite is `test/bench/<suite>.ts` exporting
 * `default async function run(emit)`. Figures go to stdout as one JSON object
 * per line; progress goes to stderr.
 */
import { readdirSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface Figure {
  bench: string;
  value: number;
  unit: string;
  [k: string]: unknown;
}
export type Emit = (figure: Figure) => void;

const dir = fileURLToPath(new URL(".", import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.endsWith(".test.ts") && !f.endsWith(".d.ts"))
  .map((f) => basename(f, ".ts"))
  .sort();

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
for (const w of wanted) {
  if (!available.includes(w)) {
    process.stderr.write(`unknown bench suite "${w}"; available: ${available.join(", ")}\n`);
    process.exit(2);
  }
}

const emit: Emit = (figure) => process.stdout.write(`${JSON.stringify(figure)}\n`);
let failed = false;
for (const suite of wanted.length > 0 ? wanted : available) {
  process.stderr.write(`bench: ${suite}…\n`);
  const started = performance.now();
  try {
    const mod = (await import(pathToFileURL(`${dir}${suite}.ts`).href)) as {
      default?: (emit: Emit) => Promise<void>;
    };
    if (typeof mod.default !== "function") throw new Error("the module has no default export `run(emit)`");
    await mod.default(emit);
    process.stderr.write(`bench: ${suite} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  } catch (err) {
    failed = true;
    process.stderr.write(`bench: ${suite} failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
