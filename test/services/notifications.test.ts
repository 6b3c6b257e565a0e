import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sql } from "../../core/index.ts";
import {
  DeliveryStatus,
  NotificationChannel,
  NotificationOrigin,
  NotificationStatus,
  type NotificationsServiceClient,
} from "../../proto/index.ts";
import { call, readErrorCode, readFieldViolations } from "../../services/grpc/index.ts";
import { OutboxSmsSender } from "../../services/notifications/index.ts";
import type { SmtpServerHandle, TwilioServerHandle } from "../infra/index.ts";
import { captureLogs, rejected } from "./helpers.ts";
import { type NotificationsHarness, startNotificationsHarness } from "./notifications-harness.ts";

const logs = captureLogs();
const PHONE = "+15557654321";
const BIZ = "biz_0000000000000000000000001";
const WF = "wf_00000000000000000000000001";

let h: NotificationsHarness;
let sql: Sql;
let twilioServer: TwilioServerHandle;
let smtp: SmtpServerHandle;
let client: NotificationsServiceClient;

const sms = (over: Partial<Parameters<NotificationsServiceClient["sendSms"]>[0]> = {}) => ({
  businessId: BIZ,
  workflowId: WF,
  to: PHONE,
  body: "Your link: https://pay.example/l/abc",
  origin: NotificationOrigin.NOTIFICATION_ORIGIN_INITIAL,
  sentBy: "system",
  idempotencyKey: "",
  ...over,
});

beforeAll(async () => {
  h = await startNotificationsHarness();
  ({ sql, twilio: twilioServer, smtp, client } = h);
});

afterAll(async () => {
  await h?.stop();
  logs.restore();
});

