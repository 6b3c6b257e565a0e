import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signWebhook, startWebhookReceiver } from "./index.ts";

function post(url: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
}

describe("webhook receiver", () => {
  let secrets = ["whsec_old"];
  let rx: Awaited<ReturnType<typeof startWebhookReceiver>>;
  beforeAll(async () => {
    rx = await startWebhookReceiver({ secrets: () => secrets });
  });
  afterAll(async () => {
    await rx.stop();
  });

  it("verifies a correctly signed delivery", async () => {
    const body = JSON.stringify({ type: "workflow.completed", id: "evt_1" });
    const res = await post(rx.url, body, {
      "Linkflow-Signature": signWebhook(body, "whsec_old"),
      "Linkflow-Event-Id": "evt_1",
    });
    expect(res.status).toBe(200);
    const d = await rx.waitForDelivery((x) => x.eventId === "evt_1");
    expect(d.verified).toBe(true);
    expect(d.json).toEqual({ type: "workflow.completed", id: "evt_1" });
    expect(d.headers["linkflow-event-id"]).toBe("evt_1");
  });

  it("rejects a tampered body, a wrong secret and a stale timestamp with 400 but records them", async () => {
    const body = JSON.stringify({ amount: 100 });
    const sig = signWebhook(body, "whsec_old");
    const tampered = await post(rx.url, JSON.stringify({ amount: 999 }), {
      "Linkflow-Signature": sig,
      "Linkflow-Event-Id": "evt_tampered",
    });
    expect(tampered.status).toBe(400);
    const wrong = await post(rx.url, body, {
      "Linkflow-Signature": signWebhook(body, "nope"),
      "Linkflow-Event-Id": "evt_wrong",
    });
    expect(wrong.status).toBe(400);
    const stale = await post(rx.url, body, {
      "Linkflow-Signature": signWebhook(body, "whsec_old", Math.floor(Date.now() / 1000) - 301),
      "Linkflow-Event-Id": "evt_stale",
    });
    expect(stale.status).toBe(400);
    for (const id of ["evt_tampered", "evt_wrong", "evt_stale"]) {
      const d = await rx.waitForDelivery((x) => x.eventId === id);
      expect(d.verified).toBe(false);
      expect(d.status).toBe(400);
    }
  });

  it("accepts any matching v1 during secret rotation", async () => {
    secrets = ["whsec_new"];
    const body = "{}";
    const res = await post(rx.url, body, {
      "Linkflow-Signature": signWebhook(body, ["whsec_old", "whsec_new"]),
      "Linkflow-Event-Id": "evt_rot",
    });
    expect(res.status).toBe(200);
    expect((await rx.waitForDelivery((x) => x.eventId === "evt_rot")).verified).toBe(true);
  });

  it("answers with scripted statuses, then 200", async () => {
    rx.respond([500, 503]);
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const body = JSON.stringify({ i });
      const res = await post(rx.url, body, {
        "Linkflow-Signature": signWebhook(body, secrets),
        "Linkflow-Event-Id": `evt_r${i}`,
      });
      codes.push(res.status);
    }
    expect(codes).toEqual([500, 503, 200]);
    await expect(rx.waitForDelivery((x) => x.eventId === "missing", 100)).rejects.toThrow(/received \d+/);
  });
});
