import http from "node:http";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, ManualClock } from "../../core/index.ts";
import { DeliveryStatus, PublishEventResponse } from "../../proto/index.ts";
import { call, requestHash } from "../../services/grpc/index.ts";
import { WebhookDispatcher } from "../../services/notifications/index.ts";
import { EVENT_ID_HEADER, SIGNATURE_HEADER, verifyWebhookSignature } from "../infra/index.ts";
import { eventually, rejected } from "./helpers.ts";
import {
  type NotificationsHarness,
  startNotificationsHarness,
  TEST_KEYRING,
} from "./notifications-harness.ts";

const BIZ = "biz_hooks";
let h: NotificationsHarness;

beforeAll(async () => {
  h = await startNotificationsHarness({
    webhooks: { pollIntervalMs: 25, baseBackoffMs: 20, maxBackoffMs: 80 },
  });
});

afterAll(async () => {
  await h?.stop();
});

async function subscribe(url: string, eventTypes: string[], businessId = BIZ) {
  const res = await call(h.client, "createWebhookSubscription", {
    businessId,
    url,
    eventTypes,
    idempotencyKey: "",
  });
  return { id: res.subscription!.id, secret: res.secret };
}

const publish = async (type: string, data: unknown, workflowId = "", businessId = BIZ) =>
  (
    await call(h.client, "publishEvent", {
      businessId,
      type,
      payloadJson: JSON.stringify(data),
      workflowId,
      idempotencyKey: "",
    })
  ).eventId;

