import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { parseMime } from "./mime.ts";
import { Notifier, waitForItem } from "./procs.ts";

export interface ReceivedEmail {
  /** Envelope sender (MAIL FROM address). The header value is in `headers.from`. */
  from: string;
  /** Envelope recipients (RCPT TO addresses). */
  to: string[];
  subject: string;
  /** Decoded text/plain part ("\n" line endings), "" if none. */
  text: string;
  /** Decoded text/html part ("\n" line endings), "" if none. */
  html: string;
  /** The message exactly as received (UTF-8 decoded). */
  raw: string;
  /** All top-level headers, lower-cased names, encoded-words decoded. */
  headers: Record<string, string>;
}

export interface SmtpServerHandle {
  /** `smtp://127.0.0.1:<port>` (plain, no TLS; any AUTH credentials are accepted). */
  url: string;
  host: string;
  port: number;
  messages: ReceivedEmail[];
  waitForMessage(pred?: (m: ReceivedEmail) => boolean, timeoutMs?: number): Promise<ReceivedEmail>;
  stop(): Promise<void>;
}

/**
 * A loopback SMTP server (the `smtp-server` package) that records every
 * message. No STARTTLS is offered; AUTH is optional and always succeeds, so
 * nodemailer transports configured with or without credentials both work.
 */
export async function startSmtpServer(): Promise<SmtpServerHandle> {
  const messages: ReceivedEmail[] = [];
  const changed = new Notifier();
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ["STARTTLS"],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    closeTimeout: 1_000,
    size: 25 * 1024 * 1024,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? "anonymous" });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (err) => callback(err));
      stream.on("end", () => {
        const buf = Buffer.concat(chunks);
        const parsed = parseMime(buf);
        const mailFrom = session.envelope.mailFrom;
        messages.push({
          from: mailFrom ? mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: parsed.subject,
          text: parsed.text,
          html: parsed.html,
          raw: buf.toString("utf8"),
          headers: parsed.headers,
        });
        callback();
        changed.notify();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.server.off("error", reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  let stopped = false;
  return {
    url: `smtp://127.0.0.1:${port}`,
    host: "127.0.0.1",
    port,
    messages,
    waitForMessage: (pred, timeoutMs) => waitForItem("email", messages, changed.subscribe, pred, timeoutMs),
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
