import {
  type Clock,
  FailedPreconditionError,
  LinkflowError,
  newId,
  type SerializedError,
  type Sql,
  scrubLinkTokens,
  toLinkflowError,
} from "../../core/index.ts";
import { requestHash } from "../grpc/index.ts";
import type { NotificationRow } from "./rows.ts";
import { SEND_TIMEOUT_MS, type SendResult } from "./senders.ts";

/** One message to a customer, as the history records it. */
export interface OutgoingMessage {
  businessId: string;
  workflowId: string;
  channel: "sms" | "email";
  origin: string;
  sentBy: string;
  provider: string;
  recipient: string;
  subject: string;
  body: string;
  html: string;
  /** "" = no deduplication. */
  idempotencyKey: string;
  /** The RPC and its request (without the key), hashed to refuse a key reused for something else. */
  method: string;
  request: unknown;
}

/**
 * The history keeps what was sent minus its secrets: a customer's link token
 * and a one-time code work like passwords and are never stored in clear.
 */
export function maskSecrets(text: string): string {
  return scrubLinkTokens(text, "[token]").replace(/\b(code is )\d{4,8}\b/gi, "$1[code]");
}

/** How long a request may hold a message in `sending` before a retry may take it over. */
const SEND_LEASE_MS = SEND_TIMEOUT_MS * 3;

/**
 * Sends each message at most once per idempotency key, never inside a
 * database transaction: the history row is written first (`sending`) and
 * committed, then the provider is called, then the row gets the provider's
 * status (or `failed` with the reason). A retry with the same key answers
 * from the row; a retry that arrives while the first is still sending waits
 * for it. When a sender died between claiming and finishing (its lease
 * lapsed), or its attempt failed in a way that may be retried (a timeout
 * leaves the outcome unknown), a retry takes the message over; where the
 * provider can say (`reconcile`), it is first asked for the message that
 * attempt may have handed over, and only sent again if there is none. A
 * refusal answers the same error again.
 */
export class MessageLedger {
  readonly #sql: Sql;
  readonly #clock: Clock;
  readonly #pollMs: number;

  constructor(sql: Sql, clock: Clock, opts: { pollMs?: number } = {}) {
    this.#sql = sql;
    this.#clock = clock;
    this.#pollMs = opts.pollMs ?? 50;
  }

