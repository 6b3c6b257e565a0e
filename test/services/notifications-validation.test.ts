import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NotificationOrigin,
  type NotificationsServiceClient,
  NotificationsServiceService,
} from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { uncoveredFields } from "./field-coverage.ts";
import { expectViolations } from "./helpers.ts";
import { type NotificationsHarness, startNotificationsHarness } from "./notifications-harness.ts";

const BIZ = "biz_validation";
const WF = "wf_validation";

let h: NotificationsHarness;

beforeAll(async () => {
  h = await startNotificationsHarness();
});

afterAll(async () => {
  await h?.stop();
});

type Client = NotificationsServiceClient;
type Method = keyof typeof NotificationsServiceService;
/** One bad value of one field: the request differs from the method's valid base in that field only. */
type Row = [method: Method, label: string, change: Record<string, unknown>, field: string];

const base: Record<Method, Record<string, unknown>> = {
  sendSms: {
    businessId: BIZ,
    workflowId: WF,
    to: "+15557654321",
    body: "Your link",
    origin: NotificationOrigin.NOTIFICATION_ORIGIN_INITIAL,
    sentBy: "system",
    idempotencyKey: "",
  },
  sendEmail: {
    businessId: BIZ,
    workflowId: WF,
    to: "ada@example.com",
    subject: "Your link",
    text: "Open it",
    html: "",
    origin: NotificationOrigin.NOTIFICATION_ORIGIN_INITIAL,
    sentBy: "system",
    idempotencyKey: "",
  },
  publishEvent: {
    businessId: BIZ,
    type: "workflow.completed",
    payloadJson: "{}",
    workflowId: "",
    idempotencyKey: "",
  },
  createWebhookSubscription: {
    businessId: BIZ,
    url: "https://hooks.example.com/linkflow",
    eventTypes: [],
    idempotencyKey: "",
  },
  listWebhookSubscriptions: { businessId: BIZ },
  deleteWebhookSubscription: { businessId: BIZ, subscriptionId: "whs_1" },
  listWorkflowNotifications: { businessId: BIZ, workflowId: WF },
  listDeliveries: { businessId: BIZ, eventId: "", pageSize: 0 },
  redeliver: { businessId: BIZ, deliveryId: "dlv_1" },
  rotateWebhookSecret: { businessId: BIZ, subscriptionId: "whs_1", overlapSeconds: 0, idempotencyKey: "" },
  suspendWebhookSubscription: { businessId: BIZ, subscriptionId: "whs_1", reason: "" },
  resumeWebhookSubscription: { businessId: BIZ, subscriptionId: "whs_1" },
  listEvents: { businessId: BIZ, type: "", workflowId: "", page: { pageSize: 0, pageToken: "" } },
};

const long = (n: number) => "x".repeat(n);
const everyRpc = Object.keys(base) as Method[];

/** business_id is on every RPC and checked the same way everywhere. */
const businessRows: Row[] = everyRpc.flatMap((m): Row[] => [
  [m, "missing business", { businessId: "" }, "business_id"],
  [m, "not a business id", { businessId: "cus_123" }, "business_id"],
  [m, "business id too long", { businessId: `biz_${long(70)}` }, "business_id"],
]);

/** Mutations take an optional idempotency key of 6–255 characters. */
const keyRows: Row[] = (
  ["sendSms", "sendEmail", "publishEvent", "createWebhookSubscription", "rotateWebhookSecret"] as const
).flatMap((m): Row[] => [
  [m, "key too short", { idempotencyKey: "abc" }, "idempotency_key"],
  [m, "key too long", { idempotencyKey: long(256) }, "idempotency_key"],
  [m, "key with spaces", { idempotencyKey: "has a space" }, "idempotency_key"],
]);

const messageRows: Row[] = (["sendSms", "sendEmail"] as const).flatMap((m): Row[] => [
  [m, "not a workflow id", { workflowId: "cus_1" }, "workflow_id"],
  [m, "workflow id too long", { workflowId: `wf_${long(70)}` }, "workflow_id"],
  [m, "unspecified origin", { origin: NotificationOrigin.NOTIFICATION_ORIGIN_UNSPECIFIED }, "origin"],
  [m, "origin the enum does not name", { origin: 99 }, "origin"],
  [m, "sent_by too long", { sentBy: long(101) }, "sent_by"],
]);

