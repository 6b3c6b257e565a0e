import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

/**
 * Every child process the harness starts is tracked here. A process `exit`
 * handler SIGKILLs whatever is still alive so nothing outlives the test run,
 * even when a test or a setup step fails halfway.
 */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** Everything the process wrote to stdout and stderr, for error messages. */
  output(): string;
  exited(): boolean;
  /** Resolves once the process has exited (immediately if it already has). */
  waitForExit(timeoutMs?: number): Promise<void>;
  /** Sends `signal` and waits for exit; escalates to SIGKILL after `graceMs`. */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Spawns a tracked child. `onOutput` sees every chunk of stdout/stderr. */
export function spawnTracked(
  command: string,
  args: string[],
  opts: SpawnOptions & { onOutput?: (chunk: string) => void } = {},
): Spawned {
  installExitHook();
  const { onOutput, ...spawnOpts } = opts;
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...spawnOpts });
  let out = "";
  const append = (buf: Buffer): void => {
    const s = buf.toString("utf8");
    out += s;
    if (out.length > 200_000) out = out.slice(-100_000);
    onOutput?.(s);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  let hasExited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once("exit", () => {
      hasExited = true;
      live.delete(child);
      resolve();
    });
    child.once("error", (err) => {
      out += `\n[spawn error] ${err.message}`;
      hasExited = true;
      live.delete(child);
      resolve();
    });
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (e.g. ENOENT); the 'error' event follows.
    hasExited = true;
  } else {
    live.add(child);
  }
  const waitForExit = async (timeoutMs = 10_000): Promise<void> => {
    if (hasExited) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      exitPromise,
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${command} (pid ${child.pid}) did not exit within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  };
  return {
    child,
    pid: child.pid ?? -1,
    output: () => out,
    exited: () => hasExited,
    waitForExit,
    async kill(signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<void> {
      if (hasExited) return;
      try {
        child.kill(signal);
      } catch {
        // ignore
      }
      if (signal === "SIGKILL") {
        await waitForExit(10_000);
        return;
      }
      try {
        await waitForExit(graceMs);
      } catch {
        child.kill("SIGKILL");
        await waitForExit(10_000);
      }
    },
  };
}

/** True when a process with this pid exists (signal 0 probe). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Shared implementation of every `waitFor…`: resolves with the first recorded
 * item matching `pred` (already received or arriving later); rejects after
 * `timeoutMs` with an error that lists everything that did arrive.
 */
export function waitForItem<T>(
  what: string,
  items: T[],
  subscribe: (listener: () => void) => () => void,
  pred: (item: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const check = (): boolean => {
      const hit = items.find(pred);
      if (hit !== undefined) {
        cleanup();
        resolve(hit);
        return true;
      }
      return false;
    };
    const unsubscribe = subscribe(() => {
      check();
    });
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `Timed out after ${timeoutMs} ms waiting for a matching ${what}; received ${items.length}:\n${JSON.stringify(items, null, 2)}`,
        ),
      );
    }, timeoutMs);
    function cleanup(): void {
      clearTimeout(timer);
      unsubscribe();
    }
    check();
  });
}

/** A tiny change notifier used by the recording servers. */
export class Notifier {
  private readonly listeners = new Set<() => void>();
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
  notify(): void {
    for (const l of [...this.listeners]) l();
  }
}
