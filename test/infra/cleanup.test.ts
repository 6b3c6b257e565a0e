import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { launchChromium, startNats, startPostgres, startRedis } from "./index.ts";
import { pidAlive } from "./procs.ts";

describe("harness cleanup", () => {
  it("leaves no spawned process alive after stop()", async () => {
    const nats = await startNats({ nodes: 2 });
    const redis = await startRedis();
    const pg = await startPostgres();
    const chrome = await launchChromium();
    const pids = [...nats.nodes.map((n) => n.pid), redis.pid, pg.pid, chrome.pid];
    for (const pid of pids) {
      expect(pid).toBeGreaterThan(0);
      expect(pidAlive(pid)).toBe(true);
    }
    await Promise.all([nats.stop(), redis.stop(), pg.stop(), chrome.close()]);
    for (const pid of pids) {
      expect(() => process.kill(pid, 0), `pid ${pid} still alive`).toThrow();
    }
  });

  it("stop() after a node was SIGKILLed still works", async () => {
    const nats = await startNats({ nodes: 2 });
    const [a, b] = nats.nodes;
    await a?.kill();
    expect(pidAlive(a?.pid ?? -1)).toBe(false);
    expect(pidAlive(b?.pid ?? -1)).toBe(true);
    await nats.stop();
    expect(pidAlive(b?.pid ?? -1)).toBe(false);
  });

  it("reaps servers of a test process that dies by SIGKILL", async () => {
    const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "orphan-maker.ts");
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.once("exit", (_c, s) => resolve(s)),
    );
    expect(signal, err).toBe("SIGKILL");
    const { pids } = JSON.parse(out.trim()) as { pids: number[] };
    expect(pids).toHaveLength(2);
    await expect.poll(() => pids.filter(pidAlive), { timeout: 10_000, interval: 100 }).toEqual([]);
  });
});
