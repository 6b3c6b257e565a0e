import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Notification,
  NotificationOrigin,
  NotificationStatus,
  type NotificationsServiceClient,
} from "../../proto/index.ts";
import { call, type ListeningServer, listen, readErrorCode, requestHash } from "../../services/grpc/index.ts";
import {
  createNotificationsClient,
  createNotificationsService,
  type EmailSender,
  type NotificationsServiceHandle,
  OutboxSmsSender,
  type SmsSender,
  type SmsStatusReport,
  SmtpEmailSender,
  TWILIO_STATUS_PATH,
  TwilioSmsSender,
} from "../../services/notifications/index.ts";
import { twilioClientFor, twilioSignature } from "../infra/index.ts";
import { eventually, rejected } from "./helpers.ts";
import {
  type NotificationsHarness,
  startNotificationsHarness,
  TWILIO_FROM,
} from "./notifications-harness.ts";

const BIZ = "biz_delivery";
let h: NotificationsHarness;

beforeAll(async () => {
  h = await startNotificationsHarness();
});

afterAll(async () => {
  await h?.stop();
});

let phoneSeq = 0;
/** A fresh number per test, so counts on the Twilio loopback belong to one test. */
const nextPhone = () => `+1555200${String(++phoneSeq).padStart(4, "0")}`;

const sms = (workflowId: string, to: string, idempotencyKey: string, body = "Your link is ready") => ({
  businessId: BIZ,
  workflowId,
  to,
  body,
  origin: NotificationOrigin.NOTIFICATION_ORIGIN_INITIAL,
  sentBy: "system",
  idempotencyKey,
});

const email = (workflowId: string, idempotencyKey: string, subject = "Your link") => ({
  businessId: BIZ,
  workflowId,
  to: "ada@example.com",
  subject,
  text: "Open your link",
  html: "",
  origin: NotificationOrigin.NOTIFICATION_ORIGIN_MANUAL,
  sentBy: "key_1",
  idempotencyKey,
});

async function history(client: NotificationsServiceClient, workflowId: string): Promise<Notification[]> {
  return (await call(client, "listWorkflowNotifications", { businessId: BIZ, workflowId })).notifications;
}

/** Waits until the workflow's history matches `pred` (status callbacks arrive asynchronously). */
function historyWhen(workflowId: string, pred: (list: Notification[]) => boolean): Promise<Notification[]> {
  return eventually(async () => {
    const list = await history(h.client, workflowId);
    return pred(list) ? list : undefined;
  }, `the history of ${workflowId}`);
}

/** Another instance of the service on the same database, with its own senders (another node). */
async function startNode(deps: { sms?: SmsSender; email?: EmailSender }) {
  const mail = deps.email ?? new SmtpEmailSender(h.smtp.url);
  const service: NotificationsServiceHandle = createNotificationsService({
    sql: h.sql,
    sms:
      deps.sms ??
      new TwilioSmsSender({
        accountSid: h.twilio.accountSid,
        authToken: h.twilio.authToken,
        from: TWILIO_FROM,
        baseUrl: h.twilio.baseUrl,
      }),
    email: mail,
  });
  const server: ListeningServer = await listen([service]);
  const client = createNotificationsClient(server.address);
  return {
    client,
    async stop() {
      client.close();
      await server.close();
      await service.close();
      await mail.close?.();
    },
  };
}

/** An SMS sender that holds every send until released: a provider call still in flight. */
function gatedSms(inner: SmsSender) {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let entered!: () => void;
  const started = new Promise<void>((r) => {
    entered = r;
  });
  const sender: SmsSender = {
    provider: inner.provider,
    async send(m) {
      entered();
      await gate;
      return inner.send(m);
    },
    findSent: (q) => inner.findSent(q),
  };
  return { sender, started, release: () => open() };
}

