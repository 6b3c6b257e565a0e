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
});
