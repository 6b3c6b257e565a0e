import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import twilio from "twilio";
import { httpExchange } from "./http-exchange.ts";
import { Notifier, waitForItem } from "./procs.ts";

export interface TwilioMessage {
  sid: string;
  accountSid: string;
  from: string;
  to: string;
  body: string;
  /** queued → sent → delivered (advances right after creation; GET shows the current one). */
  status: string;
  /** RFC 2822, e.g. "Sat, 22 Nov 2025 03:13:27 +0000". */
  dateCreated: string;
  messagingServiceSid?: string | null;
  statusCallback?: string | null;
  numSegments?: number;
}

export interface TwilioServerHandle {
  /** Pass to `client.api.baseUrl` (or use {@link twilioClientFor}). No trailing slash. */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  messages: TwilioMessage[];
  waitForMessage(pred?: (m: TwilioMessage) => boolean, timeoutMs?: number): Promise<TwilioMessage>;
  /** The next Messages request (a create or a list) fails with this HTTP status and Twilio error code/message. Calls queue up. */
  failNext(status: number, code: number, message: string): void;
  /** Sending to this number fails with 21610 (recipient unsubscribed / replied STOP). */
  optOut(number: string): void;
  /**
   * Messages to this number are accepted, then the carrier reports them
   * `undelivered` or `failed` with this Twilio ErrorCode (e.g. 30003,
   * unreachable handset) instead of `delivered`.
   */
  failDelivery(number: string, status: "undelivered" | "failed", errorCode: number): void;
  stop(): Promise<void>;
}

const E164 = /^\+[1-9]\d{7,14}$/;

function rfc2822(d: Date): string {
  return d.toUTCString().replace(/GMT$/, "+0000");
}

function segments(body: string): number {
  // Rough GSM-7 vs UCS-2 rule; good enough for a test double.
  const gsm = /^[\x20-\x7e\n\r£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà€]*$/.test(body);
  const single = gsm ? 160 : 70;
  const multi = gsm ? 153 : 67;
  const len = [...body].length;
  return len <= single ? 1 : Math.ceil(len / multi);
}

function errorBody(status: number, code: number, message: string): string {
  return JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
}

/**
 * Twilio's request signature (`X-Twilio-Signature`) for a form POST to `url`:
 * base64(HMAC-SHA1(authToken, url + sorted key/value pairs concatenated)).
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + (params[k] ?? ""), url);
  return createHmac("sha1", authToken).update(data).digest("base64");
}

/**
 * A loopback HTTP server speaking Twilio's Messages REST API:
 * `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form: To, From or
 * MessagingServiceSid, Body, StatusCallback), `GET .../Messages.json` (newest
 * first, filtered by To and From, one page of PageSize) and `GET .../Messages/{Sid}.json`,
 * HTTP Basic auth with accountSid:authToken. Errors use Twilio's JSON shape
 * (`{code, message, more_info, status}`), so the real SDK throws a
 * RestException with `.code`/`.status`: 20003 (401) for bad credentials,
 * 21211 for a non-E.164 To, 21610 for opted-out numbers, 21602/21603/21604 for
 * missing Body/From/To. When StatusCallback is given the server POSTs
 * `sent` and `delivered` callbacks to it (or `undelivered`/`failed` with an
 * ErrorCode, see failDelivery), signed with X-Twilio-Signature.
 */
