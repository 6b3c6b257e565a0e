import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../infra/index.ts";

const root = new URL("../../", import.meta.url).pathname;

interface Started {
  proc: ChildProcess;
  out: () => string;
}

function start(dataDir: string, grpcPort: number, httpPort: number): Started {
  let out = "";
  const proc = spawn(process.execPath, ["--import", "tsx", "bin/start.ts"], {
    cwd: root,
    env: {
      ...process.env,
      LINKFLOW_DATA_DIR: dataDir,
      LINKFLOW_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
      LINKFLOW_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      LINKFLOW_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout?.on("data", (d) => {
    out += String(d);
  });
  proc.stderr?.on("data", (d) => {
    out += String(d);
  });
  return { proc, out: () => out };
}

async function healthCheck(addr: string): Promise<string> {
  const Client = makeGenericClientConstructor(healthService, "Health");
  const client = new Client(addr, credentials.createInsecure()) as unknown as {
    check(
      req: { service: string },
      opts: { deadline: number },
      cb: (e: Error | null, r: { status: string }) => void,
    ): void;
    close(): void;
  };
  try {
    return await new Promise((resolve, reject) =>
      client.check({ service: "" }, { deadline: Date.now() + 1000 }, (e, r) =>
        e ? reject(e) : resolve(r.status),
      ),
    );
  } finally {
    client.close();
  }
}

async function waitServing(addr: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      if ((await healthCheck(addr)) === "SERVING") return Date.now() - t0;
    } catch {}
    if (Date.now() - t0 > timeoutMs) throw new Error(`not SERVING after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stop(s: Started): Promise<number | null> {
  if (s.proc.exitCode !== null) return s.proc.exitCode;
  const exited = new Promise<number | null>((r) => s.proc.once("exit", (code) => r(code)));
  s.proc.kill("SIGINT");
  const timer = setTimeout(() => s.proc.kill("SIGKILL"), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

describe("npm start (the embedded default)", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("boots with no Postgres running, answers health SERVING, prints the demo command, stops on Ctrl-C and keeps its data", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "linkflow-start-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const grpcPort = await freePort();
    const httpPort = await freePort();

    const first = start(dataDir, grpcPort, httpPort);
    cleanup.push(() => stop(first));
    const ms = await waitServing(`127.0.0.1:${grpcPort}`, 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}; output:\n${first.out()}`);
    });
    expect(ms).toBeLessThan(30_000);
    await expect.poll(first.out, { timeout: 10_000 }).toContain("npx tsx examples/create-workflow.ts");
    const key = /API key\s+(lf_test_\S+)/.exec(first.out())?.[1];
    expect(key).toBeDefined();
    const outbox = await fetch(`http://127.0.0.1:${httpPort}/dev/outbox`);
    expect(outbox.status).toBe(200);
    expect(await first.out()).not.toMatch(/\n\s+at .*\.ts:\d+/);
    expect(await stop(first)).toBe(0);
    await expect(healthCheck(`127.0.0.1:${grpcPort}`)).rejects.toBeDefined();

    // A second start finds the same demo business and key in the data directory.
    const second = start(dataDir, grpcPort, httpPort);
    cleanup.push(() => stop(second));
    await waitServing(`127.0.0.1:${grpcPort}`, 30_000);
    await expect.poll(second.out, { timeout: 10_000 }).toContain("API key");
    expect(/API key\s+(lf_test_\S+)/.exec(second.out())?.[1]).toBe(key);
    expect(await stop(second)).toBe(0);
  });
});
