import nodemailer from "nodemailer";
import twilio from "twilio";
import {
  FailedPreconditionError,
  type LinkflowError,
  newId,
  type Sql,
  UnavailableError,
  ValidationError,
} from "../../core/index.ts";

/** A text message to one phone number (E.164). */
export interface SmsMessage {
  to: string;
  body: string;
  /** Where the provider should POST delivery status changes (Twilio's StatusCallback). */
  statusCallback?: string;
}

/**
 * What the provider said when it took a message: "queued" (accepted, not yet
 * handed on), "sent" (handed to the carrier / mail server accepted it) or
 * "delivered".
 */
export type ProviderStatus = "queued" | "sent" | "delivered";

/** A provider's answer to a send. */
export interface SendResult {
  providerMessageId: string;
  /** Default "sent". */
  status?: ProviderStatus;
}

/** What to look for at the provider: a message it took to `to`, with exactly `body`, no earlier than `since`. */
export interface SentSmsQuery {
  to: string;
  body: string;
  since: Date;
}

/** Sends SMS. Adapters: Twilio (production) and the dev outbox. */
export interface SmsSender {
  /** "twilio", "outbox", ... recorded with each notification. */
  readonly provider: string;
  /** Resolves to the provider's message id and status; throws a LinkflowError on failure. */
  send(message: SmsMessage): Promise<SendResult>;
  /**
   * The message an earlier attempt handed over, if the provider has it: asked
   * before sending again when that attempt's outcome is unknown (its process
   * died, or its request timed out). Throws a LinkflowError when the
   * provider cannot say.
   */
  findSent(query: SentSmsQuery): Promise<SendResult | undefined>;
}

/**
 * How far before an attempt's start a provider's record of it may be dated:
 * the provider's clock is not ours, and it dates messages to the second.
 */
const PROVIDER_CLOCK_SLACK_MS = 5_000;

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /**
   * The notification the email is, when known: every attempt to send it
   * carries a Message-ID made from it, so a copy sent again after an attempt
   * whose outcome was unknown (SMTP cannot be asked) is the same message to
   * mail systems that fold duplicates.
   */
  notificationId?: string;
}

/** Sends email. Adapters: SMTP via nodemailer (production) and the dev outbox. */
export interface EmailSender {
  readonly provider: string;
  send(message: EmailMessage): Promise<SendResult>;
  close?(): Promise<void>;
}

/** How long a provider may take to answer one send. */
export const SEND_TIMEOUT_MS = 20_000;

/** Twilio error codes that mean "this number cannot receive SMS". */
const BAD_NUMBER = new Set([21211, 21214, 21217, 21401, 21407, 21408, 21612, 21614]);

/** SMS through Twilio's Messages API with the official SDK. */
export class TwilioSmsSender implements SmsSender {
  readonly provider = "twilio";
  readonly #client: twilio.Twilio;
  readonly #from: string;

  constructor(opts: {
    accountSid: string;
    authToken: string;
    from: string;
    baseUrl?: string;
    timeoutMs?: number;
  }) {
    // A bounded request: the notification's send lease must outlast it.
    this.#client = twilio(opts.accountSid, opts.authToken, {
      autoRetry: false,
      timeout: opts.timeoutMs ?? SEND_TIMEOUT_MS,
    });
    if (opts.baseUrl) this.#client.api.baseUrl = opts.baseUrl;
    this.#from = opts.from;
  }

  async send(message: SmsMessage): Promise<SendResult> {
    try {
      const m = await this.#client.messages.create({
        to: message.to,
        from: this.#from,
        body: message.body,
        ...(message.statusCallback ? { statusCallback: message.statusCallback } : {}),
      });
      if (m.status === "failed" || m.status === "undelivered" || m.status === "canceled") {
        throw new FailedPreconditionError(
          "sms_rejected",
          `the SMS provider did not take the message (${m.status}${m.errorCode ? ` ${m.errorCode}` : ""})`,
        );
      }
      return { providerMessageId: m.sid, status: twilioSendStatus(m.status) };
    } catch (err) {
      throw err instanceof FailedPreconditionError ? err : twilioError(err);
    }
  }

  /** Twilio's newest messages from our number to `to` (it lists newest first), matched on body and date. */
  async findSent(query: SentSmsQuery): Promise<SendResult | undefined> {
    const since = query.since.getTime() - PROVIDER_CLOCK_SLACK_MS;
    try {
      const recent = await this.#client.messages.list({ to: query.to, from: this.#from, limit: 50 });
      const m = recent.find(
        (x) =>
          x.body === query.body &&
          x.dateCreated instanceof Date &&
          x.dateCreated.getTime() >= since &&
          !NEVER_SENT.has(x.status),
      );
      return m ? { providerMessageId: m.sid, status: twilioSendStatus(m.status) } : undefined;
    } catch (err) {
      throw twilioError(err);
    }
  }
}

