import type { Logger, Sql } from "../../core/index.ts";
import { isE164 } from "../grpc/index.ts";
import { maskRecipient } from "./rows.ts";
import type { SmsSender } from "./senders.ts";

/** What the HTTP layer answers Twilio's inbound-message webhook with. */
export interface InboundSmsResponse {
  status: number;
  contentType: string;
  body: string;
}

/** Twilio's standard opt-out, opt-in and help keywords. */
const STOP_WORDS = new Set(["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]);
const START_WORDS = new Set(["START", "UNSTOP", "YES"]);
const HELP_WORDS = new Set(["HELP", "INFO"]);
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';
const DEFAULT_HELP =
  "Linkflow: for help, contact support@linkflow.example. Reply STOP to unsubscribe. Msg&data rates may apply.";

/**
 * Twilio's inbound-message form (From, To, Body): STOP and synonyms opt the
 * sender out of SMS, START/UNSTOP/YES opt back in, HELP gets the support
 * contact. Answers with TwiML; the caller has verified the signature.
 */
export async function handleInboundSms(
  deps: { sql: Sql; sms: SmsSender; log: Logger; now: () => Date; helpReply?: string | undefined },
  form: Record<string, string>,
): Promise<InboundSmsResponse> {
  const { sql, log } = deps;
  const from = (form.From ?? "").trim();
  const word = (form.Body ?? "").trim().split(/\s+/)[0]?.toUpperCase() ?? "";
  if (!isE164(from)) return { status: 400, contentType: "text/plain", body: "From must be an E.164 number" };
  const who = { to_masked: maskRecipient(from), keyword: word };
  if (STOP_WORDS.has(word)) {
    await sql`insert into notifications.sms_opt_outs (phone, keyword, opted_out_at)
      values (${from}, ${word}, ${deps.now()}) on conflict (phone) do nothing`;
    log.info("sms opt-out", who);
  } else if (START_WORDS.has(word)) {
    await sql`delete from notifications.sms_opt_outs where phone = ${from}`;
    log.info("sms opt-in", who);
  } else if (HELP_WORDS.has(word)) {
    await deps.sms.send({ to: from, body: deps.helpReply ?? DEFAULT_HELP });
    log.info("sms help answered", who);
  }
  return { status: 200, contentType: "text/xml", body: EMPTY_TWIML };
}
