import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sql } from "../../core/index.ts";
import {
  NotificationOrigin,
  type NotificationsServiceClient,
  WebhookSubscriptionStatus,
} from "../../proto/index.ts";
import { call, readErrorCode, readFieldViolations } from "../../services/grpc/index.ts";
import { type NotificationsServiceHandle, TWILIO_INBOUND_PATH } from "../../services/notifications/index.ts";
import { type TwilioServerHandle, twilioSignature } from "../infra/index.ts";
import { captureLogs, rejected } from "./helpers.ts";
import { type NotificationsHarness, startNotificationsHarness } from "./notifications-harness.ts";

const logs = captureLogs();
const BIZ = "biz_admin";
const OTHER = "biz_other";
const PHONE = "+15557654321";

let h: NotificationsHarness;
let sql: Sql;
let client: NotificationsServiceClient;
let service: NotificationsServiceHandle;
let twilioServer: TwilioServerHandle;

const sms = (key: string) => ({
  businessId: BIZ,
  workflowId: "",
  to: PHONE,
  body: "Your payment is on its way",
  origin: NotificationOrigin.NOTIFICATION_ORIGIN_TRANSACTION,
  sentBy: "",
  idempotencyKey: key,
});

async function subscribe(secrets: () => string[], eventTypes: string[] = []) {
  const receiver = await h.receiver(secrets);
  const res = await call(client, "createWebhookSubscription", {
    businessId: BIZ,
    url: receiver.url,
    eventTypes,
    idempotencyKey: "",
  });
  return { receiver, id: res.subscription!.id, secret: res.secret };
}

const publish = (type: string, data: unknown, workflowId = "") =>
  call(client, "publishEvent", {
    businessId: BIZ,
    type,
    payloadJson: JSON.stringify(data),
    workflowId,
    idempotencyKey: "",
  });

beforeAll(async () => {
  h = await startNotificationsHarness({
    smsHelpReply: "Acme payments: help at +1 555 000 2222 or help@acme.example. Reply STOP to opt out.",
    webhooks: {
      pollIntervalMs: 25,
      baseBackoffMs: 20,
      maxBackoffMs: 40,
      maxAttempts: 2,
      pauseAfterFailures: 2,
    },
  });
  ({ sql, client, service, twilio: twilioServer } = h);
});

afterAll(async () => {
  await h?.stop();
  logs.restore();
});

describe("inbound SMS keywords", () => {
  it("STOP opts out without calling Twilio, START opts back in, HELP replies", async () => {
    await call(client, "sendSms", sms("inbound-1"));
    const before = twilioServer.messages.length;
    const stop = await service.handleInboundSms({ From: PHONE, To: "+15550001111", Body: " stop " });
    expect(stop).toMatchObject({ status: 200, contentType: "text/xml" });
    expect(stop.body).toContain("<Response>");
    const refused = await rejected(call(client, "sendSms", sms("inbound-2")));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(readErrorCode(refused)).toBe("recipient_opted_out");
    expect(twilioServer.messages.length).toBe(before);
    // Replays of what was sent before the opt-out still answer the same.
    expect((await call(client, "sendSms", sms("inbound-1"))).notification?.id).toMatch(/^ntf_/);

    for (const word of ["STOPALL", "Unsubscribe", "cancel", "END", "quit"]) {
      await service.handleInboundSms({ From: "+15550009999", To: "+15550001111", Body: word });
    }
    expect(await sql`select phone from notifications.sms_opt_outs`).toHaveLength(2);

    await service.handleInboundSms({ From: PHONE, To: "+15550001111", Body: "UNSTOP" });
    await call(client, "sendSms", sms("inbound-3"));
    expect(twilioServer.messages.length).toBe(before + 1);

    await service.handleInboundSms({ From: PHONE, To: "+15550001111", Body: "HELP" });
    const help = await twilioServer.waitForMessage((m) => m.body.includes("help@acme.example"));
    expect(help.to).toBe(PHONE);

    const bad = await service.handleInboundSms({ From: "not a number", Body: "STOP" });
    expect(bad.status).toBe(400);
    expect(logs.text()).not.toContain(PHONE);
  });
  it("through Twilio's signed inbound route: STOP, START and HELP; unsigned requests change nothing", async () => {
    const from = "+15557650000";
    const url = `${h.httpBaseUrl}${TWILIO_INBOUND_PATH}`;
    const inbound = (text: string, signature?: string) => {
      const form = { From: from, To: "+15550001111", Body: text, MessageSid: "SM1", AccountSid: "AC1" };
      return fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": signature ?? twilioSignature(twilioServer.authToken, url, form),
        },
        body: new URLSearchParams(form).toString(),
      });
    };
    const optedOut = async () =>
      (await sql`select 1 from notifications.sms_opt_outs where phone = ${from}`).length === 1;
    const send = (key: string) => call(client, "sendSms", { ...sms(key), to: from });

    expect((await inbound("STOP", "forged")).status).toBe(403);
    expect(await optedOut()).toBe(false);
    const stop = await inbound("Stop please");
    expect(stop.status).toBe(200);
    expect(await stop.text()).toContain("<Response>");
    expect(await optedOut()).toBe(true);
    expect(readErrorCode(await rejected(send("route-stop-1")))).toBe("recipient_opted_out");

    expect((await inbound("START")).status).toBe(200);
    expect(await optedOut()).toBe(false);
    await send("route-start-1");
    expect(twilioServer.messages.filter((m) => m.to === from)).toHaveLength(1);

    await inbound("stop");
    await inbound("yes");
    expect(await optedOut()).toBe(false);

    expect((await inbound("help")).status).toBe(200);
    const help = await twilioServer.waitForMessage(
      (m) => m.to === from && m.body.includes("help@acme.example"),
    );
    expect(help.body).toContain("STOP");
  });
});

