import type { Server } from "@grpc/grpc-js";
import { createLogger, type Logger, type Sql } from "../../core/index.ts";
import {
  type AccountsServiceClient,
  BusinessServiceService,
  CustomerServiceService,
  FinancialAccountServiceService,
  type NotificationsServiceClient,
  TemplateServiceService,
  TransactionServiceService,
  type TransactionsServiceClient,
  WebhookServiceService,
  WorkflowServiceService,
} from "../../proto/index.ts";
import type { RuntimeNode } from "../../runtime/index.ts";
import type { TemplateStore, Workflows } from "../../services/workflows/index.ts";
import { TemplateQueries, WorkflowQueries } from "../../services/workflows/index.ts";
import {
  customerServiceImpl,
  financialAccountServiceImpl,
  transactionServiceImpl,
} from "./account-services.ts";
import { ApiKeyAuthenticator, type ChildBusinesses } from "./auth.ts";
import { AuthFailureGuard, DEFAULT_AUTH_FAILURE_LIMIT } from "./auth-guard.ts";
import { businessServiceImpl } from "./business-service.ts";
import { ApiHealthService, type HealthProbe } from "./health.ts";
import { MemoryRateLimiter, type RateLimit, type RateLimiter } from "./rate-limit.ts";
import { addReflection } from "./reflection.ts";
import { Rpc } from "./rpc.ts";
import { templateServiceImpl } from "./template-service.ts";
import { webhookServiceImpl } from "./webhook-service.ts";
import { workflowServiceImpl } from "./workflow-service.ts";

export interface ApiDeps {
  workflows: Workflows;
  accounts: AccountsServiceClient;
  notifications: NotificationsServiceClient;
  log?: Logger;
  /** The node's Postgres: enables the API's idempotency keys, ListWorkflows/SearchWorkflows and TemplateService. */
  sql?: Sql;
  /** The runtime node: needed by ListWorkflows/SearchWorkflows (projection refresh). */
  runtime?: RuntimeNode;
  /** Enables TemplateService (with `sql`). */
  templates?: TemplateStore;
  /** Enables TransactionService. */
  transactions?: TransactionsServiceClient;
  /**
   * Per-API-key rate limit; default: in memory, a burst of 100 then 50 a second. `false` turns it off
   * (and the failed-authentication limit with it).
   */
  rateLimiter?: RateLimiter | false;
  /** Failed authentications per client address, in the rate limiter's store; default 20, then one per 5 s. */
  authFailureLimit?: RateLimit;
  /** Server streams (WatchWorkflow) one key may hold open at once on a node; default 20. */
  maxStreamsPerKey?: number;
  /** The child businesses of a business (parent keys see and act for them); default: none. */
  childBusinesses?: ChildBusinesses;
  /** The runtime feeds the workflow read model (a WorkflowProjector on `onCommitted`). */
  projected?: boolean;
  /** gRPC server reflection for the public services (grpcurl); default on. */
  reflection?: boolean;
  /** Probe timing of grpc.health.v1 (defaults: 1 s probe timeout, Watch re-checks every 2 s). */
  health?: { probeTimeoutMs?: number; watchIntervalMs?: number };
}

/** The health service of the public API and its open streams. */
export interface ApiHealth {
  /** NOT_SERVING (false) while draining; SERVING again (true) when back. */
  setServing(serving: boolean): void;
  /**
   * For shutdown, before the server's tryShutdown: NOT_SERVING to every health
   * watcher, then every open stream (health Watch, WatchWorkflow) ends, so a
   * graceful shutdown is not held up until it is forced.
   */
  shutdown(): void;
}

/**
 * Adds the public API (linkflow.v1 Workflow, Template, Business, Webhook,
 * Customer, FinancialAccount and Transaction services), grpc.health.v1 and
 * server reflection to a gRPC server. Returns the health handle so shutdown can
 * flip it first.
 */
export function addPublicApi(server: Server, deps: ApiDeps): ApiHealth {
  const log = deps.log ?? createLogger({ component: "gateway.api" });
  const auth = new ApiKeyAuthenticator(deps.accounts, 30_000, deps.childBusinesses);
  const limiter: RateLimiter | undefined =
    deps.rateLimiter === false ? undefined : (deps.rateLimiter ?? new MemoryRateLimiter());
  const authFailures = limiter?.withLimit?.(deps.authFailureLimit ?? DEFAULT_AUTH_FAILURE_LIMIT, "authfail:");
  const rpc = new Rpc({
    auth,
    log,
    ...(deps.sql ? { sql: deps.sql } : {}),
    ...(limiter ? { limiter } : {}),
    ...(authFailures ? { authGuard: new AuthFailureGuard(authFailures) } : {}),
    ...(deps.maxStreamsPerKey ? { maxStreamsPerKey: deps.maxStreamsPerKey } : {}),
  });
  const services: string[] = [];
  const add = (name: string, add: () => void) => {
    add();
    services.push(name);
  };
  add("linkflow.v1.WorkflowService", () =>
    server.addService(
      WorkflowServiceService,
      workflowServiceImpl({
        workflows: deps.workflows,
        accounts: deps.accounts,
        notifications: deps.notifications,
        rpc,
        ...(deps.sql && deps.runtime
          ? {
              queries: new WorkflowQueries(deps.sql, deps.runtime, {
                // With a projector feeding the read model, only rows it has not touched lately are re-read from actors.
                staleMs: deps.projected ? 30_000 : 0,
              }),
            }
          : {}),
      }),
    ),
  );
  const { sql, templates } = deps;
  if (sql && templates) {
    add("linkflow.v1.TemplateService", () =>
      server.addService(
        TemplateServiceService,
        templateServiceImpl({ rpc, store: templates, queries: new TemplateQueries(sql) }),
      ),
    );
  }
  const { accounts, notifications, transactions } = deps;
  add("linkflow.v1.BusinessService", () =>
    server.addService(BusinessServiceService, businessServiceImpl({ rpc, accounts, auth })),
  );
  add("linkflow.v1.WebhookService", () =>
    server.addService(WebhookServiceService, webhookServiceImpl({ rpc, notifications })),
  );
  add("linkflow.v1.CustomerService", () =>
    server.addService(CustomerServiceService, customerServiceImpl({ rpc, accounts })),
  );
  add("linkflow.v1.FinancialAccountService", () =>
    server.addService(FinancialAccountServiceService, financialAccountServiceImpl({ rpc, accounts })),
  );
  if (transactions) {
    add("linkflow.v1.TransactionService", () =>
      server.addService(TransactionServiceService, transactionServiceImpl({ rpc, transactions })),
    );
  }
  if (deps.reflection !== false) addReflection(server, services);
  // Without its database or its rate-limit store the API cannot answer: report NOT_SERVING.
  const probes: HealthProbe[] = [];
  const { sql: db } = deps;
  if (db) probes.push(async () => void (await db`select 1`));
  const ping = limiter?.ping?.bind(limiter);
  if (ping) probes.push(ping);
  const health = new ApiHealthService({ services, probes, ...deps.health });
  health.addToServer(server);
  return {
    setServing: (serving) => health.setServing(serving),
    shutdown() {
      health.setServing(false);
      rpc.closeStreams();
      health.close();
    },
  };
}
