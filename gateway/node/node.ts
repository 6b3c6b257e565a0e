import { readdir, readFile } from "node:fs/promises";
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { credentials, type Interceptor, Server, ServerCredentials } from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import { Redis } from "ioredis";
import {
  connect,
  createEphemeralStore,
  createLogger,
  defaultRegistry,
  grpcServerMetrics,
  inSpan,
  instrumentHttp,
  metricsHandler,
  migrate,
  newId,
  type Sql,
  systemClock,
  tracingInterceptor,
} from "../../core/index.ts";
import {
  AccountsServiceClient,
  NotificationOrigin,
  NotificationsServiceClient,
  TransactionsServiceClient,
} from "../../proto/index.ts";
import {
  LocalTransport,
  NatsTransport,
  RuntimeNode,
  runtimeMigrations,
  type Transport,
} from "../../runtime/index.ts";
import {
  createAccountsService,
  listChildBusinesses,
  migrateAccounts,
} from "../../services/accounts/index.ts";
import {
  callOrThrow,
  GRPC_CHANNEL_OPTIONS,
  type ListeningServer,
  listen,
} from "../../services/grpc/index.ts";
import {
  createNotificationsService,
  type EmailSender,
  migrateNotifications,
  OutboxEmailSender,
  OutboxSmsSender,
  type SmsSender,
  SmtpEmailSender,
  TWILIO_STATUS_PATH,
  TwilioSmsSender,
  twilioWebhookRoutes,
} from "../../services/notifications/index.ts";
import { createTransactionsService, migrateTransactions } from "../../services/transactions/index.ts";
import {
  SHARED_TEMPLATES,
  TemplateStore,
  WORKFLOW_ID_PREFIX,
  WorkflowProjector,
  WorkflowQueries,
  Workflows,
  workflowBehavior,
  workflowEffects,
  workflowsMigrations,
} from "../../services/workflows/index.ts";
import { addPublicApi, MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from "../api/index.ts";
import { type Console, createConsole } from "../console/index.ts";
import { createPortal } from "../portal/index.ts";
import type { NodeConfig } from "./config.ts";
import { renderOutbox } from "./outbox-page.ts";

/** A running Linkflow node; `stop()` shuts it down in order and is idempotent. */
export interface LinkflowNode {
  nodeId: string;
  grpcAddress: string;
  httpAddress: string;
  internalAddress: string;
  publicBaseUrl: string;
  runtime: RuntimeNode;
  workflows: Workflows;
  templates: TemplateStore;
  sql: Sql;
  /** Adds a route to the HTTP server (the dev outbox's webhook receiver uses it). */
  httpRoutes: Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>;
  devWebhooks: { at: number; type: string; body: string; verified: boolean }[];
  /** The business console served at /console. */
  console: Console;
  stop(): Promise<void>;
}

/** Applies every schema's migrations (runtime, accounts, notifications, transactions, workflows). */
export async function migrateAll(sql: Sql): Promise<void> {
  await migrate(sql, "runtime", runtimeMigrations);
  await migrateAccounts(sql);
  await migrateNotifications(sql);
  await migrateTransactions(sql);
  await migrate(sql, "workflows", workflowsMigrations);
}

/** Publishes every `*.flow` file of a folder as a template all businesses can use. */
export async function loadTemplates(templates: TemplateStore, dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith(".flow")).sort()) {
    const t = await templates.publish(SHARED_TEMPLATES, await readFile(join(dir, f), "utf8"), f);
    names.push(`${t.name}@${t.version}`);
  }
  return names;
}

/** Outgoing SMS in a CLIENT span (the provider call is the last hop of a workflow's first trace). */
function traced(sender: SmsSender): SmsSender {
  return {
    provider: sender.provider,
    send: (m) =>
      inSpan(
        `sms.send ${sender.provider}`,
        { "messaging.system": sender.provider },
        () => sender.send(m),
        SpanKind.CLIENT,
      ),
    findSent: (q) =>
      inSpan(
        `sms.find ${sender.provider}`,
        { "messaging.system": sender.provider },
        () => sender.findSent(q),
        SpanKind.CLIENT,
      ),
  };
}