const rows: Row[] = [
  ...businessRows,
  ...keyRows,
  ...messageRows,
  ["sendSms", "missing phone", { to: "" }, "to"],
  ["sendSms", "local phone format", { to: "555-1234" }, "to"],
  ["sendSms", "phone with spaces", { to: "+1 555 765 4321" }, "to"],
  ["sendSms", "phone starting with 0", { to: "+0155576543" }, "to"],
  ["sendSms", "missing body", { body: "" }, "body"],
  ["sendSms", "blank body", { body: "   " }, "body"],
  ["sendSms", "body over 1600", { body: long(1601) }, "body"],
  ["sendEmail", "missing address", { to: "" }, "to"],
  ["sendEmail", "no @", { to: "ada.example.com" }, "to"],
  ["sendEmail", "no domain", { to: "ada@example" }, "to"],
  ["sendEmail", "address too long", { to: `${long(250)}@example.com` }, "to"],
  ["sendEmail", "missing subject", { subject: "" }, "subject"],
  ["sendEmail", "subject too long", { subject: long(201) }, "subject"],
  ["sendEmail", "subject with a header", { subject: "Hi\r\nBcc: eve@example.com" }, "subject"],
  ["sendEmail", "neither text nor html", { text: "", html: "" }, "text"],
  ["sendEmail", "blank text", { text: "  ", html: "" }, "text"],
  ["sendEmail", "text too long", { text: long(100_001) }, "text"],
  ["sendEmail", "html too long", { html: long(500_001) }, "html"],
  ["publishEvent", "missing type", { type: "" }, "type"],
  ["publishEvent", "type with spaces", { type: "Workflow Completed" }, "type"],
  ["publishEvent", "type without a dot", { type: "workflow" }, "type"],
  ["publishEvent", "type ending in a dot", { type: "workflow." }, "type"],
  ["publishEvent", "type too long", { type: `workflow.${long(100)}` }, "type"],
  ["publishEvent", "payload an array", { payloadJson: "[1]" }, "payload_json"],
  ["publishEvent", "payload null", { payloadJson: "null" }, "payload_json"],
  ["publishEvent", "payload a number", { payloadJson: "42" }, "payload_json"],
  ["publishEvent", "payload not JSON", { payloadJson: "{nope" }, "payload_json"],
  ["publishEvent", "payload too long", { payloadJson: `{"a":"${long(256_000)}"}` }, "payload_json"],
  ["publishEvent", "not a workflow id", { workflowId: "txn_1" }, "workflow_id"],
  ["createWebhookSubscription", "missing url", { url: "" }, "url"],
  ["createWebhookSubscription", "relative url", { url: "/linkflow" }, "url"],
  ["createWebhookSubscription", "no scheme", { url: "hooks.example.com/linkflow" }, "url"],
  ["createWebhookSubscription", "ftp", { url: "ftp://hooks.example.com/x" }, "url"],
  ["createWebhookSubscription", "javascript", { url: "javascript:alert(1)" }, "url"],
  ["createWebhookSubscription", "plain http off loopback", { url: "http://hooks.example.com/x" }, "url"],
  ["createWebhookSubscription", "user and password", { url: "https://u:p@hooks.example.com/x" }, "url"],
  ["createWebhookSubscription", "user only", { url: "https://token@hooks.example.com/x" }, "url"],
  ["createWebhookSubscription", "fragment", { url: "https://hooks.example.com/x#part" }, "url"],
  ["createWebhookSubscription", "bad host", { url: "https://hooks example.com/x" }, "url"],
  ["createWebhookSubscription", "url too long", { url: `https://hooks.example.com/${long(2000)}` }, "url"],
  ["createWebhookSubscription", "unknown type", { eventTypes: ["invoice.paid"] }, "event_types[0]"],
  [
    "createWebhookSubscription",
    "unknown family",
    { eventTypes: ["customer.*", "invoice.*"] },
    "event_types[1]",
  ],
  ["createWebhookSubscription", "empty type", { eventTypes: [""] }, "event_types[0]"],
  ["createWebhookSubscription", "blank type", { eventTypes: ["workflow.*", " "] }, "event_types[1]"],
  [
    "createWebhookSubscription",
    "repeated type",
    { eventTypes: ["workflow.completed", "transaction.*", "workflow.completed"] },
    "event_types[2]",
  ],
  ["createWebhookSubscription", "malformed type", { eventTypes: ["Workflow Completed"] }, "event_types[0]"],
  [
    "createWebhookSubscription",
    "too many types",
    {
      eventTypes: Array.from({ length: 51 }, (_, i) => `workflow.t${String.fromCharCode(97 + (i % 26))}${i}`),
    },
    "event_types",
  ],
  ["deleteWebhookSubscription", "missing subscription", { subscriptionId: "" }, "subscription_id"],
  ["deleteWebhookSubscription", "not a subscription id", { subscriptionId: "dlv_1" }, "subscription_id"],
  ["listWorkflowNotifications", "missing workflow", { workflowId: "" }, "workflow_id"],
  ["listWorkflowNotifications", "not a workflow id", { workflowId: "biz_1" }, "workflow_id"],
  ["listDeliveries", "not an event id", { eventId: "dlv_1" }, "event_id"],
  ["listDeliveries", "negative page size", { pageSize: -1 }, "page_size"],
  ["listDeliveries", "page size over 500", { pageSize: 501 }, "page_size"],
  ["redeliver", "missing delivery", { deliveryId: "" }, "delivery_id"],
  ["redeliver", "not a delivery id", { deliveryId: "evt_1" }, "delivery_id"],
  ["rotateWebhookSecret", "missing subscription", { subscriptionId: "" }, "subscription_id"],
  ["rotateWebhookSecret", "not a subscription id", { subscriptionId: "wf_1" }, "subscription_id"],
  ["rotateWebhookSecret", "negative overlap", { overlapSeconds: -1 }, "overlap_seconds"],
  ["rotateWebhookSecret", "overlap over 7 days", { overlapSeconds: 604_801 }, "overlap_seconds"],
  ["suspendWebhookSubscription", "missing subscription", { subscriptionId: "" }, "subscription_id"],
  ["suspendWebhookSubscription", "not a subscription id", { subscriptionId: "evt_1" }, "subscription_id"],
  ["suspendWebhookSubscription", "reason too long", { reason: long(501) }, "reason"],
  ["resumeWebhookSubscription", "missing subscription", { subscriptionId: "" }, "subscription_id"],
  ["resumeWebhookSubscription", "not a subscription id", { subscriptionId: "dlv_1" }, "subscription_id"],
  ["listEvents", "type with spaces", { type: "Bad Type" }, "type"],
  ["listEvents", "not a workflow id", { workflowId: "x" }, "workflow_id"],
  ["listEvents", "negative page size", { page: { pageSize: -1, pageToken: "" } }, "page.page_size"],
  ["listEvents", "page size over 500", { page: { pageSize: 501, pageToken: "" } }, "page.page_size"],
  ["listEvents", "foreign page token", { page: { pageSize: 0, pageToken: "dlv_1" } }, "page.page_token"],
  [
    "listEvents",
    "garbled page token",
    { page: { pageSize: 0, pageToken: "evt_'; drop" } },
    "page.page_token",
  ],
];

