import { type ChildProcess, spawn } from "node:child_process";
import type { NodeConfig } from "../../gateway/node/index.ts";

/** What a node in its own process reports once it serves. */
export interface NodeChildInfo {
  nodeId: string;
  grpcAddress: string;
  httpAddress: string;
  internalAddress: string;
  publicBaseUrl: string;
  pid: number;
}

export interface NodeChild {
  child: ChildProcess;
  info: NodeChildInfo;
  /** Everything the process wrote to stdout and stderr so far (only with `captureOutput`). */
  output(): string;
  /** SIGTERM (graceful drain, spans flushed), then SIGKILL after 10 s. Idempotent. */
  stop(): Promise<void>;
}

const root = new URL("../../", import.meta.url).pathname;

/**
 * Starts a Linkflow node in its own process (test/support/node-process.ts),
 * for tests and benchmarks that kill nodes, must not share their CPU, or
 * observe a node from outside (its traces, its logs). Logs go to this
 * process's stderr unless `captureOutput`, which keeps them for `output()`.
 */
export function spawnNode(
  cfg: NodeConfig,
  opts: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv; captureOutput?: boolean } = {},
): Promise<NodeChild> {
  const child = spawn(
    process.execPath,
    // The flags `npm start` runs a node with (package.json), so benchmarks measure what production runs.
    ["--max-semi-space-size=64", ...(opts.nodeArgs ?? []), "--import", "tsx", "test/support/node-process.ts"],
    {
      cwd: root,
      env: {
        ...process.env,
        LINKFLOW_LOG_LEVEL: "error",
        ...opts.env,
        LINKFLOW_TEST_NODE_CONFIG: JSON.stringify(cfg),
      },
      stdio: ["ignore", "pipe", opts.captureOutput ? "pipe" : "inherit"],
    },
  );
  const captured: Buffer[] = [];
  if (opts.captureOutput) {
    child.stdout?.on("data", (d: Buffer) => captured.push(d));
    child.stderr?.on("data", (d: Buffer) => captured.push(d));
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node did not start: ${buf}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      buf += String(d);
      const m = /READY (.*)\n/.exec(buf);
      if (m?.[1]) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        // Keep draining stdout so a chatty child never blocks on a full pipe.
        if (!opts.captureOutput) child.stdout?.resume();
        resolve({
          child,
          info: JSON.parse(m[1]) as NodeChildInfo,
          output: () => Buffer.concat(captured).toString("utf8"),
          stop,
        });
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code}: ${buf}${Buffer.concat(captured).toString("utf8")}`));
    });
  });
}
