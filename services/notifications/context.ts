import type { Clock, Logger, Sql } from "../../core/index.ts";
import type { SubscriptionSecrets } from "./secrets.ts";
import type { NotificationsServiceDeps } from "./service.ts";
import type { WebhookDispatcher } from "./webhooks.ts";

/** What every group of RPCs of the service shares. */
export interface RpcContext {
  sql: Sql;
  clock: Clock;
  log: Logger;
  now: () => Date;
  dispatcher: WebhookDispatcher;
  deps: NotificationsServiceDeps;
  secrets: SubscriptionSecrets;
}