describe("notifications: bad input on every field", () => {
  it("covers every RPC of the service", () => {
    expect(new Set(rows.map((r) => r.at(0)))).toEqual(new Set(Object.keys(NotificationsServiceService)));
  });

  it("covers every request field of every RPC", () => {
    const refusals = rows.map(([method, , , field]) => ({ method, fields: [field] }));
    expect(uncoveredFields(NotificationsServiceService, refusals)).toEqual([]);
  });

  it.each(rows)("%s: %s → INVALID_ARGUMENT on %s", async (method, label, change, field) => {
    const request = { ...base[method], ...change };
    await expectViolations(
      call(h.client as Client, method as "listEvents", request as never),
      [field],
      `${method} ${label}`,
    );
  });

  it("refused requests changed nothing and sent nothing", async () => {
    expect(h.twilio.messages).toEqual([]);
    expect(h.smtp.messages).toEqual([]);
    const [counts] = await h.sql<{ notifications: number; events: number; subscriptions: number }[]>`
      select (select count(*)::int from notifications.notifications) as notifications,
             (select count(*)::int from notifications.events) as events,
             (select count(*)::int from notifications.webhook_subscriptions) as subscriptions`;
    expect(counts).toEqual({ notifications: 0, events: 0, subscriptions: 0 });
  });

  it("the valid base requests pass validation", async () => {
    // Without this, a row could pass only because its base request is itself invalid.
    for (const method of everyRpc) {
      const err = await call(h.client as Client, method as "listEvents", base[method] as never).then(
        () => undefined,
        (e: { code?: number; details?: string }) => e,
      );
      expect(err?.code, `${method}: ${err?.details}`).not.toBe(3);
    }
  });
});
