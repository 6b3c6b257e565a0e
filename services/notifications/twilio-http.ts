import type { IncomingMessage, ServerResponse } from "node:http";
import twilio from "twilio";
import type { SmsStatusReport } from "./sms-status.ts";

/** Where Twilio POSTs delivery reports (StatusCallback). */
export const TWILIO_STATUS_PATH = "/twilio/sms/status";
/** Where Twilio POSTs inbound messages (the number's messaging webhook). */
export const TWILIO_INBOUND_PATH = "/twilio/sms/inbound";

const MAX_FORM_BYTES = 64 * 1024;

/** What the Twilio routes need from the notifications service. */
export interface TwilioWebhookTarget {
  recordSmsStatus(report: SmsStatusReport): Promise<"recorded" | "ignored" | "unknown">;
  handleInboundSms(
    form: Record<string, string>,
  ): Promise<{ status: number; contentType: string; body: string }>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * HTTP handlers for Twilio's webhooks, keyed by path. Each request must carry
 * a valid X-Twilio-Signature for `publicBaseUrl()` + its path and query
 * (what Twilio signed), else 403; nothing in it is trusted before that.
 */
export function twilioWebhookRoutes(
  target: TwilioWebhookTarget,
  opts: { authToken: string; publicBaseUrl: () => string },
): Record<string, Handler> {
  const verified = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST") {
      reply(res, 405, "text/plain", "POST only\n");
      return undefined;
    }
    const form = await readForm(req);
    if (!form) {
      reply(res, 413, "text/plain", "too large\n");
      return undefined;
    }
    const url = `${opts.publicBaseUrl().replace(/\/$/, "")}${req.url ?? "/"}`;
    const signature = String(req.headers["x-twilio-signature"] ?? "");
    if (!signature || !twilio.validateRequest(opts.authToken, signature, url, form)) {
      reply(res, 403, "text/plain", "bad signature\n");
      return undefined;
    }
    return form;
  };
  return {
    [TWILIO_STATUS_PATH]: async (req, res) => {
      const form = await verified(req, res);
      if (!form) return;
      const query = new URL(req.url ?? "/", "http://callback.invalid").searchParams;
      const notificationId = query.get("notification_id") ?? "";
      const result = await target.recordSmsStatus({
        ...(notificationId ? { notificationId } : {}),
        providerMessageId: form.MessageSid ?? form.SmsSid ?? "",
        status: form.MessageStatus ?? form.SmsStatus ?? "",
        ...(form.ErrorCode ? { errorCode: form.ErrorCode } : {}),
      });
      // Twilio does not retry callbacks; 404 only makes an unknown message visible in its console.
      reply(res, result === "unknown" ? 404 : 204, "text/plain", "");
    },
    [TWILIO_INBOUND_PATH]: async (req, res) => {
      const form = await verified(req, res);
      if (!form) return;
      const answer = await target.handleInboundSms(form);
      reply(res, answer.status, answer.contentType, answer.body);
    },
  };
}

function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType });
  res.end(body);
}

async function readForm(req: IncomingMessage): Promise<Record<string, string> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(c);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
}
