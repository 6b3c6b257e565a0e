import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, makeGenericClientConstructor, status } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, launchChromium, saveScreenshot } from "../infra/index.ts";

const root = new URL("../../", import.meta.url).pathname;

/** The embedded default must not see a database, broker or provider the CI machine may have configured. */
function withoutExternalInfrastructure(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of Object.keys(out)) {
    if (/^(DATABASE_URL|NATS_URL|REDIS_URL|SMTP_URL|TWILIO_|LINKFLOW_|OTEL_)/.test(k)) delete out[k];
  }
  return out;
}

interface Started {
  proc: ChildProcess;
  out: () => string;
}

function start(dataDir: string, grpcPort: number, httpPort: number): Started {
  let out = "";
  const proc = spawn(process.execPath, ["--import", "tsx", "bin/start.ts"], {
    cwd: root,
    env: {
      ...withoutExternalInfrastructure(process.env),
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
    expect(ms).toBeLessThan(30_000); // well within the 30 s the README promises (waitServing gives up there)
    await expect.poll(first.out, { timeout: 10_000 }).toContain("npx tsx examples/create-workflow.ts");
    const key = /API key\s+(lf_test_\S+)/.exec(first.out())?.[1];
    expect(key).toBeDefined();
    // The printed demo command starts a workflow whose link shows up in the dev outbox…
    const command =
      /(LINKFLOW_API_KEY=\S+ LINKFLOW_GRPC_ADDR=\S+) npx tsx (examples\/create-workflow\.ts .*)/.exec(
        first.out(),
      );
    expect(command).not.toBeNull();
    const env = Object.fromEntries(command![1]!.split(" ").map((kv) => kv.split("=") as [string, string]));
    const demo = spawnSync(
      process.execPath,
      ["--import", "tsx", ...command![2]!.trim().split(/\s+/), "--once"],
      {
        cwd: root,
        env: { ...withoutExternalInfrastructure(process.env), ...env },
        encoding: "utf8",
      },
    );
    expect(demo.status).toBe(0);
    const link = /link\s+(http\S+\/l\/[A-Za-z0-9_-]+)/.exec(demo.stdout)?.[1];
    expect(link).toBeDefined();
    await expect
      .poll(async () =>
        (await (await fetch(`http://127.0.0.1:${httpPort}/dev/outbox`)).text()).includes(`href="${link}"`),
      )
      .toBe(true);
    // …and can be completed in a browser.
    const browser = await launchChromium();
    try {
      const page = await browser.newPhonePage();
      await page.goto(`http://127.0.0.1:${httpPort}/dev/outbox`);
      await page.locator(`a[href="${link}"]`).first().click();
      await page.waitForURL(link!);
      await page.getByLabel("First name").fill("Demo");
      await page.getByLabel("Last name").fill("Customer");
      await page.getByRole("button", { name: "Continue" }).click();
      await page.waitForSelector("h1.done", { timeout: 15_000 });
      await saveScreenshot(page, "npm-start-demo-done");
    } finally {
      await browser.close();
    }
    expect(await first.out()).not.toMatch(/\n\s+at .*\.ts:\d+/);
    expect(await stop(first)).toBe(0);
    // Stopped means nobody answers on the port any more.
    const gone = (await healthCheck(`127.0.0.1:${grpcPort}`).catch((e: unknown) => e)) as { code?: number };
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(gone.code);

    // A second start finds the same demo business and key in the data directory.
    const second = start(dataDir, grpcPort, httpPort);
    cleanup.push(() => stop(second));
    await waitServing(`127.0.0.1:${grpcPort}`, 30_000);
    await expect.poll(second.out, { timeout: 10_000 }).toContain("API key");
    expect(/API key\s+(lf_test_\S+)/.exec(second.out())?.[1]).toBe(key);
    expect(await stop(second)).toBe(0);
  });
});
