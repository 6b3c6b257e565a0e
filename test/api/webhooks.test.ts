import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { WebhookSubscriptionStatus } from "../../proto/index.ts";
import { call } from "../../services/grpc/index.ts";
import { expectIdempotent, expectViolations, failure, useApiStack } from "./harness.ts";

const api = useApiStack();

async function subscription(path: string): Promise<{ id: string; secret: string }> {
  const res = await call(
    api.webhooks,
    "createWebhook",
    { url: `https://hooks.example.com/${path}`, eventTypes: ["workflow.*"], idempotencyKey: "" },
    api.asA(),
  );
  return { id: res.subscription!.id, secret: res.secret };
}

const mine = async (as = api.asA()) => (await call(api.webhooks, "listWebhooks", {}, as)).subscriptions;

describe("WebhookService: idempotency keys", () => {
  it("CreateWebhook: one subscription per key and business; another business's same key is its own", async () => {
    const req = {
      url: "https://hooks.example.com/idem",
      eventTypes: ["workflow.completed"],
      idempotencyKey: "hook-idem-1",
    };
    const made = await expectIdempotent(
      () => call(api.webhooks, "createWebhook", req, api.asA()),
      () =>
        call(api.webhooks, "createWebhook", { ...req, url: "https://hooks.example.com/other" }, api.asA()),
    );
    expect((await mine()).filter((s) => s.url === req.url).map((s) => s.id)).toEqual([made.subscription!.id]);
    const theirs = await call(api.webhooks, "createWebhook", req, api.asB());
    expect(theirs.subscription!.id).not.toBe(made.subscription!.id);
    expect((await mine(api.asB())).map((s) => s.id)).toEqual([theirs.subscription!.id]);
  });

  it("RollWebhookSecret rolls once per key; Suspend, Resume and Delete act once per key", async () => {
    const sub = await subscription("roll");
    const other = await subscription("roll-other");
    const roll = { subscriptionId: sub.id, overlapSeconds: 60, idempotencyKey: "roll-key-1" };
    const rolled = await expectIdempotent(
      () => call(api.webhooks, "rollWebhookSecret", roll, api.asA()),
      () => call(api.webhooks, "rollWebhookSecret", { ...roll, overlapSeconds: 120 }, api.asA()),
    );
    expect(rolled.secret).not.toBe(sub.secret);
    // (A second roll would have answered the replay with a new secret: expectIdempotent compares the answers.)

    const suspend = { subscriptionId: sub.id, reason: "maintenance", idempotencyKey: "suspend-key-1" };
    const s = await expectIdempotent(
      () => call(api.webhooks, "suspendWebhook", suspend, api.asA()),
      () => call(api.webhooks, "suspendWebhook", { ...suspend, reason: "other" }, api.asA()),
    );
    expect(s.subscription?.status).toBe(WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_SUSPENDED);

    const resume = { subscriptionId: sub.id, idempotencyKey: "resume-key-1" };
    const r = await expectIdempotent(
      () => call(api.webhooks, "resumeWebhook", resume, api.asA()),
      () => call(api.webhooks, "resumeWebhook", { ...resume, subscriptionId: other.id }, api.asA()),
    );
    expect(r.subscription?.status).toBe(WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_ACTIVE);

    const del = { subscriptionId: sub.id, idempotencyKey: "delete-key-1" };
    await expectIdempotent(
      () => call(api.webhooks, "deleteWebhook", del, api.asA()),
      () => call(api.webhooks, "deleteWebhook", { ...del, subscriptionId: other.id }, api.asA()),
    );
    expect((await mine()).map((x) => x.id)).not.toContain(sub.id);
    expect((await mine()).map((x) => x.id)).toContain(other.id);
  });
});

describe("WebhookService: tenant isolation", () => {
  it("another tenant's subscription is NOT_FOUND for every mutation, and stays as it was", async () => {
    const sub = await subscription("iso");
    const before = (await mine()).find((s) => s.id === sub.id);
    for (const [name, p] of [
      [
        "RollWebhookSecret",
        () =>
          call(
            api.webhooks,
            "rollWebhookSecret",
            { subscriptionId: sub.id, overlapSeconds: 0, idempotencyKey: "b-roll-1" },
            api.asB(),
          ),
      ],
      [
        "SuspendWebhook",
        () =>
          call(
            api.webhooks,
            "suspendWebhook",
            { subscriptionId: sub.id, reason: "", idempotencyKey: "b-suspend-1" },
            api.asB(),
          ),
      ],
      [
        "ResumeWebhook",
        () => call(api.webhooks, "resumeWebhook", { subscriptionId: sub.id, idempotencyKey: "" }, api.asB()),
      ],
      [
        "DeleteWebhook",
        () =>
          call(
            api.webhooks,
            "deleteWebhook",
            { subscriptionId: sub.id, idempotencyKey: "b-delete-1" },
            api.asB(),
          ),
      ],
    ] as const) {
      expect(await failure(p()), name).toMatchObject({ code: status.NOT_FOUND });
    }
    expect((await mine()).find((s) => s.id === sub.id)).toEqual(before);
  });
});

