import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type Clock, connect, type Keyring, type Sql } from "../../core/index.ts";
import type { NotificationsServiceClient } from "../../proto/index.ts";
import { type ListeningServer, listen } from "../../services/grpc/index.ts";
import {
  createNotificationsClient,
  createNotificationsService,
  type DispatcherOptions,
  migrateNotifications,
  type NotificationsServiceHandle,
  SmtpEmailSender,
  TWILIO_STATUS_PATH,
  TwilioSmsSender,
  twilioWebhookRoutes,
} from "../../services/notifications/index.ts";
import {
  createTestDatabase,
  type SmtpServerHandle,
  startSmtpServer,
  startTwilioServer,
  startWebhookReceiver,
  type TwilioServerHandle,
  type WebhookReceiverHandle,
} from "../infra/index.ts";

/** The notifications service over real gRPC, Postgres, the Twilio loopback and SMTP, plus Twilio's webhook routes. */
export interface NotificationsHarness {
  sql: Sql;
  twilio: TwilioServerHandle;
  smtp: SmtpServerHandle;
  service: NotificationsServiceHandle;
  client: NotificationsServiceClient;
  /** Base URL of the HTTP server carrying the Twilio status and inbound routes. */
  httpBaseUrl: string;
  /** A signature-verifying webhook receiver, stopped with the harness. */
  receiver(secrets: () => string[]): Promise<WebhookReceiverHandle>;
  stop(): Promise<void>;
}

export const TWILIO_FROM = "+15550001111";

/** The keyring harness services seal webhook secrets with. */
export const TEST_KEYRING: Keyring = { currentKeyId: "k1", keys: { k1: randomBytes(32) } };

export async function startNotificationsHarness(
  opts: { clock?: Clock; webhooks?: DispatcherOptions; smsHelpReply?: string; keyring?: Keyring | null } = {},
): Promise<NotificationsHarness> {
  const db = await createTestDatabase();
  const sql = connect(db.url);
  await migrateNotifications(sql);
  const twilio = await startTwilioServer();
  const smtp = await startSmtpServer();
  const email = new SmtpEmailSender(smtp.url, { from: "Linkflow <no-reply@linkflow.test>" });
  let httpBaseUrl = "";
  const service = createNotificationsService({
    sql,
    sms: new TwilioSmsSender({
      accountSid: twilio.accountSid,
      authToken: twilio.authToken,
      from: TWILIO_FROM,
      baseUrl: twilio.baseUrl,
    }),
    email,
    // Webhook secrets are sealed as on a configured node; `null` runs without a keyring.
    ...(opts.keyring === null ? {} : { keyring: opts.keyring ?? TEST_KEYRING }),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.smsHelpReply ? { smsHelpReply: opts.smsHelpReply } : {}),
    webhooks: opts.webhooks ?? { pollIntervalMs: 25, baseBackoffMs: 30, maxBackoffMs: 200 },
    smsStatusCallbackUrl: () => (httpBaseUrl ? `${httpBaseUrl}${TWILIO_STATUS_PATH}` : undefined),
  });
  const routes = twilioWebhookRoutes(service, {
    authToken: twilio.authToken,
    publicBaseUrl: () => httpBaseUrl,
  });
  const web = http.createServer((req, res) => {
    const route = routes[(req.url ?? "/").split("?")[0] ?? "/"];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    route(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
  httpBaseUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  const server: ListeningServer = await listen([service]);
  const client = createNotificationsClient(server.address);
  const receivers: WebhookReceiverHandle[] = [];
  return {
    sql,
    twilio,
    smtp,
    service,
    client,
    httpBaseUrl,
    async receiver(secrets) {
      const r = await startWebhookReceiver({ secrets });
      receivers.push(r);
      return r;
    },
    async stop() {
      client.close();
      await server.close();
      await service.close();
      await email.close();
      web.closeAllConnections();
      await new Promise<void>((resolve) => web.close(() => resolve()));
      for (const r of receivers) await r.stop();
      await smtp.stop();
      await twilio.stop();
      await sql.end({ timeout: 5 });
      await db.drop();
    },
  };
}
