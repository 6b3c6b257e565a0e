import type { TransactionSql } from "postgres";
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
 * for it. Only if a sender dies between claiming and finishing (its lease
 * lapsed) does a retry send again, since whether the provider got the
 * message is then unknown. A retryable failure (provider unavailable) may be
 * retried with the same key; a refusal answers the same error again.
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
   * Records `msg`, runs `precheck` in the recording transaction (only for a
   * new message), calls `send` outside any transaction and stores its result.
   */
  async deliver(
    msg: OutgoingMessage,
    precheck: (tx: TransactionSql) => Promise<void>,
    send: (notificationId: string) => Promise<SendResult>,
  ): Promise<NotificationRow> {
    const hash = requestHash(msg.method, msg.request);
    for (;;) {
      const { row, mine } = await this.#claim(msg, hash, precheck);
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
        if (taken) return this.#send(taken, send);
      } else if (row.status === "sending") {
        // Wall-clock: the lease guards a live process, not business time.
        if (row.lease_until && row.lease_until.getTime() <= Date.now()) {
          const taken = await this.#takeOver(row.id, "sending");
          if (taken) return this.#send(taken, send);
        } else {
          await new Promise((r) => setTimeout(r, this.#pollMs));
        }
      } else {
        return row;
      }
    }
  }

  async #claim(
    msg: OutgoingMessage,
    hash: string,
    precheck: (tx: TransactionSql) => Promise<void>,
  ): Promise<{ row: NotificationRow; mine: boolean }> {
    return this.#sql.begin(async (tx) => {
      const existing = () => tx<NotificationRow[]>`
        select * from notifications.notifications
        where business_id = ${msg.businessId} and idempotency_key = ${msg.idempotencyKey}`;
      if (msg.idempotencyKey) {
        const [row] = await existing();
        if (row) return { row, mine: false };
      }
      await precheck(tx);
      const serial = await nextSerial(tx, msg.workflowId);
      const [row] = await tx<NotificationRow[]>`
        insert into notifications.notifications
          (id, business_id, workflow_id, serial, channel, origin, sent_by, status, provider, recipient, subject,
           body, html, sent_at, status_updated_at, idempotency_key, request_hash, lease_until)
        values (${newId("ntf", this.#clock.now())}, ${msg.businessId}, ${msg.workflowId}, ${serial}, ${msg.channel},
                ${msg.origin}, ${msg.sentBy}, 'sending', ${msg.provider}, ${msg.recipient}, ${msg.subject},
                ${maskSecrets(msg.body)}, ${maskSecrets(msg.html)}, ${new Date(this.#clock.now())},
                ${new Date(this.#clock.now())}, ${msg.idempotencyKey}, ${hash},
                ${new Date(Date.now() + SEND_LEASE_MS)})
        on conflict (business_id, idempotency_key) where idempotency_key <> '' do nothing
        returning *`;
      if (row) return { row, mine: true };
      // A concurrent retry recorded it first (and has committed: the insert waited for it).
      const [other] = await existing();
      return { row: other!, mine: false };
    });
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

/** Serializes sends per workflow and returns the next serial (0 without a workflow). */
async function nextSerial(tx: TransactionSql, workflowId: string): Promise<number> {
  if (!workflowId) return 0;
  await tx`select pg_advisory_xact_lock(hashtext(${`linkflow.notifications.${workflowId}`}))`;
  const [row] = await tx<{ n: number }[]>`
    select coalesce(max(serial), 0)::int + 1 as n from notifications.notifications where workflow_id = ${workflowId}`;
  return row?.n ?? 1;
}