describe("WebhookService: bad input", () => {
  it("names every invalid field of every call", async () => {
    const sub = await subscription("bad");
    const w = api.webhooks;
    const as = api.asA();
    const create = { url: "https://hooks.example.com/ok", eventTypes: [], idempotencyKey: "" };
    const events = { type: "", workflowId: "", pageSize: 0, pageToken: "" };
    await expectViolations([
      [() => call(w, "createWebhook", { ...create, url: "" }, as), "url"],
      [() => call(w, "createWebhook", { ...create, url: "ftp://hooks.example.com/x" }, as), "url"],
      [() => call(w, "createWebhook", { ...create, url: "https://user:pw@hooks.example.com/x" }, as), "url"],
      [
        () =>
          call(w, "createWebhook", { ...create, url: `https://hooks.example.com/${"p".repeat(2000)}` }, as),
        "url",
      ],
      [() => call(w, "createWebhook", { ...create, eventTypes: ["Not An Event"] }, as), "event_types[0]"],
      [
        () =>
          call(
            w,
            "createWebhook",
            { ...create, eventTypes: Array.from({ length: 51 }, () => "workflow.*") },
            as,
          ),
        "event_types",
      ],
      [() => call(w, "createWebhook", { ...create, idempotencyKey: "k" }, as), "idempotency_key"],
      [() => call(w, "deleteWebhook", { subscriptionId: "", idempotencyKey: "" }, as), "subscription_id"],
      [
        () => call(w, "deleteWebhook", { subscriptionId: sub.id, idempotencyKey: "k" }, as),
        "idempotency_key",
      ],
      [
        () =>
          call(w, "rollWebhookSecret", { subscriptionId: "whs", overlapSeconds: 0, idempotencyKey: "" }, as),
        "subscription_id",
      ],
      [
        () =>
          call(
            w,
            "rollWebhookSecret",
            { subscriptionId: sub.id, overlapSeconds: -1, idempotencyKey: "" },
            as,
          ),
        "overlap_seconds",
      ],
      [
        () =>
          call(
            w,
            "rollWebhookSecret",
            { subscriptionId: sub.id, overlapSeconds: 604_801, idempotencyKey: "" },
            as,
          ),
        "overlap_seconds",
      ],
      [
        () =>
          call(
            w,
            "rollWebhookSecret",
            { subscriptionId: sub.id, overlapSeconds: 0, idempotencyKey: "k" },
            as,
          ),
        "idempotency_key",
      ],
      [
        () => call(w, "suspendWebhook", { subscriptionId: "", reason: "", idempotencyKey: "" }, as),
        "subscription_id",
      ],
      [
        () =>
          call(
            w,
            "suspendWebhook",
            { subscriptionId: sub.id, reason: "r".repeat(501), idempotencyKey: "" },
            as,
          ),
        "reason",
      ],
      [
        () => call(w, "suspendWebhook", { subscriptionId: sub.id, reason: "", idempotencyKey: "k" }, as),
        "idempotency_key",
      ],
      [
        () => call(w, "resumeWebhook", { subscriptionId: "whs_UPPER", idempotencyKey: "" }, as),
        "subscription_id",
      ],
      [
        () => call(w, "resumeWebhook", { subscriptionId: sub.id, idempotencyKey: "k" }, as),
        "idempotency_key",
      ],
      [() => call(w, "listWebhookEvents", { ...events, type: "t".repeat(101) }, as), "type"],
      [() => call(w, "listWebhookEvents", { ...events, type: "Bad Type" }, as), "type"],
      [() => call(w, "listWebhookEvents", { ...events, workflowId: "wf_x" }, as), "workflow_id"],
      [() => call(w, "listWebhookEvents", { ...events, pageSize: 501 }, as), "page_size"],
      [() => call(w, "listWebhookEvents", { ...events, pageSize: -1 }, as), "page_size"],
      [() => call(w, "listWebhookEvents", { ...events, pageToken: "garbage" }, as), "page_token"],
      [() => call(w, "listWebhookDeliveries", { eventId: "evt", pageSize: 0 }, as), "event_id"],
      [() => call(w, "listWebhookDeliveries", { eventId: "", pageSize: 501 }, as), "page_size"],
      [() => call(w, "redeliverWebhook", { deliveryId: "", idempotencyKey: "" }, as), "delivery_id"],
      [
        () => call(w, "redeliverWebhook", { deliveryId: "dlv_a", idempotencyKey: "k" }, as),
        "idempotency_key",
      ],
    ]);
    // Nothing was created, rolled or suspended by the refused calls.
    const subs = await mine();
    expect(subs.map((s) => s.url)).not.toContain("https://hooks.example.com/ok");
    expect(subs.find((s) => s.id === sub.id)?.status).toBe(
      WebhookSubscriptionStatus.WEBHOOK_SUBSCRIPTION_STATUS_ACTIVE,
    );
    expect(subs.find((s) => s.id === sub.id)?.previousSecretExpiresAt).toBeUndefined();
  });
});
