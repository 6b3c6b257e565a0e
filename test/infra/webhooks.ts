import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Notifier, waitForItem } from "./procs.ts";

export interface WebhookDelivery {
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Parsed body, or undefined when it is not JSON. */
  json: unknown;
  /** `Linkflow-Event-Id` header ("" if absent). */
  eventId: string;
  /** Signature valid for one of the secrets and timestamp within 300 s. */
  verified: boolean;
  /** Date.now() when it arrived. */
  receivedAt: number;
  /** Status the receiver answered with. */
  status: number;
  /** Why verification failed (undefined when verified). */
  rejection?: string;
  method: string;
  path: string;
}

export interface WebhookReceiverHandle {
  url: string;
  deliveries: WebhookDelivery[];
  /** Answer the next requests with these statuses, in order (only verified ones consume the list); then 200. */
  respond(statuses: number[]): void;
  waitForDelivery(pred?: (d: WebhookDelivery) => boolean, timeoutMs?: number): Promise<WebhookDelivery>;
  stop(): Promise<void>;
}

export const SIGNATURE_HEADER = "Linkflow-Signature";
export const EVENT_ID_HEADER = "Linkflow-Event-Id";
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<rawBody>")>` with one v1 per secret. */
export function signWebhook(body: string, secrets: string | string[], timestampSeconds?: number): string {
  const t = timestampSeconds ?? Math.floor(Date.now() / 1000);
  const list = typeof secrets === "string" ? [secrets] : secrets;
  const sigs = list.map((s) => `v1=${createHmac("sha256", s).update(`${t}.${body}`).digest("hex")}`);
  return [`t=${t}`, ...sigs].join(",");
}

/** Checks a Linkflow-Signature header; returns undefined when valid, else the reason. */
export function verifyWebhookSignature(
  header: string | undefined,
  body: string,
  secrets: string[],
  nowSeconds = Math.floor(Date.now() / 1000),
): string | undefined {
  if (!header) return `missing ${SIGNATURE_HEADER} header`;
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(",")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === "t" && /^\d+$/.test(v)) t = Number(v);
    else if (k === "v1") v1.push(v);
  }
  if (t === undefined) return "no timestamp in signature header";
  if (v1.length === 0) return "no v1 signature in signature header";
  if (Math.abs(nowSeconds - t) > SIGNATURE_TOLERANCE_SECONDS) return `timestamp ${t} outside tolerance`;
  for (const secret of secrets) {
    const expected = Buffer.from(createHmac("sha256", secret).update(`${t}.${body}`).digest("hex"));
    for (const sig of v1) {
      const got = Buffer.from(sig);
      if (got.length === expected.length && timingSafeEqual(got, expected)) return undefined;
    }
  }
  return "no signature matches any secret";
}

/**
 * A loopback HTTP receiver for business webhooks. Every request is recorded.
 * Invalid signature / stale timestamp → 400 and `verified: false`. Otherwise it
 * answers with the next status from `respond([...])`, then 200.
 * `secrets` may be a function so a test can rotate secrets while it runs.
 */
export async function startWebhookReceiver(opts: {
  secrets: string[] | (() => string[]);
}): Promise<WebhookReceiverHandle> {
  const deliveries: WebhookDelivery[] = [];
  const changed = new Notifier();
  let statuses: number[] = [];
  const secrets = (): string[] => (typeof opts.secrets === "function" ? opts.secrets() : opts.secrets);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
      }
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const rejection = verifyWebhookSignature(headers[SIGNATURE_HEADER.toLowerCase()], body, secrets());
      const status = rejection ? 400 : (statuses.shift() ?? 200);
      const delivery: WebhookDelivery = {
        headers,
        body,
        json,
        eventId: headers[EVENT_ID_HEADER.toLowerCase()] ?? "",
        verified: rejection === undefined,
        receivedAt: Date.now(),
        status,
        method: req.method ?? "",
        path: req.url ?? "/",
        ...(rejection ? { rejection } : {}),
      };
      deliveries.push(delivery);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(rejection ? { error: rejection } : { ok: status < 300 }));
      changed.notify();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  return {
    url: `http://127.0.0.1:${port}/webhooks`,
    deliveries,
    respond(list) {
      statuses = [...list];
    },
    waitForDelivery: (pred, timeoutMs) =>
      waitForItem("webhook delivery", deliveries, changed.subscribe, pred, timeoutMs),
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
