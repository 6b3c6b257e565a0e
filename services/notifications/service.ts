import { credentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  type Clock,
  checkKeyring,
  createLogger,
  type Keyring,
  type Logger,
  type Sql,
  systemClock,
} from "../../core/index.ts";
import {
  NotificationsServiceClient,
  type NotificationsServiceServer,
  NotificationsServiceService,
} from "../../proto/index.ts";
import type { HealthProbe } from "../grpc/index.ts";
import type { RpcContext } from "./context.ts";
import { eventRpcs } from "./event-rpcs.ts";
import { handleInboundSms, type InboundSmsResponse } from "./inbound-sms.ts";
import { messageRpcs } from "./message-rpcs.ts";
import { SubscriptionSecrets } from "./secrets.ts";
import type { EmailSender, SmsSender } from "./senders.ts";
import { recordSmsStatus, type SmsStatusReport } from "./sms-status.ts";
import { subscriptionRpcs } from "./subscription-rpcs.ts";
import { type DispatcherOptions, WebhookDispatcher } from "./webhooks.ts";

export interface NotificationsServiceDeps {
  sql: Sql;
  sms: SmsSender;
  email: EmailSender;
  clock?: Clock;
  log?: Logger;
  webhooks?: DispatcherOptions & {
    /** Allow plain-http endpoints on any host (default: only https, or http to loopback). */
    allowInsecureUrls?: boolean;
  };
  /** The reply to an inbound HELP (must name a support contact). */
  smsHelpReply?: string;
  /**
   * The absolute URL of the SMS status route (see twilioWebhookRoutes), or
   * undefined while unknown; each SMS asks the provider to report there.
   */
  smsStatusCallbackUrl?: () => string | undefined;
  /**
   * Seals webhook signing secrets at rest (and in idempotent replays). Without
   * it (development only) they are stored as they are and a replay of a
   * request that showed a secret is refused.
   */
  keyring?: Keyring;
}

export interface NotificationsServiceHandle {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  /** Resolves when the service's database answers (its grpc.health.v1 status). */
  probe: HealthProbe;
  /** The webhook dispatcher (already started); `kick()` to look for due deliveries now. */
  dispatcher: WebhookDispatcher;
  /**
   * Handles Twilio's inbound-message webhook form (From, To, Body): STOP and
   * synonyms opt the sender out of SMS, START/UNSTOP opt back in, HELP gets a
   * reply with the support contact. The caller (an HTTP route) must verify
   * X-Twilio-Signature first and answer with the returned TwiML.
   */
  handleInboundSms(form: Record<string, string>): Promise<InboundSmsResponse>;
  /**
   * Records the SMS provider's delivery report (Twilio's status callback:
   * delivered, undelivered, failed, …) in the notification history. The
   * caller must have verified the report's signature.
   */
  recordSmsStatus(report: SmsStatusReport): Promise<"recorded" | "ignored" | "unknown">;
  /** Stops the dispatcher loop and waits for its in-flight pass. Idempotent. Does not close senders or sql. */
  close(): Promise<void>;
}

/**
 * The notifications service: SMS and email to customers through the injected
 * senders, a per-workflow history of what was sent (with the provider's
 * delivery status), and signed webhooks to businesses with a retrying,
 * ordered dispatcher (started here; `close()` it). Recipients and bodies are
 * stored but never logged.
 */
export function createNotificationsService(deps: NotificationsServiceDeps): NotificationsServiceHandle {
  const { sql } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger({ service: "notifications" });
  if (deps.keyring) checkKeyring(deps.keyring);
  else log.warn("no encryption keyring: webhook secrets are stored unsealed (development only)");
  const secrets = new SubscriptionSecrets(deps.keyring);
  const dispatcher = new WebhookDispatcher(sql, log, clock, deps.webhooks, deps.keyring);
  const now = () => new Date(clock.now());

  const ctx: RpcContext = { sql, clock, log, now, dispatcher, deps, secrets };
  const impl: NotificationsServiceServer = {
    ...messageRpcs(ctx),
    ...eventRpcs(ctx),
    ...subscriptionRpcs(ctx),
  };
  dispatcher.start();

  return {
    handleInboundSms: (form) =>
      handleInboundSms({ sql, sms: deps.sms, log, now, helpReply: deps.smsHelpReply }, form),
    recordSmsStatus: (report) => recordSmsStatus(sql, clock, report),
    definition: NotificationsServiceService as unknown as ServiceDefinition,
    implementation: impl as unknown as UntypedServiceImplementation,
    probe: async () => {
      await sql`select 1`;
    },
    dispatcher,
    close: () => dispatcher.close(),
  };
}

/** A client of the notifications service (insecure channel: loopback or a private network). */
export function createNotificationsClient(address: string): NotificationsServiceClient {
  return new NotificationsServiceClient(address, credentials.createInsecure());
}
