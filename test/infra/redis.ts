import net from "node:net";
import { freePort, sleep } from "./net.ts";
import { spawnTracked } from "./procs.ts";

const REDIS_BIN = process.env.REDIS_SERVER_PATH ?? "redis-server";

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
    sock.once("error", () => done(false));
  });
}

/** A throwaway redis-server on 127.0.0.1 (no persistence). Resolves once it answers PING. */
export async function startRedis(): Promise<{
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}> {
  let lastErr: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawnTracked(REDIS_BIN, [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--protected-mode",
      "yes",
    ]);
    const deadline = Date.now() + 20_000;
    let ok = false;
    while (!ok) {
      if (proc.exited()) {
        lastErr = new Error(`redis-server exited during startup:\n${proc.output()}`);
        break;
      }
      if (Date.now() > deadline) {
        await proc.kill("SIGKILL");
        throw new Error(`redis-server did not answer PING in time:\n${proc.output()}`);
      }
      ok = await ping(port);
      if (!ok) await sleep(50);
    }
    if (!ok) {
      if (/address already in use/i.test(lastErr?.message ?? "")) continue;
      break;
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      pid: proc.pid,
      stop: () => proc.kill("SIGTERM", 3_000),
    };
  }
  throw lastErr ?? new Error("redis-server failed to start");
}