describe("webhook subscriptions", () => {
  it("rotates the secret: both secrets sign during the overlap", async () => {
    let secrets: string[] = [];
    const sub = await subscribe(() => secrets);
    secrets = [sub.secret];
    await publish("customer.created", { n: 1 });
    await sub.receiver.waitForDelivery((d) => d.verified);
    const rotated = await call(client, "rotateWebhookSecret", {
      businessId: BIZ,
      subscriptionId: sub.id,
      overlapSeconds: 3600,
      idempotencyKey: "rotate-1",
    });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(sub.secret);
    expect(rotated.subscription?.previousSecretExpiresAt).toBeInstanceOf(Date);
    const again = await call(client, "rotateWebhookSecret", {
      businessId: BIZ,
      subscriptionId: sub.id,
      overlapSeconds: 3600,
      idempotencyKey: "rotate-1",
    });
    expect(again.secret).toBe(rotated.secret);
    // A receiver still on the old secret verifies; so does one on the new secret.
    await publish("customer.created", { n: 2 });
    const d2 = await sub.receiver.waitForDelivery((d) => d.body.includes('"n":2'));
    expect(d2.verified).toBe(true);
    expect(d2.headers["linkflow-signature"]?.match(/v1=/g)).toHaveLength(2);
    secrets = [rotated.secret];
    await publish("customer.created", { n: 3 });
    expect((await sub.receiver.waitForDelivery((d) => d.body.includes('"n":3'))).verified).toBe(true);
  });

  it("suspends and resumes an endpoint; queued events go out on resume", async () => {
    const sub = await subscribe(() => [], ["transaction.*"]);
    const receiver = sub.receiver;
    const suspended = await call(client, "suspendWebhookSubscription", {
      businessId: BIZ,
      subscriptionId: sub.id,
      reason: "maintenance",
    });
    expect(suspended.subscription).toMatchObject({
      status: WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_SUSPENDED,
      statusReason: "maintenance",
    });
    await publish("transaction.status_changed", { s: "held" });
    await service.dispatcher.runOnce();
    expect(receiver.deliveries).toHaveLength(0);
    const resumed = await call(client, "resumeWebhookSubscription", {
      businessId: BIZ,
      subscriptionId: sub.id,
    });
    expect(resumed.subscription?.status).toBe(WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_ACTIVE);
    await receiver.waitForDelivery((d) => d.body.includes("held"));
  });

  it("pauses an endpoint that keeps failing", async () => {
    const receiver = await h.receiver(() => []);
    receiver.respond([]);
    // Unverifiable signatures (no secrets) get 400 every time.
    const res = await call(client, "createWebhookSubscription", {
      businessId: BIZ,
      url: receiver.url,
      eventTypes: ["workflow.*"],
      idempotencyKey: "",
    });
    const id = res.subscription!.id;
    await publish("workflow.completed", { i: 1 }, "wf_fail");
    await publish("workflow.completed", { i: 2 }, "wf_fail");
    await publish("workflow.completed", { i: 3 }, "wf_fail");
    let sub = res.subscription;
    for (let i = 0; i < 200; i++) {
      const list = await call(client, "listWebhookSubscriptions", { businessId: BIZ });
      sub = list.subscriptions.find((s) => s.id === id);
      if (sub?.status === WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_PAUSED) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(sub).toMatchObject({
      status: WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_PAUSED,
      consecutiveFailures: 2,
    });
    expect(sub?.statusReason).toContain("failed deliveries");
    // The third event waits for a resume instead of failing.
    const deliveries = await call(client, "listDeliveries", { businessId: BIZ, eventId: "", pageSize: 100 });
    expect(
      deliveries.deliveries
        .filter((d) => d.subscriptionId === id)
        .map((d) => d.status)
        .sort(),
    ).toEqual([1, 3, 3]);
  });

  it("lists events of the last 30 days, filtered and paged", async () => {
    await publish("transaction.status_changed", { k: 1 }, "wf_list");
    await publish("transaction.status_changed", { k: 2 }, "wf_list");
    const fam = await call(client, "listEvents", {
      businessId: BIZ,
      type: "transaction.*",
      workflowId: "wf_list",
    });
    expect(fam.events.map((e) => JSON.parse(e.payloadJson).k)).toEqual([2, 1]);
    const page = await call(client, "listEvents", {
      businessId: BIZ,
      type: "",
      workflowId: "",
      page: { pageSize: 1, pageToken: "" },
    });
    expect(page.events).toHaveLength(1);
    const next = await call(client, "listEvents", {
      businessId: BIZ,
      type: "",
      workflowId: "",
      page: { pageSize: 1, pageToken: page.nextPageToken },
    });
    expect(next.events[0]!.id < page.events[0]!.id).toBe(true);
    await sql`update notifications.events set created_at = now() - interval '31 days' where workflow_id = 'wf_list'
      and payload->>'k' = '1'`;
    await sql`update notifications.events set created_at = now() - interval '29 days' where workflow_id = 'wf_list'
      and payload->>'k' = '2'`;
    const recent = await call(client, "listEvents", {
      businessId: BIZ,
      type: "transaction.status_changed",
      workflowId: "wf_list",
    });
    // Older than 30 days: gone from the listing; 29 days old: still there.
    expect(recent.events.map((e) => JSON.parse(e.payloadJson).k)).toEqual([2]);
    expect(
      (await call(client, "listEvents", { businessId: OTHER, type: "", workflowId: "" })).events,
    ).toEqual([]);
  });

  it("validates every field and keeps tenants apart", async () => {
    const sub = await subscribe(() => []);
    for (const [method, req, fields] of [
      [
        "rotateWebhookSecret",
        { businessId: "", subscriptionId: "x", overlapSeconds: -1, idempotencyKey: "" },
        ["business_id", "subscription_id", "overlap_seconds"],
      ],
      [
        "suspendWebhookSubscription",
        { businessId: "x", subscriptionId: "", reason: "r".repeat(501) },
        ["business_id", "subscription_id", "reason"],
      ],
      ["resumeWebhookSubscription", { businessId: BIZ, subscriptionId: "dlv_1" }, ["subscription_id"]],
      [
        "listEvents",
        { businessId: "", type: "Bad Type", workflowId: "x", page: { pageSize: -1, pageToken: "x" } },
        ["business_id", "type", "workflow_id", "page.page_size", "page.page_token"],
      ],
    ] as const) {
      const err = await rejected(call(client, method as "resumeWebhookSubscription", req as never));
      expect(err.code, method).toBe(status.INVALID_ARGUMENT);
      expect(
        readFieldViolations(err).map((v) => v.field),
        method,
      ).toEqual(fields);
    }
    const errors = await Promise.all(
      [
        call(client, "rotateWebhookSecret", {
          businessId: OTHER,
          subscriptionId: sub.id,
          overlapSeconds: 0,
          idempotencyKey: "",
        }),
        call(client, "suspendWebhookSubscription", { businessId: OTHER, subscriptionId: sub.id, reason: "" }),
        call(client, "resumeWebhookSubscription", { businessId: OTHER, subscriptionId: sub.id }),
      ].map((p) => rejected(p)),
    );
    expect(errors.map((e) => e.code)).toEqual([status.NOT_FOUND, status.NOT_FOUND, status.NOT_FOUND]);
  });
});