describe("webhook delivery with a running dispatcher", () => {
  it("a receiver that answers 500s and then recovers gets every event, in order per workflow, once", async () => {
    const secrets: string[] = [];
    const receiver = await h.receiver(() => secrets);
    const sub = await subscribe(receiver.url, ["workflow.*"]);
    secrets.push(sub.secret);
    receiver.respond([500, 500, 500, 503, 500, 500, 502, 500]);
    const workflows = ["wf_order_a", "wf_order_b", "wf_order_c"];
    const published = new Map<string, string[]>(workflows.map((w) => [w, []]));
    // Interleaved: a1 b1 c1 a2 b2 c2 …
    for (let n = 1; n <= 4; n++) {
      for (const wf of workflows)
        published.get(wf)!.push(await publish("workflow.step_completed", { n }, wf));
    }
    const all = [...published.values()].flat();
    await eventually(async () => {
      const ok = new Set(receiver.deliveries.filter((d) => d.status === 200).map((d) => d.eventId));
      return all.every((id) => ok.has(id)) ? true : undefined;
    }, "every event delivered");

    expect(receiver.deliveries.filter((d) => !d.verified).map((d) => d.rejection)).toEqual([]);
    expect(receiver.deliveries.filter((d) => d.status >= 500)).toHaveLength(8);
    const workflowOf = new Map([...published].flatMap(([wf, ids]) => ids.map((id) => [id, wf] as const)));
    for (const wf of workflows) {
      const seen = receiver.deliveries.filter((d) => workflowOf.get(d.eventId) === wf);
      // Successes in publish order, each event exactly once.
      expect(
        seen.filter((d) => d.status === 200).map((d) => d.eventId),
        wf,
      ).toEqual(published.get(wf));
      // Event n+1 never went out (not even an attempt) before event n was accepted.
      const firstAttempt = (id: string) => seen.findIndex((d) => d.eventId === id);
      const accepted = (id: string) => seen.findIndex((d) => d.eventId === id && d.status === 200);
      const ids = published.get(wf)!;
      for (let i = 1; i < ids.length; i++) {
        expect(firstAttempt(ids[i]!), `${wf} event ${i + 1}`).toBeGreaterThan(accepted(ids[i - 1]!));
      }
    }
    // The receiver answers before the dispatcher records the answer.
    const mine = await eventually(async () => {
      const log = await call(h.client, "listDeliveries", { businessId: BIZ, eventId: "", pageSize: 100 });
      const list = log.deliveries.filter((d) => d.subscriptionId === sub.id);
      return list.every((d) => d.status === DeliveryStatus.DELIVERY_STATUS_DELIVERED) ? list : undefined;
    }, "every delivery recorded as delivered");
    expect(mine).toHaveLength(12);
    expect(mine.reduce((n, d) => n + d.attempts, 0)).toBe(12 + 8);
  });

  it("sends each event to every subscription of its business whose types match, signed with that one's secret", async () => {
    const biz = "biz_several_subs";
    const endpoint = async (types: string[], businessId = biz) => {
      const secrets: string[] = [];
      const receiver = await h.receiver(() => secrets);
      const sub = await subscribe(receiver.url, types, businessId);
      secrets.push(sub.secret);
      return receiver;
    };
    const workflows = await endpoint(["workflow.*"]);
    const transactions = await endpoint(["transaction.status_changed", "customer.created"]);
    const everything = await endpoint([]);
    const otherBusiness = await endpoint([], "biz_not_this_one");

    const completed = await call(h.client, "publishEvent", {
      businessId: biz,
      type: "workflow.completed",
      payloadJson: "{}",
      workflowId: "",
      idempotencyKey: "",
    });
    expect(completed.deliveries).toBe(2);
    const txn = await publish("transaction.status_changed", { status: "settled" }, "", biz);
    const customer = await publish("customer.created", { customer_id: "cus_1" }, "", biz);
    const account = await publish("financial_account.added", { financial_account_id: "fa_1" }, "", biz);

    const got = (r: typeof workflows, n: number) =>
      eventually(async () => {
        const ok = r.deliveries.filter((d) => d.status === 200);
        return ok.length >= n ? ok.map((d) => d.eventId).sort() : undefined;
      }, `${n} deliveries`);
    expect(await got(everything, 4)).toEqual([completed.eventId, txn, customer, account].sort());
    expect(await got(transactions, 2)).toEqual([txn, customer].sort());
    expect(await got(workflows, 1)).toEqual([completed.eventId]);
    // Nothing else arrived anywhere, and each receiver verified every request with its own secret only.
    for (const r of [workflows, transactions, everything]) {
      expect(r.deliveries.every((d) => d.verified && d.status === 200)).toBe(true);
    }
    expect(workflows.deliveries).toHaveLength(1);
    expect(transactions.deliveries).toHaveLength(2);
    expect(everything.deliveries).toHaveLength(4);
    expect(otherBusiness.deliveries).toHaveLength(0);
    const log = await call(h.client, "listDeliveries", { businessId: biz, eventId: "", pageSize: 100 });
    expect(log.deliveries).toHaveLength(7);
  });

  it("a keyed publish records its event once; '*' and the type's family match, another family does not; each delivery has its own id", async () => {
    const biz = "biz_keyed_publish";
    const receivers = [];
    for (const types of [["*"], ["customer.*"], ["workflow.*"]]) {
      const secrets: string[] = [];
      const receiver = await h.receiver(() => secrets);
      secrets.push((await subscribe(receiver.url, types, biz)).secret);
      receivers.push(receiver);
    }
    const req = {
      businessId: biz,
      type: "customer.created",
      payloadJson: JSON.stringify({ customer_id: "cus_1" }),
      workflowId: "",
      idempotencyKey: "publish-once-1",
    };
    const first = await call(h.client, "publishEvent", req);
    expect(first.deliveries).toBe(2);
    expect(await call(h.client, "publishEvent", req)).toEqual(first);
    const reused = await rejected(call(h.client, "publishEvent", { ...req, payloadJson: "{}" }));
    expect(reused.code).toBe(status.FAILED_PRECONDITION);
    const events = await call(h.client, "listEvents", { businessId: biz, type: "", workflowId: "" });
    expect(events.events.map((e) => e.id)).toEqual([first.eventId]);
    const log = await call(h.client, "listDeliveries", {
      businessId: biz,
      eventId: first.eventId,
      pageSize: 0,
    });
    expect(log.deliveries).toHaveLength(2);
    expect(new Set(log.deliveries.map((d) => d.id)).size).toBe(2);
    for (const d of log.deliveries) expect(d.id).toMatch(/^dlv_[0-9a-z]{26,60}$/);
    const [star, family, other] = receivers;
    await star!.waitForDelivery((d) => d.eventId === first.eventId);
    await family!.waitForDelivery((d) => d.eventId === first.eventId);
    expect(other!.deliveries).toEqual([]);
  });

  it("concurrent publishes with one key record one event; one waiting on a key recorded by an older node replays its answer", async () => {
    const biz = "biz_publish_race";
    const req = (key: string) => ({
      businessId: biz,
      type: "customer.created",
      payloadJson: "{}",
      workflowId: "",
      idempotencyKey: key,
    });
    const together = await Promise.all(
      Array.from({ length: 4 }, () => call(h.client, "publishEvent", req("race-1"))),
    );
    expect(new Set(together.map((r) => r.eventId)).size).toBe(1);

    // An older node held this key in an open transaction and stored its answer as protobuf.
    const { idempotencyKey: _key, ...request } = req("older-node-1");
    let commit!: () => void;
    const committed = new Promise<void>((r) => {
      commit = r;
    });
    let inserted!: () => void;
    const holding = new Promise<void>((r) => {
      inserted = r;
    });
    const older = h.sql.begin(async (tx) => {
      const answer = PublishEventResponse.encode({ eventId: "evt_older", deliveries: 3 }).finish();
      await tx`insert into notifications.idempotency (business_id, key, method, request_hash, response)
        values (${biz}, 'older-node-1', 'PublishEvent', ${requestHash("PublishEvent", request)}, ${Buffer.from(answer)})`;
      inserted();
      await committed;
    });
    await holding;
    const waiting = Promise.all(
      Array.from({ length: 2 }, () => call(h.client, "publishEvent", req("older-node-1"))),
    );
    await eventually(async () => {
      const [row] = await h.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'
          and query like '%into notifications.idempotency%'`;
      return row!.n >= 1 ? true : undefined;
    }, "a publish waiting for the key");
    commit();
    await older;
    expect(await waiting).toEqual([
      { eventId: "evt_older", deliveries: 3 },
      { eventId: "evt_older", deliveries: 3 },
    ]);
    const events = await call(h.client, "listEvents", { businessId: biz, type: "", workflowId: "" });
    expect(events.events.map((e) => e.id)).toEqual([together[0]!.eventId]);
  });

  it("redelivers a delivered event on request: same event id, freshly signed, one more attempt", async () => {
    const secrets: string[] = [];
    const receiver = await h.receiver(() => secrets);
    const sub = await subscribe(receiver.url, ["customer.created"], "biz_redeliver");
    secrets.push(sub.secret);
    const eventId = await publish("customer.created", { customer_id: "cus_1" }, "", "biz_redeliver");
    const first = await receiver.waitForDelivery((d) => d.eventId === eventId && d.status === 200);
    const settled = (attempts: number) =>
      eventually(async () => {
        const [d] = (
          await call(h.client, "listDeliveries", { businessId: "biz_redeliver", eventId, pageSize: 0 })
        ).deliveries;
        return d?.status === DeliveryStatus.DELIVERY_STATUS_DELIVERED && d.attempts === attempts
          ? d
          : undefined;
      }, `delivery attempt ${attempts} to settle`);
    const delivery = await settled(1);

    const other = await rejected(
      call(h.client, "redeliver", { businessId: "biz_else", deliveryId: delivery.id }),
    );
    expect(other.code).toBe(status.NOT_FOUND);

    const again = await call(h.client, "redeliver", { businessId: "biz_redeliver", deliveryId: delivery.id });
    expect(again.delivery?.status).toBe(DeliveryStatus.DELIVERY_STATUS_PENDING);
    await settled(2);
    const copies = receiver.deliveries.filter((d) => d.eventId === eventId);
    expect(copies).toHaveLength(2);
    expect(copies[1]?.body).toBe(first.body);
    expect(copies[1]?.verified).toBe(true);
    expect(copies[1]?.headers["linkflow-delivery-id"]).toBe(delivery.id);
  });
});

/**
 * A signature-checking receiver that holds every new event's request open
 * until the test releases it; a request for an event it already has is
 * answered at once (and counted), so a duplicate never blocks the test.
 */
async function startHoldingReceiver(secret: () => string) {
  const received: { eventId: string; verified: boolean }[] = [];
  const held: Array<() => void> = [];
  let changed = () => {};
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const sig = String(req.headers[SIGNATURE_HEADER.toLowerCase()] ?? "");
      const eventId = String(req.headers[EVENT_ID_HEADER.toLowerCase()] ?? "");
      const verified = verifyWebhookSignature(sig, body, [secret()]) === undefined;
      const duplicate = received.some((r) => r.eventId === eventId);
      received.push({ eventId, verified });
      const answer = () => res.writeHead(verified ? 200 : 400).end();
      if (duplicate || !verified) answer();
      else held.push(answer);
      changed();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const waitHeld = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fewer than ${n} requests held`)), 15_000);
      changed = () => {
        if (held.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      };
      changed();
    });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    waitHeld,
    releaseOldest: () => held.shift()?.(),
    async stop() {
      for (const answer of held.splice(0)) answer();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Runs `scenario` against a holding receiver subscribed by `businessId` to
 * `eventType`, with `events` events published to it and two dispatchers
 * (workers A and B) on one ManualClock; stops the receiver after it.
 */
async function withTwoWorkers(
  o: { businessId: string; eventType: string; events: number; requestTimeoutMs: number },
  scenario: (w: {
    receiver: Awaited<ReturnType<typeof startHoldingReceiver>>;
    sub: { id: string; secret: string };
    ids: string[];
    clock: ManualClock;
    a: WebhookDispatcher;
    b: WebhookDispatcher;
  }) => Promise<void>,
): Promise<void> {
  let secret = "";
  const receiver = await startHoldingReceiver(() => secret);
  try {
    const sub = await subscribe(receiver.url, [o.eventType], o.businessId);
    secret = sub.secret;
    const ids: string[] = [];
    for (let n = 1; n <= o.events; n++) ids.push(await publish(o.eventType, { n }, "", o.businessId));
    const clock = new ManualClock(Date.now());
    const log = createLogger({ test: "lease" });
    const opts = { requestTimeoutMs: o.requestTimeoutMs, batchSize: 20 };
    const a = new WebhookDispatcher(h.sql, log, clock, opts, TEST_KEYRING);
    const b = new WebhookDispatcher(h.sql, log, clock, opts, TEST_KEYRING);
    await scenario({ receiver, sub, ids, clock, a, b });
  } finally {
    await receiver.stop();
  }
}

describe("webhook delivery with several workers", () => {
  beforeAll(async () => {
    // The workers below run their passes by hand, on a clock the test moves.
    await h.service.dispatcher.close();
  });

  it("a slow pass keeps its deliveries: a second worker never sends an event that is still in flight", async () => {
    // Each attempt may take up to 30 s; six in a row outlast three timeouts (the lease this used to take).
    await withTwoWorkers(
      {
        businessId: "biz_slow_pass",
        eventType: "transaction.status_changed",
        events: 6,
        requestTimeoutMs: 30_000,
      },
      async ({ receiver, sub, ids, clock, a, b }) => {
        const passA = a.runOnce();
        const passesB: Promise<number>[] = [];
        for (let i = 0; i < ids.length; i++) {
          await receiver.waitHeld(1);
          // The receiver takes 25 s over this request (less than the timeout)…
          clock.advance(25_000);
          // …while the other worker looks for due deliveries.
          const passB = b.runOnce();
          passesB.push(passB);
          await Promise.race([passB, receiver.waitHeld(2)]);
          receiver.releaseOldest();
        }
        expect(await passA).toBe(6);
        expect(await Promise.all(passesB)).toEqual(ids.map(() => 0));
        expect(receiver.received.map((r) => r.eventId)).toEqual(ids);
        expect(receiver.received.every((r) => r.verified)).toBe(true);
        const rows = await h.sql<{ status: string; attempts: number }[]>`
        select status, attempts from notifications.deliveries where subscription_id = ${sub.id}`;
        expect(rows.every((r) => r.status === "delivered" && r.attempts === 1)).toBe(true);
      },
    );
  });

  it("a worker that died holding a batch lets go of all of it within one attempt's lease", async () => {
    await withTwoWorkers(
      { businessId: "biz_dead_worker", eventType: "customer.created", events: 5, requestTimeoutMs: 10_000 },
      async ({ receiver, ids, clock, a, b }) => {
        // A claims all five and never gets past the first (as if its node died mid-request).
        const passA = a.runOnce();
        await receiver.waitHeld(1);
        // One attempt's lease later (timeout + margin), B takes over the whole batch, not just the first.
        clock.advance(10_000 + 30_000 + 1);
        const passB = b.runOnce();
        await receiver.waitHeld(2);
        receiver.releaseOldest(); // A's request finally ends; A then finds it holds nothing more.
        for (let n = 0; n < 4; n++) {
          await receiver.waitHeld(1);
          receiver.releaseOldest();
        }
        expect(await passB).toBe(5);
        expect(await passA).toBe(5);
        // Event 1 went out twice (A's attempt in flight, B's retry); the others once, by B.
        expect(receiver.received.map((r) => r.eventId)).toEqual([ids[0], ...ids]);
      },
    );
  });

  it("a delivery redelivered by hand while its pass is busy is sent once, by the worker that took it back", async () => {
    await withTwoWorkers(
      { businessId: "biz_taken_back", eventType: "customer.created", events: 3, requestTimeoutMs: 10_000 },
      async ({ receiver, sub, ids, clock, a, b }) => {
        // A claims all three, and its first request is in flight (its lease has long to run).
        const passA = a.runOnce();
        await receiver.waitHeld(1);
        const deliveries = (
          await call(h.client, "listDeliveries", {
            businessId: "biz_taken_back",
            eventId: ids[1]!,
            pageSize: 0,
          })
        ).deliveries;
        // The business asks for the second again: it leaves A, and B takes it.
        await call(h.client, "redeliver", { businessId: "biz_taken_back", deliveryId: deliveries[0]!.id });
        clock.advance(1_000); // past the redelivery's due time, well within A's lease
        const passB = b.runOnce();
        await receiver.waitHeld(2);
        receiver.releaseOldest(); // A's first request ends; A must skip the second and send the third.
        await receiver.waitHeld(2);
        receiver.releaseOldest();
        receiver.releaseOldest();
        expect(await passA).toBe(3);
        expect(await passB).toBe(1);
        expect(receiver.received.map((r) => r.eventId).sort()).toEqual([...ids].sort());
        const rows = await h.sql<{ status: string; attempts: number }[]>`
        select status, attempts from notifications.deliveries where subscription_id = ${sub.id}`;
        expect(rows.map((r) => [r.status, r.attempts])).toEqual(ids.map(() => ["delivered", 1]));
      },
    );
  });

  it("a worker whose lease lapsed (it hung) does not settle or resend what another worker took over", async () => {
    await withTwoWorkers(
      { businessId: "biz_hung_worker", eventType: "workflow.completed", events: 2, requestTimeoutMs: 10_000 },
      async ({ receiver, sub, ids, clock, a, b }) => {
        const passA = a.runOnce();
        await receiver.waitHeld(1);
        // A hangs far beyond any lease: B takes over both deliveries.
        clock.advance(3_600_000);
        const passB = b.runOnce();
        await receiver.waitHeld(2);
        receiver.releaseOldest(); // A's first request ends (200) — too late to count.
        receiver.releaseOldest(); // B's request for event 2.
        expect(await passB).toBe(2);
        expect(await passA).toBe(2);
        // Event 1 went out twice (A hung mid-request, B retried it: an attempt each); event 2 once, by B only.
        expect(receiver.received.map((r) => r.eventId)).toEqual([ids[0], ids[0], ids[1]]);
        const attempts = await h.sql<{ event_id: string; n: number }[]>`
        select d.event_id, count(a.id)::int as n from notifications.deliveries d
        join notifications.delivery_attempts a on a.delivery_id = d.id
        where d.subscription_id = ${sub.id} group by d.event_id order by d.event_id`;
        expect(Object.fromEntries(attempts.map((r) => [r.event_id, r.n]))).toEqual({
          [ids[0]!]: 2,
          [ids[1]!]: 1,
        });
      },
    );
  });

  it("after a secret rotation both secrets sign until the overlap ends, then only the new one", async () => {
    let accepted: string[] = [];
    const receiver = await h.receiver(() => accepted);
    const sub = await subscribe(receiver.url, ["workflow.declined"], "biz_rotation");
    const clock = new ManualClock(Date.now());
    const due = () => clock.advance(1_000);
    const worker = new WebhookDispatcher(h.sql, createLogger({ test: "rotation" }), clock, {}, TEST_KEYRING);
    const rotated = await call(h.client, "rotateWebhookSecret", {
      businessId: "biz_rotation",
      subscriptionId: sub.id,
      overlapSeconds: 600,
      idempotencyKey: "rotation-overlap-1",
    });
    accepted = [sub.secret];
    const during = await publish("workflow.declined", { n: 1 }, "", "biz_rotation");
    due();
    await worker.runOnce();
    const d1 = receiver.deliveries.find((d) => d.eventId === during)!;
    expect(d1.verified).toBe(true);
    expect(d1.headers["linkflow-signature"]?.match(/v1=/g)).toHaveLength(2);

    clock.advance(601_000);
    const after = await publish("workflow.declined", { n: 2 }, "", "biz_rotation");
    await worker.runOnce();
    const d2 = receiver.deliveries.find((d) => d.eventId === after)!;
    // A receiver still on the old secret now refuses it…
    expect(d2.verified).toBe(false);
    expect(d2.headers["linkflow-signature"]?.match(/v1=/g)).toHaveLength(1);
    // …and one on the new secret accepts the retry.
    accepted = [rotated.secret];
    clock.advance(3_600_000);
    await worker.runOnce();
    expect(receiver.deliveries.filter((d) => d.eventId === after).map((d) => d.verified)).toEqual([
      false,
      true,
    ]);
  });
});
