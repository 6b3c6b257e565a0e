import { readdirSync, readFileSync } from "node:fs";

/** CPU ticks per second as Linux reports them in /proc (USER_HZ). */
const TICKS_PER_S = 100;

/** user + system ticks and parent pid of a process, from /proc/<pid>/stat; undefined when gone or not Linux. */
function stat(pid: number): { ticks: number; ppid: number } | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ")".
    const f = raw.slice(raw.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by a process and, with `children`, by its direct
 * children too (Postgres: the postmaster and its backends). Children that
 * already exited are not counted, so read it while the work's processes live.
 */
export function cpuSeconds(pid: number, opts: { children?: boolean } = {}): number {
  let ticks = stat(pid)?.ticks ?? 0;
  if (opts.children) {
    let entries: string[] = [];
    try {
      entries = readdirSync("/proc");
    } catch {
      return ticks / TICKS_PER_S;
    }
    for (const e of entries) {
      if (!/^\d+$/.test(e)) continue;
      const s = stat(Number(e));
      if (s && s.ppid === pid) ticks += s.ticks;
    }
  }
  return ticks / TICKS_PER_S;
}