describe("delivery status in the notification history", () => {
  it("takes Twilio's status at send time, then the carrier's reports from the signed status callback", async () => {
    const to = nextPhone();
    const sent = await call(h.client, "sendSms", sms("wf_status1", to, "status-send-1"));
    const msg = h.twilio.messages.find((m) => m.to === to)!;
    expect(sent.notification).toMatchObject({ providerMessageId: msg.sid, error: "" });
    // The callbacks may already have overtaken the send's own answer ("queued"); the later status wins.
    expect([
      NotificationStatus.NOTIFICATION_STATUS_QUEUED,
      NotificationStatus.NOTIFICATION_STATUS_SENT,
      NotificationStatus.NOTIFICATION_STATUS_DELIVERED,
    ]).toContain(sent.notification?.status);
    expect(msg.statusCallback).toBe(
      `${h.httpBaseUrl}${TWILIO_STATUS_PATH}?notification_id=${sent.notification?.id}`,
    );
    const [delivered] = await historyWhen(
      "wf_status1",
      (l) => l[0]?.status === NotificationStatus.NOTIFICATION_STATUS_DELIVERED,
    );
    expect(delivered?.id).toBe(sent.notification?.id);

    const unreachable = nextPhone();
    h.twilio.failDelivery(unreachable, "undelivered", 30003);
    await call(h.client, "sendSms", sms("wf_status2", unreachable, "status-send-2"));
    const [undelivered] = await historyWhen(
      "wf_status2",
      (l) => l[0]?.status === NotificationStatus.NOTIFICATION_STATUS_UNDELIVERED,
    );
    expect(undelivered?.error).toContain("30003");

    const rejectedByCarrier = nextPhone();
    h.twilio.failDelivery(rejectedByCarrier, "failed", 30006);
    await call(h.client, "sendSms", sms("wf_status3", rejectedByCarrier, "status-send-3"));
    const [failed] = await historyWhen(
      "wf_status3",
      (l) => l[0]?.status === NotificationStatus.NOTIFICATION_STATUS_FAILED,
    );
    expect(failed?.error).toContain("30006");
  });

  it("without status callbacks, the history keeps the status Twilio answered the send with", async () => {
    const to = nextPhone();
    const node = await startNode({});
    try {
      const sent = await call(node.client, "sendSms", sms("wf_no_callback", to, "no-callback-1"));
      // The loopback answers a create with "queued", as Twilio does.
      expect(sent.notification?.status).toBe(NotificationStatus.NOTIFICATION_STATUS_QUEUED);
      expect(h.twilio.messages.find((m) => m.to === to)?.statusCallback).toBeNull();
      const [row] = await history(h.client, "wf_no_callback");
      expect(row?.status).toBe(NotificationStatus.NOTIFICATION_STATUS_QUEUED);
    } finally {
      await node.stop();
    }
  });

  it("accepts only callbacks signed with the account's token, and never moves a final status back", async () => {
    const to = nextPhone();
    const sent = await call(h.client, "sendSms", sms("wf_forged", to, "forged-callback-1"));
    const id = sent.notification!.id;
    await historyWhen("wf_forged", (l) => l[0]?.status === NotificationStatus.NOTIFICATION_STATUS_DELIVERED);
    const url = `${h.httpBaseUrl}${TWILIO_STATUS_PATH}?notification_id=${id}`;
    const post = (params: Record<string, string>, signature: string, target = url) =>
      fetch(target, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
        body: new URLSearchParams(params).toString(),
      });
    const report = {
      MessageSid: sent.notification!.providerMessageId,
      MessageStatus: "failed",
      ErrorCode: "30008",
    };

    expect((await post(report, "")).status).toBe(403);
    expect((await post(report, twilioSignature("not-the-token", url, report))).status).toBe(403);
    // Signed for another notification's URL: a replay to this one is refused.
    const other = `${h.httpBaseUrl}${TWILIO_STATUS_PATH}?notification_id=ntf_other`;
    expect((await post(report, twilioSignature(h.twilio.authToken, other, report))).status).toBe(403);
    // Signed, but a late report cannot undo "delivered".
    expect((await post(report, twilioSignature(h.twilio.authToken, url, report))).status).toBe(204);
    const [still] = await history(h.client, "wf_forged");
    expect(still).toMatchObject({ status: NotificationStatus.NOTIFICATION_STATUS_DELIVERED, error: "" });
    // A message Linkflow never sent is unknown.
    const stray = { MessageSid: "SM0000", MessageStatus: "delivered" };
    const strayUrl = `${h.httpBaseUrl}${TWILIO_STATUS_PATH}?notification_id=ntf_unknown`;
    expect((await post(stray, twilioSignature(h.twilio.authToken, strayUrl, stray), strayUrl)).status).toBe(
      404,
    );
  });

  it("matches a report to its message by id or sid; refuses one naming another message; ignores stale and unknown statuses", async () => {
    // A node without status callbacks: only the reports below change the row.
    const node = await startNode({});
    let sent: Notification;
    try {
      sent = (await call(node.client, "sendSms", sms("wf_reports", nextPhone(), "reports-1"))).notification!;
    } finally {
      await node.stop();
    }
    const { id, providerMessageId: sid } = sent;
    const report = (r: Partial<SmsStatusReport>) =>
      h.service.recordSmsStatus({ providerMessageId: "", status: "", ...r });
    const now = async () => (await history(h.client, "wf_reports"))[0];

    expect(
      await report({ notificationId: id, providerMessageId: "SMsomeoneelse", status: "delivered" }),
    ).toBe("unknown");
    expect(await report({ notificationId: "ntf_nobody", status: "delivered" })).toBe("unknown");
    expect(await report({ providerMessageId: "SMnobody", status: "delivered" })).toBe("unknown");
    expect(await report({ notificationId: id, providerMessageId: sid, status: "bogus" })).toBe("ignored");
    expect((await now())?.status).toBe(NotificationStatus.NOTIFICATION_STATUS_QUEUED);
    // Found by its sid alone; an earlier status cannot replace a later one.
    expect(await report({ providerMessageId: sid, status: "sent" })).toBe("recorded");
    expect(await report({ notificationId: id, providerMessageId: sid, status: "queued" })).toBe("ignored");
    expect((await now())?.status).toBe(NotificationStatus.NOTIFICATION_STATUS_SENT);
    expect(
      await report({ notificationId: id, providerMessageId: sid, status: "undelivered", errorCode: "30003" }),
    ).toBe("recorded");
    // Final: a late "delivered" changes nothing.
    expect(await report({ notificationId: id, status: "delivered" })).toBe("ignored");
    const final = await now();
    expect(final).toMatchObject({
      status: NotificationStatus.NOTIFICATION_STATUS_UNDELIVERED,
      providerMessageId: sid,
    });
    expect(final?.error).toContain("30003");
    // An email is no SMS: an SMS report cannot touch it.
    const mail = await call(
      h.client,
      "sendEmail",
      email("wf_reports_mail", "reports-mail-1", "Status reports"),
    );
    expect(await report({ notificationId: mail.notification!.id, status: "delivered" })).toBe("unknown");
    const [mailRow] = await history(h.client, "wf_reports_mail");
    expect(mailRow?.status).toBe(NotificationStatus.NOTIFICATION_STATUS_SENT);
  });

  it("records a send Twilio refuses or cannot take as failed, with the reason", async () => {
    const to = nextPhone();
    h.twilio.failNext(400, 21211, "The 'To' number is not a valid phone number.");
    const refused = await rejected(call(h.client, "sendSms", sms("wf_refused", to, "refused-send-1")));
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    h.twilio.failNext(503, 20503, "Service Unavailable");
    const down = await rejected(
      call(h.client, "sendSms", sms("wf_refused", to, "refused-send-2", "Reminder")),
    );
    expect(down.code).toBe(status.UNAVAILABLE);
    const list = await history(h.client, "wf_refused");
    expect(list.map((n) => [n.serial, n.status])).toEqual([
      [1, NotificationStatus.NOTIFICATION_STATUS_FAILED],
      [2, NotificationStatus.NOTIFICATION_STATUS_FAILED],
    ]);
    expect(list[0]?.error).toContain("21211");
    expect(list[1]?.error).toContain("unavailable");
    expect(list.every((n) => n.providerMessageId === "")).toBe(true);

    // A refusal is final: the retry answers the same error without calling Twilio.
    const before = h.twilio.messages.length;
    const again = await rejected(call(h.client, "sendSms", sms("wf_refused", to, "refused-send-1")));
    expect(again.code).toBe(status.INVALID_ARGUMENT);
    expect(h.twilio.messages.length).toBe(before);
    // An outage is not: the retry sends, and the same row turns into the sent message.
    const retried = await call(h.client, "sendSms", sms("wf_refused", to, "refused-send-2", "Reminder"));
    expect(retried.notification?.serial).toBe(2);
    expect(h.twilio.messages.filter((m) => m.to === to)).toHaveLength(1);
    const after = await history(h.client, "wf_refused");
    expect(after).toHaveLength(2);
    expect(after[1]).toMatchObject({ id: list[1]?.id, error: "" });
    expect(after[1]?.status).not.toBe(NotificationStatus.NOTIFICATION_STATUS_FAILED);
  });

  it("records an email the mail server rejects, or cannot be reached for, as failed", async () => {
    const smtp = new SMTPServer({
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error("5.1.1 mailbox unavailable"), { responseCode: 550 }));
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
    const port = (smtp.server.address() as AddressInfo).port;
    const rejecting = await startNode({ email: new SmtpEmailSender(`smtp://127.0.0.1:${port}`) });
    try {
      const err = await rejected(
        call(rejecting.client, "sendEmail", email("wf_mail_rejected", "mail-rejected-1")),
      );
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(readErrorCode(err)).toBe("email_rejected");
    } finally {
      await rejecting.stop();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
    // Nothing listens there any more.
    const unreachable = await startNode({ email: new SmtpEmailSender(`smtp://127.0.0.1:${port}`) });
    try {
      const err = await rejected(call(unreachable.client, "sendEmail", email("wf_mail_down", "mail-down-1")));
      expect(err.code).toBe(status.UNAVAILABLE);
    } finally {
      await unreachable.stop();
    }
    const [rejectedRow] = await history(h.client, "wf_mail_rejected");
    expect(rejectedRow).toMatchObject({ status: NotificationStatus.NOTIFICATION_STATUS_FAILED });
    expect(rejectedRow?.error).toContain("550");
    const [downRow] = await history(h.client, "wf_mail_down");
    expect(downRow).toMatchObject({ status: NotificationStatus.NOTIFICATION_STATUS_FAILED });
    expect(downRow?.error).toContain("unavailable");
    // The working mail server got neither.
    expect(h.smtp.messages.filter((m) => m.subject === "Your link")).toEqual([]);
  });
});