describe("notifications service", () => {
  it("sends SMS through Twilio's API and records a numbered history", async () => {
    const first = await call(client, "sendSms", sms({ idempotencyKey: "wf-sms:1" }));
    const msg = await twilioServer.waitForMessage((m) => m.body.includes("/l/abc"));
    expect(msg).toMatchObject({
      to: PHONE,
      from: "+15550001111",
      body: "Your link: https://pay.example/l/abc",
    });
    expect(first.notification).toMatchObject({
      serial: 1,
      channel: NotificationChannel.NOTIFICATION_CHANNEL_SMS,
      origin: NotificationOrigin.NOTIFICATION_ORIGIN_INITIAL,
      providerMessageId: msg.sid,
      toMasked: "+1******4321",
    });

    // A retried effect sends nothing new.
    const again = await call(client, "sendSms", sms({ idempotencyKey: "wf-sms:1" }));
    expect(again.notification?.id).toBe(first.notification?.id);
    expect(twilioServer.messages.filter((m) => m.body.includes("/l/abc"))).toHaveLength(1);

    const second = await call(
      client,
      "sendSms",
      sms({
        body: "Reminder",
        origin: NotificationOrigin.NOTIFICATION_ORIGIN_REMINDER,
        idempotencyKey: "wf-sms:2",
      }),
    );
    expect(second.notification?.serial).toBe(2);
    const history = await call(client, "listWorkflowNotifications", { businessId: BIZ, workflowId: WF });
    expect(history.notifications.map((n) => [n.serial, n.origin])).toEqual([
      [1, NotificationOrigin.NOTIFICATION_ORIGIN_INITIAL],
      [2, NotificationOrigin.NOTIFICATION_ORIGIN_REMINDER],
    ]);
    const other = await call(client, "listWorkflowNotifications", {
      businessId: "biz_someoneelse",
      workflowId: WF,
    });
    expect(other.notifications).toEqual([]);
  });

  it("rejects bad phone numbers clearly, before and at the provider", async () => {
    const bad = await rejected(call(client, "sendSms", sms({ to: "555-1234", body: "" })));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(readFieldViolations(bad).map((v) => v.field)).toEqual(["to", "body"]);
    expect(bad.details).toContain("E.164");

    twilioServer.failNext(400, 21211, "The 'To' number is not a valid phone number.");
    const provider = await rejected(call(client, "sendSms", sms({ idempotencyKey: "bad-sms-1" })));
    expect(provider.code).toBe(status.INVALID_ARGUMENT);
    expect(readFieldViolations(provider)[0]?.field).toBe("to");

    twilioServer.failNext(500, 20500, "Internal Server Error");
    const down = await rejected(
      call(client, "sendSms", sms({ idempotencyKey: "provider-down-1", body: "retry ok" })),
    );
    expect(down.code).toBe(status.UNAVAILABLE);
    expect(readErrorCode(down)).toBe("sms_unavailable");
    // An outage is worth retrying with the same key: the retry sends, once.
    const retried = await call(
      client,
      "sendSms",
      sms({ idempotencyKey: "provider-down-1", body: "retry ok" }),
    );
    expect(retried.notification?.status).not.toBe(NotificationStatus.NOTIFICATION_STATUS_FAILED);
    expect(twilioServer.messages.filter((m) => m.body === "retry ok")).toHaveLength(1);
  });

  it("keeps a workflow's whole history: serial, channel, origin, sender, time and delivery status", async () => {
    const wf = "wf_history_all_origins";
    const started = Date.now();
    const sent = [
      await call(client, "sendSms", sms({ workflowId: wf, idempotencyKey: "history-1" })),
      await call(client, "sendEmail", {
        businessId: BIZ,
        workflowId: wf,
        to: "ada@example.com",
        subject: "Your link again",
        text: "Open https://pay.example/l/abc",
        html: "",
        origin: NotificationOrigin.NOTIFICATION_ORIGIN_MANUAL,
        sentBy: "key_ops_1",
        idempotencyKey: "history-2",
      }),
      await call(
        client,
        "sendSms",
        sms({
          workflowId: wf,
          origin: NotificationOrigin.NOTIFICATION_ORIGIN_REMINDER,
          idempotencyKey: "history-3",
        }),
      ),
      await call(
        client,
        "sendSms",
        sms({
          workflowId: wf,
          body: "Your link has expired",
          origin: NotificationOrigin.NOTIFICATION_ORIGIN_EXPIRY,
          idempotencyKey: "history-4",
        }),
      ),
    ].map((r) => r.notification!);
    const finished = Date.now();
    const history = (await call(client, "listWorkflowNotifications", { businessId: BIZ, workflowId: wf }))
      .notifications;
    const C = NotificationChannel;
    const O = NotificationOrigin;
    expect(history.map((n) => [n.serial, n.channel, n.origin, n.sentBy])).toEqual([
      [1, C.NOTIFICATION_CHANNEL_SMS, O.NOTIFICATION_ORIGIN_INITIAL, "system"],
      [2, C.NOTIFICATION_CHANNEL_EMAIL, O.NOTIFICATION_ORIGIN_MANUAL, "key_ops_1"],
      [3, C.NOTIFICATION_CHANNEL_SMS, O.NOTIFICATION_ORIGIN_REMINDER, "system"],
      [4, C.NOTIFICATION_CHANNEL_SMS, O.NOTIFICATION_ORIGIN_EXPIRY, "system"],
    ]);
    expect(history.map((n) => n.id)).toEqual(sent.map((n) => n.id));
    const times = history.map((n) => n.sentAt!.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    for (const t of times) {
      expect(t).toBeGreaterThanOrEqual(started - 1_000);
      expect(t).toBeLessThanOrEqual(finished + 1_000);
    }
    // Every message went out: the mail server took the email, the carrier the texts (reports may follow).
    expect(history[1]?.status).toBe(NotificationStatus.NOTIFICATION_STATUS_SENT);
    for (const n of [history[0], history[2], history[3]]) {
      expect([
        NotificationStatus.NOTIFICATION_STATUS_QUEUED,
        NotificationStatus.NOTIFICATION_STATUS_SENT,
        NotificationStatus.NOTIFICATION_STATUS_DELIVERED,
      ]).toContain(n?.status);
      expect(twilioServer.messages.map((m) => m.sid)).toContain(n?.providerMessageId);
    }
    expect(history.every((n) => n.error === "")).toBe(true);
  });

  it("sends email through SMTP", async () => {
    const res = await call(client, "sendEmail", {
      businessId: BIZ,
      workflowId: WF,
      to: "ada@example.com",
      subject: "Finish your onboarding",
      text: "Open https://pay.example/l/xyz",
      html: "<p>Open <a href='https://pay.example/l/xyz'>your link</a></p>",
      origin: NotificationOrigin.NOTIFICATION_ORIGIN_MANUAL,
      sentBy: "key_123",
      idempotencyKey: "mail-effect-1",
    });
    const m = await smtp.waitForMessage((x) => x.subject === "Finish your onboarding");
    expect(m.to).toEqual(["ada@example.com"]);
    expect(m.text).toContain("https://pay.example/l/xyz");
    expect(m.html).toContain("your link");
    expect(res.notification).toMatchObject({
      channel: NotificationChannel.NOTIFICATION_CHANNEL_EMAIL,
      sentBy: "key_123",
      toMasked: "a***@example.com",
    });
    const bad = await rejected(
      call(client, "sendEmail", {
        businessId: BIZ,
        workflowId: "",
        to: "nope",
        subject: "",
        text: "",
        html: "",
        origin: 0,
        sentBy: "",
        idempotencyKey: "",
      }),
    );
    expect(readFieldViolations(bad).map((v) => v.field)).toEqual(["origin", "to", "subject", "text"]);
  });

  it("keeps SMS in the dev outbox when configured so", async () => {
    const outbox = new OutboxSmsSender(sql);
    const sent = await outbox.send({ to: PHONE, body: "dev only" });
    const rows =
      await sql`select recipient, body from notifications.outbox where id = ${sent.providerMessageId}`;
    expect(rows[0]).toEqual({ recipient: PHONE, body: "dev only" });
  });

  it("delivers signed webhooks to matching subscriptions", async () => {
    const biz = "biz_webhooks1";
    const sub = await call(client, "createWebhookSubscription", {
      businessId: biz,
      url: "http://127.0.0.1:1/unused",
      eventTypes: ["workflow.*"],
      idempotencyKey: "",
    });
    await call(client, "deleteWebhookSubscription", {
      businessId: biz,
      subscriptionId: sub.subscription!.id,
    });

    const secrets: string[] = [];
    const r2 = await h.receiver(() => secrets);
    const created = await call(client, "createWebhookSubscription", {
      businessId: biz,
      url: r2.url,
      eventTypes: ["workflow.*"],
      idempotencyKey: "",
    });
    secrets.push(created.secret);
    expect(created.secret).toMatch(/^whsec_/);
    const listed = await call(client, "listWebhookSubscriptions", { businessId: biz });
    expect(listed.subscriptions.map((s) => s.id)).toEqual([created.subscription!.id]);

    const ignored = await call(client, "publishEvent", {
      businessId: biz,
      type: "customer.created",
      payloadJson: "{}",
      workflowId: "",
      idempotencyKey: "",
    });
    expect(ignored.deliveries).toBe(0);

    const pub = await call(client, "publishEvent", {
      businessId: biz,
      type: "workflow.completed",
      payloadJson: JSON.stringify({ workflow_id: "wf_1", status: "completed" }),
      workflowId: "wf_1",
      idempotencyKey: "event-1",
    });
    expect(pub.eventId).toMatch(/^evt_/);
    expect(pub.deliveries).toBe(1);
    const d = await r2.waitForDelivery((x) => x.eventId === pub.eventId);
    expect(d.verified).toBe(true);
    expect(d.json).toMatchObject({
      id: pub.eventId,
      type: "workflow.completed",
      business_id: biz,
      data: { workflow_id: "wf_1", status: "completed" },
    });
    expect(d.headers["linkflow-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);

    const bad = await rejected(
      call(client, "publishEvent", {
        businessId: biz,
        type: "Bad Type",
        payloadJson: "[1]",
        workflowId: "",
        idempotencyKey: "",
      }),
    );
    expect(readFieldViolations(bad).map((v) => v.field)).toEqual(["type", "payload_json"]);
  });

  it("retries failed deliveries with backoff, in order per workflow, losing nothing", async () => {
    const biz = "biz_webhooks2";
    const secrets: string[] = [];
    const receiver = await h.receiver(() => secrets);
    const created = await call(client, "createWebhookSubscription", {
      businessId: biz,
      url: receiver.url,
      eventTypes: [],
      idempotencyKey: "",
    });
    secrets.push(created.secret);
    receiver.respond([500, 500]);

    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const res = await call(client, "publishEvent", {
        businessId: biz,
        type: "workflow.step_completed",
        payloadJson: JSON.stringify({ n }),
        workflowId: "wf_ordered",
        idempotencyKey: `ordered-event-${n}`,
      });
      ids.push(res.eventId);
    }
    await receiver.waitForDelivery((x) => x.eventId === ids[2] && x.status === 200);
    const ok = receiver.deliveries.filter((x) => x.status === 200);
    expect(ok.map((x) => x.eventId)).toEqual(ids);
    expect(receiver.deliveries.map((x) => x.status)).toEqual([500, 500, 200, 200, 200]);
    expect(receiver.deliveries.slice(0, 3).every((x) => x.eventId === ids[0])).toBe(true);
    expect(receiver.deliveries.every((x) => x.verified)).toBe(true);

    const log = await call(client, "listDeliveries", { businessId: biz, eventId: ids[0]!, pageSize: 0 });
    expect(log.deliveries).toHaveLength(1);
    expect(log.deliveries[0]).toMatchObject({
      status: DeliveryStatus.DELIVERY_STATUS_DELIVERED,
      attempts: 3,
      lastResponseCode: 200,
    });
    const attempts = await sql`select response_code from notifications.delivery_attempts
      where delivery_id = ${log.deliveries[0]!.id} order by id`;
    expect(attempts.map((a) => a.response_code)).toEqual([500, 500, 200]);

    const again = await call(client, "redeliver", { businessId: biz, deliveryId: log.deliveries[0]!.id });
    expect(again.delivery?.status).toBe(DeliveryStatus.DELIVERY_STATUS_PENDING);
    await receiver.waitForDelivery((x) => x.eventId === ids[0] && receiver.deliveries.length > 5);
  });

  it("never logs phone numbers, message bodies or secrets", () => {
    const text = logs.text();
    expect(text).toContain("sms sent");
    expect(text).toContain("webhook delivered");
    expect(text).not.toContain(PHONE);
    expect(text).not.toContain("5557654321");
    expect(text).not.toContain("Your link");
    expect(text).not.toContain("ada@example.com");
    expect(text).not.toContain("whsec_");
  });
});