/** Turns `host:0` into `host:<free port>` so clients can be built before the server listens. */
async function reserveAddress(addr: string): Promise<string> {
  const i = addr.lastIndexOf(":");
  const host = addr.slice(0, i);
  if (addr.slice(i + 1) !== "0") return addr;
  const port = await new Promise<number>((resolve, reject) => {
    const srv = createNetServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
  return `${host}:${port}`;
}

function listenHttp(server: HttpServer, addr: string): Promise<string> {
  const i = addr.lastIndexOf(":");
  const host = addr.slice(0, i);
  const port = Number(addr.slice(i + 1));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? `${host}:${a.port}` : addr);
    });
  });
}

/**
 * Starts one node: migrations, the internal services, the runtime (local or
 * NATS transport), the public gRPC API and the HTTP front door (customer
 * page, dev outbox). Shutdown order: stop intake → drain actors → release
 * leases → close services and connections.
 */
export async function startNode(cfg: NodeConfig): Promise<LinkflowNode> {
  const log = cfg.log ?? createLogger({ component: "node" });
  const clock = cfg.clock ?? systemClock;
  const closers: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const c of closers.splice(0).reverse())
      await c().catch((err) => log.warn("shutdown step failed", { err }));
  };
  try {
    // Link tokens are HMACs under this secret, so their unpredictability is the secret's:
    // 32 characters of base64url carry 192 bits, well over the 128 a link needs.
    if (!cfg.linkSecret || cfg.linkSecret.length < 32)
      throw new Error(
        "LINKFLOW_LINK_SECRET must be at least 32 characters (e.g. 32 random bytes in base64url)",
      );
    const sql = connect(cfg.databaseUrl, { max: cfg.poolSize ?? 20 });
    closers.push(() => sql.end({ timeout: 5 }));
    await migrateAll(sql);
    // Each service has its own pool, as separate deployments would: a service that holds a
    // transaction while calling another (transactions → accounts) can never starve the callee.
    const servicePool = Math.max(2, Math.ceil((cfg.poolSize ?? 20) / 2));
    const pool = (max: number) => {
      const p = connect(cfg.databaseUrl, { max });
      closers.push(() => p.end({ timeout: 5 }));
      return p;
    };
    const accountsSql = pool(servicePool);
    const notificationsSql = pool(servicePool);
    const transactionsSql = pool(servicePool);

    // Internal services.
    const sms = traced(
      cfg.sms.kind === "twilio" ? new TwilioSmsSender(cfg.sms) : new OutboxSmsSender(notificationsSql),
    );
    const email: EmailSender =
      cfg.email.kind === "smtp"
        ? new SmtpEmailSender(cfg.email.url, { from: cfg.email.from })
        : new OutboxEmailSender(notificationsSql);
    if (email instanceof SmtpEmailSender) closers.push(() => email.close());
    const accounts = createAccountsService({
      sql: accountsSql,
      clock,
      log: log.child({ service: "accounts" }),
      keyring: cfg.keyring,
    });
    const notifications = createNotificationsService({
      sql: notificationsSql,
      sms,
      email,
      clock,
      log: log.child({ service: "notifications" }),
      keyring: cfg.keyring,
      webhooks: {
        ...(cfg.tuning?.webhookPollMs ? { pollIntervalMs: cfg.tuning.webhookPollMs } : {}),
        ...(cfg.tuning?.webhookBaseBackoffMs ? { baseBackoffMs: cfg.tuning.webhookBaseBackoffMs } : {}),
      },
      // Twilio reports delivery to the route below; called per send, once the public URL is known.
      ...(cfg.sms.kind === "twilio"
        ? { smsStatusCallbackUrl: () => `${publicBaseUrl.replace(/\/$/, "")}${TWILIO_STATUS_PATH}` }
        : {}),
    });
    closers.push(() => notifications.close());
    // The services call each other, so their address must be known before the server starts.
    const internalAddress = await reserveAddress(cfg.internalAddr);
    const interceptors: Interceptor[] = [tracingInterceptor];
    const accountsClient = new AccountsServiceClient(internalAddress, credentials.createInsecure(), {
      ...GRPC_CHANNEL_OPTIONS,
      interceptors,
    });
    const notificationsClient = new NotificationsServiceClient(
      internalAddress,
      credentials.createInsecure(),
      {
        ...GRPC_CHANNEL_OPTIONS,
        interceptors,
      },
    );
    const transactionsClient = new TransactionsServiceClient(internalAddress, credentials.createInsecure(), {
      ...GRPC_CHANNEL_OPTIONS,
      interceptors,
    });
    closers.push(async () => {
      accountsClient.close();
      notificationsClient.close();
      transactionsClient.close();
    });
    const transactions = createTransactionsService({
      sql: transactionsSql,
      clock,
      log: log.child({ service: "transactions" }),
      accounts: accountsClient,
      notifications: notificationsClient,
      rails: cfg.tuning?.rails,
    });
    closers.push(() => transactions.close());
    const internal: ListeningServer = await listen([accounts, notifications, transactions], internalAddress);
    closers.push(() => internal.close());

    // Runtime.
    const transport: Transport =
      cfg.transport.kind === "nats"
        ? await NatsTransport.connect(cfg.transport.servers, `linkflow-${cfg.nodeId ?? "node"}`)
        : new LocalTransport();
    const httpAddrGuess = cfg.httpAddr;
    let publicBaseUrl = cfg.publicBaseUrl ?? `http://${httpAddrGuess}`;
    const templates = new TemplateStore(sql);
    let workflows: Workflows | undefined;
    // The workflows read model (ListWorkflows/search) follows committed turns.
    let projector: WorkflowProjector | undefined;
    const runtime = new RuntimeNode({
      onCommitted: (id, events, state) => {
        projector?.observe(id, events, state);
      },
      sql,
      transport,
      nodeId: cfg.nodeId,
      clock,
      log,
      shardCount: cfg.shardCount,
      actors: [{ prefix: WORKFLOW_ID_PREFIX, behavior: workflowBehavior }],
      effects: workflowEffects({
        accounts: accountsClient,
        notifications: notificationsClient,
        transactions: transactionsClient,
        linkFor: (id, v) => workflows!.linkFor(id, v),
      }),
      heartbeatMs: cfg.tuning?.heartbeatMs,
      leaseTtlMs: cfg.tuning?.leaseTtlMs,
      timerPollMs: cfg.tuning?.timerPollMs,
      effectPollMs: cfg.tuning?.effectPollMs,
      effectRetry: cfg.tuning?.effectRetry,
      idleMs: cfg.tuning?.idleMs,
    });

    // HTTP front door (bound before the runtime starts so the public URL is known).
    const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();
    // Prometheus text: this node's runtime series plus the process-wide service series.
    const metrics = metricsHandler(() => [runtime.metrics, defaultRegistry]);
    routes.set("/metrics", async (req, res) => {
      await metrics(req, res);
    });
    if (cfg.sms.kind === "twilio") {
      // Delivery reports and inbound STOP/START/HELP, verified with the account's auth token.
      const twilioRoutes = twilioWebhookRoutes(notifications, {
        authToken: cfg.sms.authToken,
        publicBaseUrl: () => publicBaseUrl,
      });
      for (const [path, handler] of Object.entries(twilioRoutes)) routes.set(path, handler);
    }
    const devWebhooks: LinkflowNode["devWebhooks"] = [];
    let portal: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) | undefined;
    let consoleApp: Console | undefined;
    const http = createServer(
      instrumentHttp((req, res) => {
        void (async () => {
          const path = (req.url ?? "/").split("?")[0] ?? "/";
          const route = routes.get(path);
          if (route) return route(req, res);
          if (path === "/healthz") {
            res.writeHead(200, { "content-type": "text/plain" });
            return void res.end("ok\n");
          }
          if (cfg.devOutbox && path === "/dev/outbox") {
            res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
            return void res.end(await renderOutbox(sql, devWebhooks));
          }
          if (consoleApp && (await consoleApp.handle(req, res))) return;
          if (portal && (await portal(req, res))) return;
          res.writeHead(404, { "content-type": "text/plain" });
          res.end("not found\n");
        })().catch(() => {
          if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
          res.end("internal error\n");
        });
      }),
    );
    const httpAddress = await listenHttp(http, cfg.httpAddr);
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        }),
    );
    if (!cfg.publicBaseUrl) publicBaseUrl = `http://${httpAddress}`;

    workflows = new Workflows({
      sql,
      node: runtime,
      templates,
      linkSecret: cfg.linkSecret,
      publicBaseUrl,
      clock,
      accounts: accountsClient,
    });
    const store = createEphemeralStore(cfg.redisUrl);
    closers.push(() => store.close());
    portal = createPortal({
      workflows,
      store,
      rateLimits: cfg.portalRateLimits,
      sendCode: async (wf, code) => {
        await callOrThrow(notificationsClient, "sendSms", {
          businessId: wf.businessId,
          workflowId: wf.id,
          to: wf.recipient.phone ?? "",
          body: `${wf.businessName}: your verification code is ${code}. It expires in 10 minutes. Never share it.`,
          origin: NotificationOrigin.NOTIFICATION_ORIGIN_VERIFICATION,
          sentBy: "linkflow",
          idempotencyKey: `otp:${wf.id}:${newId("otp")}`,
        });
      },
      secret: cfg.linkSecret,
      secureCookies: publicBaseUrl.startsWith("https:"),
      log: log.child({ component: "portal" }),
    });

    projector = new WorkflowProjector(new WorkflowQueries(sql, runtime));
    closers.push(() => projector!.close());
    await runtime.start();
    closers.push(() => runtime.stop());
    // Transaction status changes reach their workflow as commands (deduplicated by id and status).
    const unsubscribe = transactions.onStatusChange((e) => {
      if (!e.workflowId) return;
      runtime
        .ask(
          e.workflowId,
          {
            type: "transaction.status",
            transactionId: e.transactionId,
            status: e.status,
            returnCode: e.returnCode,
            reason: e.reason,
          },
          { commandId: `txn:${e.transactionId}:${e.status}` },
        )
        .catch((err) => log.warn("transaction status not delivered to its workflow", { err }));
    });
    closers.push(async () => unsubscribe());

    // Public gRPC API last: intake opens only when everything behind it runs.
    const grpc = new Server({ ...GRPC_CHANNEL_OPTIONS, interceptors: [grpcServerMetrics()] });
    let rateLimiter: RateLimiter | undefined;
    if (cfg.redisUrl) {
      const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: 2 });
      closers.push(async () => {
        await redis.quit().catch(() => redis.disconnect());
      });
      rateLimiter = new RedisRateLimiter(redis, cfg.apiRateLimit);
    } else if (cfg.apiRateLimit) {
      rateLimiter = new MemoryRateLimiter(cfg.apiRateLimit);
    }
    const health = addPublicApi(grpc, {
      workflows,
      accounts: accountsClient,
      notifications: notificationsClient,
      transactions: transactionsClient,
      sql,
      runtime,
      templates,
      rateLimiter,
      childBusinesses: (businessId) => listChildBusinesses(sql, businessId),
      projected: true,
      log: log.child({ component: "api" }),
    });
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpc.bindAsync(cfg.grpcAddr, ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    closers.push(async () => {
      health.shutdown();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          grpc.forceShutdown();
          resolve();
        }, 3000);
        grpc.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    });
    const grpcAddress = `${cfg.grpcAddr.slice(0, cfg.grpcAddr.lastIndexOf(":"))}:${grpcPort}`;

    // The business console, a client of the public API like any integrating service.
    consoleApp = createConsole({
      sql,
      grpcAddress,
      secret: cfg.consoleSecret ?? cfg.linkSecret,
      log: log.child({ component: "console" }),
      secureCookies: publicBaseUrl.startsWith("https:"),
    });
    await consoleApp.migrate();
    closers.push(() => consoleApp!.close());

    let stopping: Promise<void> | undefined;
    return {
      nodeId: runtime.nodeId,
      grpcAddress,
      httpAddress,
      internalAddress: internal.address,
      publicBaseUrl,
      runtime,
      workflows,
      templates,
      sql,
      httpRoutes: routes,
      devWebhooks,
      console: consoleApp,
      stop: () => {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
