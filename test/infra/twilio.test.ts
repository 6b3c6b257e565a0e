import http from "node:http";
import type { AddressInfo } from "node:net";
import twilio from "twilio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTwilioServer, twilioClientFor } from "./index.ts";

describe("twilio loopback server + real SDK", () => {
  let server: Awaited<ReturnType<typeof startTwilioServer>>;
  beforeAll(async () => {
    server = await startTwilioServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it("sends an SMS through the SDK (plain client.api.baseUrl assignment)", async () => {
    const client = twilio(server.accountSid, server.authToken);
    client.api.baseUrl = server.baseUrl;
    const msg = await client.messages.create({
      to: "+15551234567",
      from: "+15557654321",
      body: "Your code is 123456",
    });
    expect(msg.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(msg.accountSid).toBe(server.accountSid);
    expect(msg.status).toBe("queued");
    expect(msg.to).toBe("+15551234567");
    expect(msg.direction).toBe("outbound-api");
    expect(msg.numSegments).toBe("1");
    expect(msg.dateCreated).toBeInstanceOf(Date);
    expect(Number.isNaN(msg.dateCreated.getTime())).toBe(false);
    const rec = await server.waitForMessage((m) => m.sid === msg.sid);
    expect(rec.body).toBe("Your code is 123456");
    expect(rec.from).toBe("+15557654321");
    const fetched = await client.messages(msg.sid).fetch();
    expect(fetched.body).toBe("Your code is 123456");
  });

  it("rejects bad credentials with 20003/401", async () => {
    const client = twilioClientFor({ ...server, authToken: "wrong" });
    await expect(
      client.messages.create({ to: "+15551234567", from: "+15557654321", body: "x" }),
    ).rejects.toMatchObject({ code: 20003, status: 401 });
  });

  it("rejects a non-E.164 To with 21211, opted-out with 21610, and honours failNext", async () => {
    const client = twilioClientFor(server);
    await expect(
      client.messages.create({ to: "555-1234", from: "+15557654321", body: "x" }),
    ).rejects.toMatchObject({
      code: 21211,
      status: 400,
      message: "The 'To' number 555-1234 is not a valid phone number.",
    });
    server.optOut("+15550000001");
    await expect(
      client.messages.create({ to: "+15550000001", from: "+15557654321", body: "x" }),
    ).rejects.toMatchObject({ code: 21610 });
    server.failNext(503, 20500, "Internal Server Error");
    await expect(
      client.messages.create({ to: "+15551234567", from: "+15557654321", body: "x" }),
    ).rejects.toMatchObject({ code: 20500, status: 503 });
    const ok = await client.messages.create({
      to: "+15551234567",
      messagingServiceSid: `MG${"0".repeat(32)}`,
      body: "y",
    });
    expect(ok.messagingServiceSid).toBe(`MG${"0".repeat(32)}`);
  });

  it("posts signed status callbacks", async () => {
    const received: { params: URLSearchParams; signature: string }[] = [];
    const cb = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        received.push({
          params: new URLSearchParams(body),
          signature: String(req.headers["x-twilio-signature"]),
        });
        res.end();
      });
    });
    await new Promise<void>((r) => cb.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(cb.address() as AddressInfo).port}/sms-status`;
      const client = twilioClientFor(server);
      const msg = await client.messages.create({
        to: "+15551234567",
        from: "+15557654321",
        body: "z",
        statusCallback: url,
      });
      await expect.poll(() => received.length).toBe(2);
      const last = received[1]!;
      expect(last.params.get("MessageSid")).toBe(msg.sid);
      expect(last.params.get("MessageStatus")).toBe("delivered");
      expect(
        twilio.validateRequest(server.authToken, last.signature, url, Object.fromEntries(last.params)),
      ).toBe(true);
    } finally {
      cb.close();
    }
  });
});
