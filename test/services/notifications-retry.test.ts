import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../core/index.ts";
import { DeliveryStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { eventually } from "./helpers.ts";
import { type NotificationsHarness, startNotificationsHarness } from "./notifications-harness.ts";

const BIZ = "biz_retry_schedule";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// The default retry policy (no webhook options) on an injected clock: the schedule is walked, not waited for.
const clock = new ManualClock(Date.UTC(2025, 5, 16, 12));
let h: NotificationsHarness;

beforeAll(async () => {
  h = await startNotificationsHarness({ clock, webhooks: {} });
});

afterAll(async () => {
  await h?.stop();
});

describe("the default webhook retry policy", () => {
  it("retries a failing endpoint with exponential backoff for just over 3 days, then gives the delivery up", async () => {
    const secrets: string[] = [];
    const receiver = await h.receiver(() => secrets);
    const sub = await call(h.client, "createWebhookSubscription", {
      businessId: BIZ,
      url: receiver.url,
      eventTypes: [],
      idempotencyKey: "",
    });
    secrets.push(sub.secret);
    receiver.respond(Array.from({ length: 500 }, () => 500));
    const { eventId } = await call(h.client, "publishEvent", {
      businessId: BIZ,
      type: "workflow.completed",
      payloadJson: "{}",
      workflowId: "",
      idempotencyKey: "",
    });
    const delivery = () =>
      h.sql<{ status: string; attempts: number; next_attempt_at: Date }[]>`
        select status, attempts, next_attempt_at from notifications.deliveries where event_id = ${eventId}`;

    const start = clock.now();
    const gaps: number[] = [];
    let attempts = 0;
    let last = { status: "pending", attempts: 0, next_attempt_at: new Date(start) };
    while (last.status === "pending") {
      expect(attempts, "attempts before the delivery is given up").toBeLessThan(200);
      await h.service.dispatcher.runOnce();
      const n = attempts + 1;
      // The dispatcher's own loop may have taken the attempt: wait until it is recorded.
      last = await eventually(async () => {
        const [row] = await delivery();
        return row && row.attempts === n ? row : undefined;
      }, `attempt ${n} recorded`);
      attempts = n;
      if (last.status !== "pending") break;
      const gap = last.next_attempt_at.getTime() - clock.now();
      gaps.push(gap);
      clock.advance(gap);
    }

    expect(last.status).toBe("failed");
    expect(attempts).toBe(82);
    // Exponential from 5 s, doubling, capped at an hour.
    expect(gaps.slice(0, 6)).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000]);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBe(Math.min(gaps[i - 1]! * 2, HOUR));
    expect(Math.max(...gaps)).toBe(HOUR);
    // Given up only after 3 days of trying, and not a day later.
    const span = clock.now() - start;
    expect(span).toBeGreaterThanOrEqual(3 * DAY);
    expect(span).toBeLessThan(4 * DAY);

    // Every attempt reached the receiver, signed, with the same event id; the log says FAILED.
    const mine = receiver.deliveries.filter((d) => d.eventId === eventId);
    expect(mine).toHaveLength(82);
    expect(mine.every((d) => d.verified && d.status === 500)).toBe(true);
    const log = await call(h.client, "listDeliveries", { businessId: BIZ, eventId, pageSize: 0 });
    expect(log.deliveries.map((d) => [d.status, d.attempts])).toEqual([
      [DeliveryStatus.DELIVERY_STATUS_FAILED, 82],
    ]);
  });
});