  /**
   * Records `msg` (refusing a new SMS to a number that opted out, with
   * `recipient_opted_out`), calls `send` outside any transaction and stores
   * its result. `reconcile(since)` finds the message at the provider when an
   * earlier attempt, the first of them begun at `since`, may have handed it over.
   */
  async deliver(
    msg: OutgoingMessage,
    send: (notificationId: string) => Promise<SendResult>,
    reconcile?: (since: Date) => Promise<SendResult | undefined>,
  ): Promise<NotificationRow> {
    const hash = requestHash(msg.method, msg.request);
    // Sends, unless an earlier attempt (any of them: one whose check failed left the outcome unknown too) had
    // already handed the message to the provider.
    const resend = (row: NotificationRow, earlier: Date | null) =>
      this.#send(row, async (id) => {
        const found = reconcile && earlier ? await reconcile(earlier) : undefined;
        return found ?? send(id);
      });
    for (;;) {
      const { row, mine } = await this.#claim(msg, hash);
      if (mine) return this.#send(row, send);
      if (row.request_hash !== hash) {
        throw new FailedPreconditionError(
          "idempotency_key_reused",
          "this idempotency key was already used with a different request",
        );
      }
      if (row.status === "failed") {
        const error = LinkflowError.fromJSON(row.error_json as SerializedError);
        if (!error.retryable) throw error;
        const taken = await this.#takeOver(row.id, "failed");
        if (taken) return resend(taken, row.first_attempt_at);
      } else if (row.status === "sending") {
        // Wall-clock: the lease guards a live process, not business time.
        if (row.lease_until && row.lease_until.getTime() <= Date.now()) {
          const taken = await this.#takeOver(row.id, "sending");
          if (taken) return resend(taken, row.first_attempt_at);
        } else {
          await new Promise((r) => setTimeout(r, this.#pollMs));
        }
      } else {
        return row;
      }
    }
  }

  /**
   * One statement records the message, unless its key already has a row (which
   * answers instead) or an SMS recipient opted out. The serial is the workflow's
   * highest plus one, read in the same statement; when a concurrent send took
   * that serial first, the unique index refuses the row and the claim runs again.
   */
  async #claim(msg: OutgoingMessage, hash: string): Promise<{ row: NotificationRow; mine: boolean }> {
    const sql = this.#sql;
    const key = msg.idempotencyKey;
    for (;;) {
      const now = new Date(this.#clock.now());
      // The partial indexes are only usable when the query itself says `<> ''` (prepared statements plan generically).
      const serial = msg.workflowId
        ? sql`(select coalesce(max(serial), 0) + 1 from notifications.notifications
               where workflow_id = ${msg.workflowId} and workflow_id <> '')`
        : sql`0`;
      let rows: ClaimRow[];
      try {
        rows = await sql<ClaimRow[]>`
          with opted_out as (
            select 1 from notifications.sms_opt_outs where ${msg.channel} = 'sms' and phone = ${msg.recipient}),
          ins as (
            insert into notifications.notifications
              (id, business_id, workflow_id, serial, channel, origin, sent_by, status, provider, recipient, subject,
               body, html, sent_at, status_updated_at, idempotency_key, request_hash, lease_until, first_attempt_at)
            select ${newId("ntf", now.getTime())}, ${msg.businessId}, ${msg.workflowId}, ${serial},
                   ${msg.channel}, ${msg.origin}, ${msg.sentBy}, 'sending', ${msg.provider}, ${msg.recipient},
                   ${msg.subject}, ${maskSecrets(msg.body)}, ${maskSecrets(msg.html)}, ${now}, ${now}, ${key}, ${hash},
                   ${new Date(Date.now() + SEND_LEASE_MS)}, ${new Date()}
            where not exists (select 1 from opted_out)
            on conflict (business_id, idempotency_key) where idempotency_key <> '' do nothing
            returning *)
          select 'mine' as claim, ins.* from ins
          union all
          select 'existing', n.* from notifications.notifications n
          where n.business_id = ${msg.businessId} and n.idempotency_key = ${key} and n.idempotency_key <> ''
          union all
          select 'opted_out', n.* from opted_out left join notifications.notifications n on false`;
      } catch (err) {
        if (isSerialTaken(err)) continue;
        throw err;
      }
      // A row with the key answers even if the recipient opted out since: it was recorded before.
      const found = rows.find((r) => r.claim === "existing") ?? rows.find((r) => r.claim === "mine");
      if (found) {
        const { claim, ...row } = found;
        return { row, mine: claim === "mine" };
      }
      if (rows.some((r) => r.claim === "opted_out")) {
        throw new FailedPreconditionError(
          "recipient_opted_out",
          "the recipient has opted out of SMS (replied STOP)",
        );
      }
      // A concurrent request recorded the key after this statement's snapshot was taken (the insert waited for
      // it to commit): read it now.
      const [other] = await sql<NotificationRow[]>`
        select * from notifications.notifications
        where business_id = ${msg.businessId} and idempotency_key = ${key} and idempotency_key <> ''`;
      if (other) return { row: other, mine: false };
    }
  }

  async #takeOver(id: string, from: "failed" | "sending"): Promise<NotificationRow | undefined> {
    const [row] = await this.#sql<NotificationRow[]>`
      update notifications.notifications
      set status = 'sending', lease_until = ${new Date(Date.now() + SEND_LEASE_MS)}, error = '', error_json = null
      where id = ${id} and status = ${from}
        and (${from} = 'failed' or lease_until <= ${new Date()})
      returning *`;
    return row;
  }

  async #send(row: NotificationRow, send: (id: string) => Promise<SendResult>): Promise<NotificationRow> {
    let result: SendResult;
    try {
      result = await send(row.id);
    } catch (err) {
      const error = toLinkflowError(err);
      await this.#sql`
        update notifications.notifications
        set status = 'failed', error = ${error.message}, error_json = ${this.#sql.json(error.toJSON() as never)},
            lease_until = null, status_updated_at = ${new Date(this.#clock.now())}
        where id = ${row.id} and status = 'sending'`;
      throw error;
    }
    // A status callback may have arrived first; it knows more, so it wins.
    const [done] = await this.#sql<NotificationRow[]>`
      update notifications.notifications
      set provider_message_id = ${result.providerMessageId}, lease_until = null,
          status = case when status = 'sending' then ${result.status ?? "sent"} else status end,
          status_updated_at = ${new Date(this.#clock.now())}
      where id = ${row.id}
      returning *`;
    return done!;
  }
}

type ClaimRow = NotificationRow & { claim: "mine" | "existing" | "opted_out" };

/** Whether `err` is the unique index refusing a serial a concurrent send of the same workflow took first. */
function isSerialTaken(err: unknown): boolean {
  const e = err as { code?: unknown; constraint_name?: unknown } | null;
  return e?.code === "23505" && e.constraint_name === "notifications_workflow_serial";
}
