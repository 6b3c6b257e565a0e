import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort, sleep, waitForTcp } from "./net.ts";
import { removeWithParent, type Spawned, spawnTracked } from "./procs.ts";

export interface NatsNode {
  url: string;
  port: number;
  pid: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Extra details of a started node, beyond the public NatsNode contract. */
export interface NatsNodeDetails extends NatsNode {
  name: string;
  monitorUrl: string;
  clusterPort?: number;
  storeDir: string;
}

const NATS_BIN = process.env.NATS_SERVER_PATH ?? "nats-server";

interface Plan {
  name: string;
  port: number;
  mport: number;
  cport: number;
  dir: string;
}

function config(p: Plan, all: Plan[], clustered: boolean): string {
  const lines = [
    `server_name: ${p.name}`,
    `listen: "127.0.0.1:${p.port}"`,
    `http: "127.0.0.1:${p.mport}"`,
    "jetstream {",
    `  store_dir: ${JSON.stringify(path.join(p.dir, "js"))}`,
    "  max_memory_store: 256MB",
    "  max_file_store: 1GB",
    "}",
  ];
  if (clustered) {
    const routes = all.filter((o) => o !== p).map((o) => `    "nats-route://127.0.0.1:${o.cport}"`);
    lines.push(
      "cluster {",
      "  name: linkflow_test",
      `  listen: "127.0.0.1:${p.cport}"`,
      "  routes: [",
      ...routes,
      "  ]",
      "}",
    );
  }
  return `${lines.join("\n")}\n`;
}

async function removeDirs(dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
  for (const d of dirs) removeWithParent(d)();
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

async function tryStart(
  count: number,
): Promise<{ nodes: NatsNodeDetails[]; procs: Spawned[]; dirs: string[] }> {
  const clustered = count > 1;
  const plans: Plan[] = [];
  const procs: Spawned[] = [];
  const dirs: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "linkflow-nats-"));
      dirs.push(dir);
      removeWithParent(dir);
      plans.push({
        name: `n${i + 1}`,
        port: await freePort(),
        mport: await freePort(),
        cport: await freePort(),
        dir,
      });
    }
    for (const p of plans) {
      const conf = path.join(p.dir, "nats.conf");
      await fs.writeFile(conf, config(p, plans, clustered));
      procs.push(spawnTracked(NATS_BIN, ["-c", conf]));
    }
    const deadline = Date.now() + 30_000;
    for (const [i, p] of plans.entries()) {
      const proc = procs[i]!;
      await waitForTcp(p.port, {
        timeoutMs: 20_000,
        abort: () =>
          proc.exited() ? `nats-server ${p.name} exited during startup:\n${proc.output()}` : undefined,
      });
    }
    // Routes fully meshed, and JetStream healthy (meta leader elected in a cluster).
    for (const [i, p] of plans.entries()) {
      const proc = procs[i]!;
      for (;;) {
        if (proc.exited()) throw new Error(`nats-server ${p.name} exited during startup:\n${proc.output()}`);
        let ready = false;
        let state = "";
        try {
          const routes = clustered ? await getJson(`http://127.0.0.1:${p.mport}/routez`) : undefined;
          const numRoutes = Number(routes?.body.num_routes ?? 0);
          const health = await getJson(`http://127.0.0.1:${p.mport}/healthz`);
          const jsz = await getJson(`http://127.0.0.1:${p.mport}/jsz`);
          const meta = jsz.body.meta_cluster as { leader?: string } | undefined;
          state = `routes=${numRoutes} healthz=${health.status} ${JSON.stringify(health.body)} meta=${JSON.stringify(meta)}`;
          ready =
            health.status === 200 &&
            (!clustered ||
              (numRoutes >= count - 1 && typeof meta?.leader === "string" && meta.leader !== ""));
        } catch (err) {
          state = String(err);
        }
        if (ready) break;
        if (Date.now() > deadline) {
          throw new Error(`nats-server ${p.name} not ready in time (${state}):\n${proc.output()}`);
        }
        await sleep(100);
      }
    }
  } catch (err) {
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    await removeDirs(dirs);
    throw err;
  }
  const nodes = plans.map((p, i): NatsNodeDetails => {
    const proc = procs[i]!;
    return {
      name: p.name,
      url: `nats://127.0.0.1:${p.port}`,
      port: p.port,
      pid: proc.pid,
      monitorUrl: `http://127.0.0.1:${p.mport}`,
      ...(clustered ? { clusterPort: p.cport } : {}),
      storeDir: path.join(p.dir, "js"),
      kill: (signal: NodeJS.Signals = "SIGKILL") => proc.kill(signal, 5_000),
    };
  });
  return { nodes, procs, dirs };
}

/**
 * One nats-server, or a cluster of `nodes` fully routed servers (cluster
 * `linkflow_test`, server names n1…nN). JetStream is on with a store dir per
 * node in the OS temp dir; the HTTP monitoring port is on (see `monitorUrl` on
 * the returned nodes). Resolves once every node accepts clients, routes are
 * meshed and JetStream has a meta leader. `node.kill()` defaults to SIGKILL.
 */
export async function startNats(opts: { nodes?: number } = {}): Promise<{
  urls: string[];
  nodes: NatsNodeDetails[];
  stop(): Promise<void>;
}> {
  const count = Math.max(1, opts.nodes ?? 1);
  let started: Awaited<ReturnType<typeof tryStart>> | undefined;
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    try {
      started = await tryStart(count);
    } catch (err) {
      lastErr = err;
      // Retry only for a lost port race.
      if (!/address already in use/i.test(String(err))) break;
    }
  }
  if (!started) throw lastErr;
  const { nodes, procs, dirs } = started;
  return {
    urls: nodes.map((n) => n.url),
    nodes,
    async stop() {
      await Promise.all(procs.map((p) => p.kill("SIGTERM", 3_000)));
      await removeDirs(dirs);
    },
  };
}