describe("sending once per idempotency key", () => {
  it("concurrent retries of one request send exactly one SMS and one email", async () => {
    const to = nextPhone();
    const smsRetries = await Promise.all(
      Array.from({ length: 8 }, () =>
        call(h.client, "sendSms", sms("wf_concurrent", to, "concurrent-sms-1")),
      ),
    );
    expect(new Set(smsRetries.map((r) => r.notification?.id)).size).toBe(1);
    expect(h.twilio.messages.filter((m) => m.to === to)).toHaveLength(1);

    const mailRetries = await Promise.all(
      Array.from({ length: 8 }, () =>
        call(h.client, "sendEmail", email("wf_concurrent", "concurrent-mail-1", "Exactly once")),
      ),
    );
    expect(new Set(mailRetries.map((r) => r.notification?.id)).size).toBe(1);
    await h.smtp.waitForMessage((m) => m.subject === "Exactly once");
    // A later retry, after everything settled, still sends nothing.
    await call(h.client, "sendEmail", email("wf_concurrent", "concurrent-mail-1", "Exactly once"));
    expect(h.smtp.messages.filter((m) => m.subject === "Exactly once")).toHaveLength(1);
    expect((await history(h.client, "wf_concurrent")).map((n) => n.serial)).toEqual([1, 2]);

    const reused = await rejected(
      call(h.client, "sendSms", sms("wf_concurrent", to, "concurrent-sms-1", "Other")),
    );
    expect(readErrorCode(reused)).toBe("idempotency_key_reused");
    expect(h.twilio.messages.filter((m) => m.to === to)).toHaveLength(1);
  });

  it("concurrent sends of one workflow, keyed or not, each send once and take the serials 1 to n", async () => {
    const to = nextPhone();
    // An uncommitted row holding serial 1 makes the sends below compute serial 1 and wait on it; once it rolls
    // back, those waiting collide on that serial, and all but one must move on to the next free one.
    let rollBack!: () => void;
    const released = new Promise<void>((r) => {
      rollBack = r;
    });
    let inserted!: () => void;
    const holding = new Promise<void>((r) => {
      inserted = r;
    });
    const blocker = h.sql
      .begin(async (tx) => {
        await tx`insert into notifications.notifications
            (id, business_id, workflow_id, serial, channel, origin, sent_by, status, provider, recipient, body, sent_at)
          values ('ntf_blocker', ${BIZ}, 'wf_parallel', 1, 'sms', 'initial', 'system', 'sending', 'twilio', ${to},
                  'held', now())`;
        inserted();
        await released;
        throw new Error("rolled back");
      })
      .catch(() => undefined);
    await holding;
    const sends = Promise.all([
      ...Array.from({ length: 4 }, (_, i) =>
        call(h.client, "sendSms", sms("wf_parallel", to, `parallel-sms-${i}`, `Keyed ${i}`)),
      ),
      ...Array.from({ length: 2 }, (_, i) =>
        call(h.client, "sendSms", sms("wf_parallel", to, "", `Unkeyed ${i}`)),
      ),
    ]);
    await eventually(async () => {
      const [row] = await h.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'
          and query like '%into notifications.notifications%'`;
      return row!.n >= 3 ? true : undefined;
    }, "sends waiting for serial 1");
    rollBack();
    await blocker;
    const sent = await sends;
    const serials = [1, 2, 3, 4, 5, 6];
    expect(new Set(sent.map((r) => r.notification?.id)).size).toBe(6);
    expect(sent.map((r) => r.notification?.serial).sort((x, y) => x! - y!)).toEqual(serials);
    expect(h.twilio.messages.filter((m) => m.to === to)).toHaveLength(6);
    expect((await history(h.client, "wf_parallel")).map((n) => n.serial)).toEqual(serials);
  });

  it("records the message before calling the provider, and a retry during the call waits for it", async () => {
    const to = nextPhone();
    const gate = gatedSms(
      new TwilioSmsSender({
        accountSid: h.twilio.accountSid,
        authToken: h.twilio.authToken,
        from: TWILIO_FROM,
        baseUrl: h.twilio.baseUrl,
      }),
    );
    const node = await startNode({ sms: gate.sender });
    try {
      const first = call(node.client, "sendSms", sms("wf_inflight", to, "inflight-sms-1"));
      await gate.started;
      // The row is committed (visible to another connection) while the provider call is open.
      const [row] =
        await h.sql`select status from notifications.notifications where idempotency_key = 'inflight-sms-1'`;
      expect(row?.status).toBe("sending");
      const retry = call(h.client, "sendSms", sms("wf_inflight", to, "inflight-sms-1"));
      const retryOnNode = call(node.client, "sendSms", sms("wf_inflight", to, "inflight-sms-1"));
      gate.release();
      const results = await Promise.all([first, retry, retryOnNode]);
      expect(new Set(results.map((r) => r.notification?.id)).size).toBe(1);
      expect(results[1]?.notification?.status).not.toBe(NotificationStatus.NOTIFICATION_STATUS_SENDING);
      expect(h.twilio.messages.filter((m) => m.to === to)).toHaveLength(1);
    } finally {
      gate.release();
      await node.stop();
    }
  });

  it("a send whose process died mid-call (lease lapsed) is taken over by the retry", async () => {
    const to = nextPhone();
    const { idempotencyKey: _key, ...request } = sms("wf_crashed", to, "crashed-sms-1");
    // What a crash between recording and sending leaves behind.
    await h.sql`insert into notifications.notifications
        (id, business_id, workflow_id, serial, channel, origin, sent_by, status, provider, recipient, body, sent_at,
         idempotency_key, request_hash, lease_until)
      select 'ntf_crashed', ${BIZ}, 'wf_crashed', 1, 'sms', 'initial', 'system', 'sending', 'twilio', ${to},
             'Your link is ready', now(), 'crashed-sms-1', ${requestHash("SendSms", request)},
             now() - interval '1 second'`;
    const res = await call(h.client, "sendSms", sms("wf_crashed", to, "crashed-sms-1"));
    expect(res.notification?.id).toBe("ntf_crashed");
    expect(h.twilio.messages.filter((m) => m.to === to)).toHaveLength(1);
    expect(res.notification?.status).not.toBe(NotificationStatus.NOTIFICATION_STATUS_SENDING);
  });

  /**
   * What a process that died mid-send leaves behind: the notification still `sending`, its lease lapsed, its
   * first attempt begun `startedSecondsAgo` ago; with `handedOver`, Twilio took the message before the crash
   * (and its status callbacks never reached us).
   */
  async function crashedSend(id: string, key: string, o: { startedSecondsAgo: number; handedOver: boolean }) {
    const to = nextPhone();
    const { idempotencyKey: _key, ...request } = sms(`wf_${id}`, to, key);
    await h.sql`insert into notifications.notifications
        (id, business_id, workflow_id, serial, channel, origin, sent_by, status, provider, recipient, body, sent_at,
         idempotency_key, request_hash, lease_until, first_attempt_at)
      select ${id}, ${BIZ}, ${`wf_${id}`}, 1, 'sms', 'initial', 'system', 'sending', 'twilio', ${to},
             'Your link is ready', now(), ${key}, ${requestHash("SendSms", request)},
             now() - interval '1 second', now() - make_interval(secs => ${o.startedSecondsAgo})`;
    const handed = o.handedOver
      ? await twilioClientFor(h.twilio).messages.create({ to, from: TWILIO_FROM, body: "Your link is ready" })
      : undefined;
    return { to, retry: () => call(h.client, "sendSms", sms(`wf_${id}`, to, key)), handedSid: handed?.sid };
  }

  it("a retry after a crash finds at Twilio the message the dead attempt handed over, and does not send it again", async () => {
    const crashed = await crashedSend("ntf_handed_over", "handed-over-1", {
      startedSecondsAgo: 1,
      handedOver: true,
    });
    const res = await crashed.retry();
    expect(res.notification).toMatchObject({ id: "ntf_handed_over", providerMessageId: crashed.handedSid });
    expect(res.notification?.status).not.toBe(NotificationStatus.NOTIFICATION_STATUS_SENDING);
    expect(h.twilio.messages.filter((m) => m.to === crashed.to)).toHaveLength(1);
  });

  it("an email sent again after a crash is the same message to mail systems: its Message-ID is the notification's", async () => {
    const first = await call(h.client, "sendEmail", email("wf_message_id", "message-id-1", "Stable id 1"));
    const got = await h.smtp.waitForMessage((m) => m.subject === "Stable id 1");
    expect(got.headers["message-id"]).toBe(`<${first.notification?.id}@linkflow.test>`);

    // SMTP cannot be asked what it took: a send whose process died is sent again, under the same Message-ID.
    const { idempotencyKey: _key, ...request } = email("wf_message_id", "message-id-2", "Stable id 2");
    await h.sql`insert into notifications.notifications
        (id, business_id, workflow_id, serial, channel, origin, sent_by, status, provider, recipient, subject, body,
         sent_at, idempotency_key, request_hash, lease_until, first_attempt_at)
      select 'ntf_email_crashed', ${BIZ}, 'wf_message_id', 2, 'email', 'manual', 'key_1', 'sending', 'smtp',
             'ada@example.com', 'Stable id 2', 'Open your link', now(), 'message-id-2',
             ${requestHash("SendEmail", request)}, now() - interval '1 second', now() - interval '2 seconds'`;
    const retried = await call(h.client, "sendEmail", email("wf_message_id", "message-id-2", "Stable id 2"));
    expect(retried.notification?.id).toBe("ntf_email_crashed");
    const again = await h.smtp.waitForMessage((m) => m.subject === "Stable id 2");
    expect(again.headers["message-id"]).toBe("<ntf_email_crashed@linkflow.test>");
  });

  it("the dev outbox finds a message it took by number, exact text and time, like Twilio", async () => {
    const outbox = new OutboxSmsSender(h.sql);
    const to = nextPhone();
    const before = new Date(Date.now() - 1_000);
    const sent = await outbox.send({ to, body: "Your code is 123456" });
    expect(await outbox.findSent({ to, body: "Your code is 123456", since: before })).toEqual(sent);
    expect(await outbox.findSent({ to, body: "Your code is 654321", since: before })).toBeUndefined();
    expect(
      await outbox.findSent({ to: nextPhone(), body: "Your code is 123456", since: before }),
    ).toBeUndefined();
    const later = new Date(Date.now() + 60_000);
    expect(await outbox.findSent({ to, body: "Your code is 123456", since: later })).toBeUndefined();
  });

  it("the same text sent to the number before the dead attempt began is not taken for it", async () => {
    // The earlier message went out a minute before the attempt that died (say, the link sent the first time).
    const crashed = await crashedSend("ntf_older_twin", "older-twin-1", {
      startedSecondsAgo: -60,
      handedOver: true,
    });
    const res = await crashed.retry();
    expect(res.notification?.id).toBe("ntf_older_twin");
    expect(res.notification?.providerMessageId).not.toBe(crashed.handedSid);
    expect(h.twilio.messages.filter((m) => m.to === crashed.to)).toHaveLength(2);
  });

  it("while Twilio cannot say what it took, the retry fails retryably and sends nothing; the next one finds the message", async () => {
    const crashed = await crashedSend("ntf_cannot_say", "cannot-say-1", {
      startedSecondsAgo: 1,
      handedOver: true,
    });
    h.twilio.failNext(503, 20503, "Service Unavailable");
    const down = await rejected(crashed.retry());
    expect(down.code).toBe(status.UNAVAILABLE);
    expect(h.twilio.messages.filter((m) => m.to === crashed.to)).toHaveLength(1);
    // The failed check leaves the outcome as unknown as before: the next retry still looks from the first attempt.
    const res = await crashed.retry();
    expect(res.notification).toMatchObject({ id: "ntf_cannot_say", providerMessageId: crashed.handedSid });
    expect(h.twilio.messages.filter((m) => m.to === crashed.to)).toHaveLength(1);
  });
});
