import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

/**
 * Every child process the harness starts is tracked here, twice over:
 * - a process `exit` handler SIGKILLs whatever is still alive;
 * - a detached watchdog shell (one per Node process) is told each pid on its
 *   stdin; when this process dies in any way (including SIGKILL/SIGTERM, which
 *   skip `exit` handlers, e.g. when vitest tears down a worker) its stdin hits
 *   EOF and it SIGKILLs every pid it still knows. So nothing outlives the run,
 *   even when a test forgets to stop a server or setup fails halfway.
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

const WATCHDOG_SCRIPT = `
pids=""
while IFS= read -r line; do
  case "$line" in
    +*) pids="$pids \${line#+}" ;;
    -*) rm="\${line#-}"; keep=""; for p in $pids; do [ "$p" = "$rm" ] || keep="$keep $p"; done; pids="$keep" ;;
  esac
done
for p in $pids; do
  case "$p" in
    g*) kill -9 -- "-\${p#g}" 2>/dev/null ;;
    d*) ;;
    *) kill -9 "$p" 2>/dev/null ;;
  esac
done
sleep 0.2
for p in $pids; do
  case "$p" in
    d*) rm -rf -- "\${p#d}" 2>/dev/null ;;
  esac
done
`;

let watchdog: ChildProcess | null | undefined;

function watchdogWrite(line: string): void {
  if (watchdog === undefined) {
    try {
      const w = spawn("/bin/sh", ["-c", WATCHDOG_SCRIPT], {
        detached: true,
        stdio: ["pipe", "ignore", "ignore"],
      });
      w.on("error", () => {
        watchdog = null;
      });
      w.stdin?.on("error", () => {});
      w.unref();
      (w.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      watchdog = w;
    } catch {
      watchdog = null;
    }
  }
  if (watchdog?.stdin?.writable) watchdog.stdin.write(`${line}\n`);
}

/**
 * Registers a temporary directory to be removed by the watchdog if this process
 * dies before removing it itself (paths with whitespace are not supported and
 * silently skipped). Returns the unregister function.
 */
export function removeWithParent(dir: string): () => void {
  if (/\s/.test(dir) || !dir.startsWith("/")) return () => {};
  watchdogWrite(`+d${dir}`);
  return () => watchdogWrite(`-d${dir}`);
}

/**
 * Registers a pid (or, with `group`, the process group it leads) with the
 * watchdog so it is SIGKILLed if this process dies. Returns the unregister function.
 */
export function killWithParent(pid: number, opts: { group?: boolean } = {}): () => void {
  if (!(pid > 0)) return () => {};
  const token = opts.group ? `g${pid}` : String(pid);
  watchdogWrite(`+${token}`);
  return () => watchdogWrite(`-${token}`);
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
  const unwatch = child.pid === undefined ? () => {} : killWithParent(child.pid);
  const exitPromise = new Promise<void>((resolve) => {
    child.once("exit", () => {
      hasExited = true;
      live.delete(child);
      unwatch();
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