export async function startTwilioServer(
  opts: { accountSid?: string; authToken?: string } = {},
): Promise<TwilioServerHandle> {
  const accountSid = opts.accountSid ?? `AC${randomBytes(16).toString("hex")}`;
  const authToken = opts.authToken ?? randomBytes(16).toString("hex");
  const messages: TwilioMessage[] = [];
  const changed = new Notifier();
  const failures: { status: number; code: number; message: string }[] = [];
  const optedOut = new Set<string>();
  const carrierFailures = new Map<string, { status: string; errorCode: number }>();
  const expectedAuth = Buffer.from(`Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`);

  const resourceJson = (m: TwilioMessage): Record<string, unknown> => {
    const uri = `/2010-04-01/Accounts/${m.accountSid}/Messages/${m.sid}.json`;
    return {
      account_sid: m.accountSid,
      api_version: "2010-04-01",
      body: m.body,
      date_created: m.dateCreated,
      date_sent: m.status === "queued" ? null : m.dateCreated,
      date_updated: m.dateCreated,
      direction: "outbound-api",
      error_code: null,
      error_message: null,
      from: m.from,
      messaging_service_sid: m.messagingServiceSid ?? null,
      num_media: "0",
      num_segments: String(m.numSegments ?? 1),
      price: null,
      price_unit: "USD",
      sid: m.sid,
      status: m.status,
      subresource_uris: {
        media: `/2010-04-01/Accounts/${m.accountSid}/Messages/${m.sid}/Media.json`,
        feedback: `/2010-04-01/Accounts/${m.accountSid}/Messages/${m.sid}/Feedback.json`,
      },
      to: m.to,
      uri,
    };
  };

  const sendCallbacks = async (m: TwilioMessage): Promise<void> => {
    const failure = carrierFailures.get(m.to);
    for (const status of ["sent", failure?.status ?? "delivered"]) {
      m.status = status;
      changed.notify();
      if (!m.statusCallback) continue;
      const params: Record<string, string> = {
        AccountSid: m.accountSid,
        ApiVersion: "2010-04-01",
        From: m.from,
        MessageSid: m.sid,
        MessageStatus: status,
        SmsSid: m.sid,
        SmsStatus: status,
        To: m.to,
        ...(m.messagingServiceSid ? { MessagingServiceSid: m.messagingServiceSid } : {}),
        ...(failure && status === failure.status ? { ErrorCode: String(failure.errorCode) } : {}),
      };
      try {
        await httpExchange(m.statusCallback, {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilioSignature(authToken, m.statusCallback, params),
          },
          body: new URLSearchParams(params).toString(),
          timeoutMs: 5_000,
        });
      } catch {
        // Twilio ignores callback failures too.
      }
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: string, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
        res.end(body);
      };
      const fail = (status: number, code: number, message: string): void =>
        send(status, errorBody(status, code, message));
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const auth = Buffer.from(req.headers.authorization ?? "");
      const authOk = auth.length === expectedAuth.length && timingSafeEqual(auth, expectedAuth);
      if (!authOk) {
        send(401, errorBody(401, 20003, "Authenticate"), { "www-authenticate": 'Basic realm="Twilio API"' });
        return;
      }
      const list = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(url.pathname);
      const one = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/([^/]+)\.json$/.exec(url.pathname);
      const pathSid = list?.[1] ?? one?.[1];
      if (pathSid !== undefined && pathSid !== accountSid) {
        fail(404, 20404, `The requested resource ${url.pathname} was not found`);
        return;
      }
      if (list) {
        const failure = failures.shift();
        if (failure) return fail(failure.status, failure.code, failure.message);
      }
      if (list && req.method === "POST") {
        const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
        const to = form.get("To");
        const from = form.get("From");
        const mss = form.get("MessagingServiceSid");
        const body = form.get("Body");
        if (!to) return fail(400, 21604, "A 'To' phone number is required.");
        if (!from && !mss) return fail(400, 21603, "A 'From' phone number is required.");
        if (!body) return fail(400, 21602, "Message body is required.");
        if (!E164.test(to)) return fail(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
        if (optedOut.has(to)) return fail(400, 21610, "Attempt to send to unsubscribed recipient");
        const m: TwilioMessage = {
          sid: `SM${randomBytes(16).toString("hex")}`,
          accountSid,
          from: from ?? "",
          to,
          body,
          status: "queued",
          dateCreated: rfc2822(new Date()),
          messagingServiceSid: mss,
          statusCallback: form.get("StatusCallback"),
          numSegments: segments(body),
        };
        const json = JSON.stringify(resourceJson(m));
        messages.push(m);
        changed.notify();
        send(201, json);
        setImmediate(() => void sendCallbacks(m));
        return;
      }
      if (list && req.method === "GET") {
        // Newest first, filtered by To and From, one page.
        const to = url.searchParams.get("To");
        const from = url.searchParams.get("From");
        const size = Math.min(Number(url.searchParams.get("PageSize")) || 50, 1000);
        const found = messages.filter((m) => (!to || m.to === to) && (!from || m.from === from)).reverse();
        return send(
          200,
          JSON.stringify({
            messages: found.slice(0, size).map(resourceJson),
            uri: `${url.pathname}${url.search}`,
            page: 0,
            page_size: size,
            first_page_uri: `${url.pathname}${url.search}`,
            next_page_uri: null,
            previous_page_uri: null,
          }),
        );
      }
      if (one && req.method === "GET") {
        const m = messages.find((x) => x.sid === one[2]);
        if (!m) return fail(404, 20404, `The requested resource ${url.pathname} was not found`);
        return send(200, JSON.stringify(resourceJson(m)));
      }
      fail(404, 20404, `The requested resource ${url.pathname} was not found`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    messages,
    waitForMessage: (pred, timeoutMs) =>
      waitForItem("Twilio message", messages, changed.subscribe, pred, timeoutMs),
    failNext(status, code, message) {
      failures.push({ status, code, message });
    },
    optOut(number) {
      optedOut.add(number);
    },
    failDelivery(number, status, errorCode) {
      carrierFailures.set(number, { status, errorCode });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A real `twilio` SDK client that talks to the loopback server.
 *
 * How the redirect works (twilio v5): `client.api` is a lazily created and then
 * cached `Domain`; every Messages call goes through
 * `client.api.v2010.account.messages` → `Version.request` →
 * `Domain.absoluteUrl(uri)`, which prefixes `domain.baseUrl`
 * ("https://api.twilio.com" by default). So assigning
 * `client.api.baseUrl = handle.baseUrl` redirects every Messages request; no
 * other touching is needed (reading `client.api` creates and caches it).
 * `client.messages` is an alias for the same list. Edge/region must stay unset
 * (BaseTwilio.getHostname would rewrite the host otherwise), so we pass empty
 * strings to override TWILIO_EDGE/TWILIO_REGION from the environment. The
 * SDK's axios instance uses `proxy: false`, so HTTP(S)_PROXY does not interfere.
 * Production code can do the same with a configurable base URL.
 */
export function twilioClientFor(handle: {
  baseUrl: string;
  accountSid: string;
  authToken: string;
}): twilio.Twilio {
  const client = twilio(handle.accountSid, handle.authToken, { edge: "", region: "", autoRetry: false });
  client.api.baseUrl = handle.baseUrl;
  return client;
}