/** Statuses of a message Twilio took but that never went out: sending it again is right. */
const NEVER_SENT = new Set(["failed", "canceled"]);

/** Twilio's status of a message it just accepted, as a ProviderStatus. */
function twilioSendStatus(status: string): ProviderStatus {
  if (status === "sent") return "sent";
  if (status === "delivered" || status === "read") return "delivered";
  return "queued";
}

function twilioError(err: unknown): LinkflowError {
  const e = err as { status?: unknown; code?: unknown } | null;
  const status = typeof e?.status === "number" ? e.status : 0;
  const code = typeof e?.code === "number" ? e.code : 0;
  if (code === 21610) {
    return new FailedPreconditionError(
      "recipient_opted_out",
      "the recipient has opted out of SMS (replied STOP)",
    );
  }
  if (BAD_NUMBER.has(code)) {
    return new ValidationError([
      { field: "to", description: `the SMS provider cannot deliver to this number (${code})` },
    ]);
  }
  if (status >= 400 && status < 500 && status !== 429) {
    return new FailedPreconditionError(
      "sms_rejected",
      `the SMS provider rejected the message (${code || status})`,
    );
  }
  return new UnavailableError(
    "sms_unavailable",
    `the SMS provider is unavailable (${status || "no response"})`,
    err,
  );
}

/** The dev outbox for SMS: stores the message in `notifications.outbox` instead of sending it. */
export class OutboxSmsSender implements SmsSender {
  readonly provider = "outbox";
  constructor(private readonly sql: Sql) {}

  async send(message: SmsMessage): Promise<SendResult> {
    const id = newId("outbox");
    await this.sql`insert into notifications.outbox (id, channel, recipient, body, created_at)
      values (${id}, 'sms', ${message.to}, ${message.body}, now())`;
    return { providerMessageId: id };
  }

  async findSent(query: SentSmsQuery): Promise<SendResult | undefined> {
    const [row] = await this.sql<{ id: string }[]>`
      select id from notifications.outbox
      where channel = 'sms' and recipient = ${query.to} and body = ${query.body}
        and created_at >= ${new Date(query.since.getTime() - PROVIDER_CLOCK_SLACK_MS)}
      order by created_at desc limit 1`;
    return row ? { providerMessageId: row.id } : undefined;
  }
}

/** Email over SMTP with nodemailer (`smtp://user:pass@host:port`, `smtps://...`). */
export class SmtpEmailSender implements EmailSender {
  readonly provider = "smtp";
  readonly #transport: nodemailer.Transporter;
  readonly #from: string;
  readonly #domain: string;

  constructor(smtpUrl: string, opts: { from?: string } = {}) {
    this.#transport = nodemailer.createTransport(smtpUrl, {
      connectionTimeout: SEND_TIMEOUT_MS / 2,
      greetingTimeout: SEND_TIMEOUT_MS / 2,
      socketTimeout: SEND_TIMEOUT_MS,
    });
    this.#from = opts.from ?? "Linkflow <no-reply@linkflow.local>";
    // Message-IDs are ours to make unique within the sender's domain (RFC 5322 section 3.6.4).
    this.#domain = /@([^>\s]+)>?\s*$/.exec(this.#from)?.[1] ?? "linkflow.local";
  }

  async send(message: EmailMessage): Promise<SendResult> {
    try {
      const info = await this.#transport.sendMail({
        from: this.#from,
        ...(message.notificationId ? { messageId: `<${message.notificationId}@${this.#domain}>` } : {}),
        to: message.to,
        subject: message.subject,
        ...(message.text ? { text: message.text } : {}),
        ...(message.html ? { html: message.html } : {}),
      });
      return { providerMessageId: String(info.messageId ?? ""), status: "sent" };
    } catch (err) {
      const code = (err as { responseCode?: unknown } | null)?.responseCode;
      if (typeof code === "number" && code >= 500 && code < 600) {
        throw new FailedPreconditionError("email_rejected", `the mail server rejected the message (${code})`);
      }
      throw new UnavailableError("email_unavailable", "the mail server is unavailable", err);
    }
  }

  async close(): Promise<void> {
    this.#transport.close();
  }
}

/** The dev outbox for email. */
export class OutboxEmailSender implements EmailSender {
  readonly provider = "outbox";
  constructor(private readonly sql: Sql) {}

  async send(message: EmailMessage): Promise<SendResult> {
    const id = newId("outbox");
    await this.sql`insert into notifications.outbox (id, channel, recipient, subject, body, html, created_at)
      values (${id}, 'email', ${message.to}, ${message.subject}, ${message.text}, ${message.html}, now())`;
    return { providerMessageId: id };
  }
}
