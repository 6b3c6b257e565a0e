/**
 * `npm start`: the embedded default. One node on this machine with embedded
 * Postgres (data under .linkflow/), the local transport, every service, the
 * public gRPC API and the customer page, a dev outbox instead of Twilio/SMTP
 * (unless configured), the example templates and a demo business.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect, createLogger, setupTracing } from "../core/index.ts";
import {
  bootstrapBusiness,
  configFromEnv,
  createApiKey,
  loadTemplates,
  startNode,
} from "../gateway/node/index.ts";
import { verifyWebhookSignature } from "../services/notifications/index.ts";
import { startEmbeddedPostgres } from "../test/infra/postgres.ts";

interface LocalState {
  linkSecret: string;
  /** Key encrypting account numbers at rest in the embedded default (id k1). */
  encryptionKey?: string;
  demo?: {
    businessId: string;
    apiKey: string;
    webhookSecret: string;
    consoleEmail?: string;
    consolePassword?: string;
  };
}

const log = createLogger({ component: "start" });
const dataDir = resolve(process.env.LINKFLOW_DATA_DIR || ".linkflow");

async function loadState(): Promise<LocalState> {
  const file = join(dataDir, "state.json");
  if (existsSync(file)) return JSON.parse(await readFile(file, "utf8")) as LocalState;
  const s: LocalState = { linkSecret: randomBytes(32).toString("base64url") };
  await writeFile(file, JSON.stringify(s, null, 2), { mode: 0o600 });
  return s;
}

async function saveState(s: LocalState): Promise<void> {
  await writeFile(join(dataDir, "state.json"), JSON.stringify(s, null, 2), { mode: 0o600 });
}

async function embeddedDatabase(): Promise<{ url: string; stop(): Promise<void> }> {
  let pgDir = join(dataDir, "pg");
  let pg: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  try {
    pg = await startEmbeddedPostgres({ dataDir: pgDir, persistent: true });
  } catch (err) {
    if (!String((err as Error).message).includes("cannot reach")) throw err;
    // Running as root in a home the server's OS user cannot enter: keep the data in the temp dir instead.
    pgDir = join(tmpdir(), `linkflow-data-${Buffer.from(dataDir).toString("base64url").slice(-16)}`, "pg");
    process.stderr.write(`note: PostgreSQL cannot reach ${dataDir}; its data lives in ${pgDir}\n`);
    pg = await startEmbeddedPostgres({ dataDir: pgDir, persistent: true });
  }
  const admin = connect(pg.adminUrl, { max: 1 });
  const exists = await admin`select 1 from pg_database where datname = 'linkflow'`;
  if (exists.length === 0) await admin.unsafe("create database linkflow");
  await admin.end();
  return { url: pg.adminUrl.replace(/\/postgres$/, "/linkflow"), stop: () => pg.stop() };
}

async function main(): Promise<void> {
  const started = Date.now();
  await mkdir(dataDir, { recursive: true });
  const tracing = setupTracing();
  const state = await loadState();
  if (!state.encryptionKey) {
    state.encryptionKey = randomBytes(32).toString("base64");
    await saveState(state);
  }
  const db = process.env.DATABASE_URL ? undefined : await embeddedDatabase();
  const cfg = configFromEnv(process.env, {
    databaseUrl: process.env.DATABASE_URL || db!.url,
    linkSecret: process.env.LINKFLOW_LINK_SECRET || state.linkSecret,
    keyring: { currentKeyId: "k1", keys: { k1: state.encryptionKey } },
  });
  const node = await startNode(cfg);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping…\n`);
    await node.stop();
    await db?.stop();
    await tracing.shutdown();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));

  const templates = await loadTemplates(node.templates, new URL("../examples/", import.meta.url).pathname);

  // The demo business's webhooks land on a receiver in this process, shown on the outbox page.
  node.httpRoutes.set("/dev/webhooks", async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const sig = String(req.headers["linkflow-signature"] ?? "");
    const verified = !!state.demo && verifyWebhookSignature(sig, body, [state.demo.webhookSecret]);
    let type = "?";
    try {
      type = (JSON.parse(body) as { type?: string }).type ?? "?";
    } catch {}
    node.devWebhooks.push({ at: Date.now(), type, body, verified });
    if (node.devWebhooks.length > 200) node.devWebhooks.shift();
    res.writeHead(verified ? 200 : 400).end();
  });
  if (!state.demo) {
    const b = await bootstrapBusiness(node.internalAddress, {
      name: "Demo Business",
      webhookUrl: `http://${node.httpAddress}/dev/webhooks`,
      idempotencyKey: "demo-business",
    });
    state.demo = { businessId: b.businessId, apiKey: b.apiKey, webhookSecret: b.webhookSecret! };
    await saveState(state);
  }
  if (!state.demo.consolePassword) {
    // A console admin for the demo business; the console calls the public API with its own key.
    const email = "admin@demo.test";
    const password = randomBytes(12).toString("base64url");
    const consoleKey = await createApiKey(node.internalAddress, state.demo.businessId, "console");
    await node.console.createUser({
      businessId: state.demo.businessId,
      email,
      password,
      role: "admin",
      apiKey: consoleKey,
    });
    state.demo.consoleEmail = email;
    state.demo.consolePassword = password;
    await saveState(state);
  }

  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const out = [
    "",
    `Linkflow is running (node ${node.nodeId}, ready in ${secs} s)`,
    `  gRPC API        ${node.grpcAddress}  (grpc.health.v1 SERVING)`,
    `  customer page   ${node.publicBaseUrl}/l/<token>`,
    cfg.devOutbox ? `  dev outbox      http://${node.httpAddress}/dev/outbox` : "",
    `  console         http://${node.httpAddress}/console  (${state.demo.consoleEmail} / ${state.demo.consolePassword})`,
    `  templates       ${templates.join(", ")}`,
    "",
    `Demo business ${state.demo.businessId}`,
    `  API key         ${state.demo.apiKey}`,
    "",
    "Start a demo workflow (then open the link from the dev outbox):",
    `  LINKFLOW_API_KEY=${state.demo.apiKey} LINKFLOW_GRPC_ADDR=${node.grpcAddress} npx tsx examples/create-workflow.ts --template welcome --phone +14155550123`,
    "",
    "Ctrl-C stops everything; data stays in .linkflow/ for the next start.",
    "",
  ];
  process.stdout.write(`${out.filter((l) => l !== undefined).join("\n")}\n`);
}

main().catch((err) => {
  log.error("start failed", { err });
  process.stderr.write(`linkflow: could not start: ${(err as Error).message}\n`);
  process.exit(1);
});
