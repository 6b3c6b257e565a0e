import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NotificationOrigin,
  NotificationStatus,
  type NotificationsServiceClient,
} from "../../proto/index.ts";
import { call, readErrorCode } from "../../services/grpc/index.ts";
import {
  createNotificationsClient,
  TWILIO_INBOUND_PATH,
  TWILIO_STATUS_PATH,
} from "../../services/notifications/index.ts";
import { twilioSignature } from "../infra/index.ts";
import { type Stack, startStack } from "../support/stack.ts";
import { eventually, rejected } from "./helpers.ts";

// A whole node with Twilio configured: its HTTP front door carries Twilio's callbacks.
let stack: Stack;
let client: NotificationsServiceClient;

beforeAll(async () => {
  stack = await startStack();
  client = createNotificationsClient(stack.node.internalAddress);
});

afterAll(async () => {
  client?.close();
  await stack?.stop();
});

describe("a node with Twilio configured", () => {
  it("takes delivery reports and inbound keywords on its public URL", async () => {
    const { businessId } = stack.business;
    const to = "+15557003001";
    const sms = (key: string, workflowId: string) => ({
      businessId,
      workflowId,
      to,
      body: "Your payment is on its way",
      origin: NotificationOrigin.NOTIFICATION_ORIGIN_TRANSACTION,
      sentBy: "system",
      idempotencyKey: key,
    });
    const sent = await call(client, "sendSms", sms("node-status-1", "wf_node_status"));
    const msg = stack.twilio.messages.find((m) => m.to === to);
    expect(msg?.statusCallback).toBe(
      `${stack.node.publicBaseUrl}${TWILIO_STATUS_PATH}?notification_id=${sent.notification?.id}`,
    );
    await eventually(async () => {
      const { notifications } = await call(client, "listWorkflowNotifications", {
        businessId,
        workflowId: "wf_node_status",
      });
      return notifications[0]?.status === NotificationStatus.NOTIFICATION_STATUS_DELIVERED ? true : undefined;
    }, "Twilio's delivery report to reach the node");

    const url = `${stack.node.publicBaseUrl}${TWILIO_INBOUND_PATH}`;
    const form = { From: to, To: "+15005550006", Body: "STOP" };
    const post = (signature: string) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
        body: new URLSearchParams(form).toString(),
      });
    expect((await post("forged")).status).toBe(403);
    await call(client, "sendSms", sms("node-before-stop", "wf_node_stop"));
    expect((await post(twilioSignature(stack.twilio.authToken, url, form))).status).toBe(200);
    const refused = await rejected(call(client, "sendSms", sms("node-after-stop", "wf_node_stop")));
    expect(readErrorCode(refused)).toBe("recipient_opted_out");
  });
});
