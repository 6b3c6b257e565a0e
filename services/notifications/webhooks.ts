import { createHmac, timingSafeEqual } from "node:crypto";
import { SpanKind } from "@opentelemetry/api";
import type { TransactionSql } from "postgres";
import {
  type Clock,
  countWebhookDelivery,
  inSpan,
  type Keyring,
  type Logger,
  newSecret,
  type Sql,
  systemClock,
} from "../../core/index.ts";
import { SubscriptionSecrets } from "./secrets.ts";

/** Added to every delivery lease for the database round trips around the HTTP attempts. */
const LEASE_MARGIN_MS = 30_000;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

/** Delay before the retry that follows failed attempt `attempt` (1-based): doubling, capped. */
export function retryDelayMs(attempt: number, o: { baseBackoffMs: number; maxBackoffMs: number }): number {
  return Math.min(o.baseBackoffMs * 2 ** (attempt - 1), o.maxBackoffMs);
}

/** The default retry policy (see WebhookDispatcher). */
export const DEFAULT_RETRY = { baseBackoffMs: 5000, maxBackoffMs: 3_600_000, maxAttempts: 82 } as const;

/**
 * Checks a Linkflow-Signature header against the body with any of the
 * secrets, rejecting timestamps further than `toleranceSeconds` from now
 * (default 300: the documented 5-minute tolerance).
 */
export function verifyWebhookSignature(
  header: string,
  body: string,
  secrets: string[],
  opts: { nowSeconds?: number; toleranceSeconds?: number } = {},
): boolean {
  const parts = new Map<string, string[]>();
  for (const p of header.split(",")) {
    const i = p.indexOf("=");
    if (i < 0) continue;
    const k = p.slice(0, i).trim();
    parts.set(k, [...(parts.get(k) ?? []), p.slice(i + 1).trim()]);
  }
  const t = Number(parts.get("t")?.[0]);
  if (!Number.isInteger(t)) return false;
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? 300)) return false;
  for (const secret of secrets) {
    const expected = Buffer.from(createHmac("sha256", secret).update(`${t}.${body}`).digest("hex"));
    for (const v of parts.get("v1") ?? []) {
      const got = Buffer.from(v);
      if (got.length === expected.length && timingSafeEqual(got, expected)) return true;
    }
  }
  return false;
}

export interface DispatcherOptions {
  /** How often to look for due deliveries when not woken; default 1000 ms. */
  pollIntervalMs?: number;
  /** First retry delay; doubles per attempt up to maxBackoffMs. Default 5 s. */
  baseBackoffMs?: number;
  /** Default 1 hour. */
  maxBackoffMs?: number;
  /** Attempts before a delivery is marked failed; default 82 (just over 3 days). */
  maxAttempts?: number;
  /** Per-request timeout; default 10 s. */
  requestTimeoutMs?: number;
  /** Deliveries handled per pass; default 20. */
  batchSize?: number;
  /** Consecutive deliveries that failed for good before the endpoint is paused; default 5. */
  pauseAfterFailures?: number;
}

interface DueDelivery {
  id: string;
  attempts: number;
  event_id: string;
  type: string;
  business_id: string;
  payload: unknown;
  event_created_at: Date;
  subscription_id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
}

/**
 * Delivers webhook events: claims due deliveries with a lease (safe with
 * several nodes), POSTs the signed JSON, logs each attempt, retries with
 * exponential backoff, and never sends a workflow's event n+1 to an endpoint
 * before its event n was delivered (or given up on).
 */
export class WebhookDispatcher {
  readonly #sql: Sql;
  readonly #secrets: SubscriptionSecrets;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #opts: Required<DispatcherOptions>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #again = false;

  constructor(
    sql: Sql,
    log: Logger,
    clock: Clock = systemClock,
    opts: DispatcherOptions = {},
    /** Opens the subscriptions' sealed signing secrets (as the service that stored them). */
    keyring?: Keyring,
  ) {
    this.#secrets = new SubscriptionSecrets(keyring);
    this.#sql = sql;
    this.#clock = clock;
    this.#log = log;
    this.#opts = {
      pollIntervalMs: opts.pollIntervalMs ?? 1000,
      baseBackoffMs: opts.baseBackoffMs ?? DEFAULT_RETRY.baseBackoffMs,
      maxBackoffMs: opts.maxBackoffMs ?? DEFAULT_RETRY.maxBackoffMs,
      // 5 s doubling to the 1 h cap, then hourly: 82 attempts span just over 3 days before a delivery is given up.
      maxAttempts: opts.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
      requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
      batchSize: opts.batchSize ?? 20,
      pauseAfterFailures: opts.pauseAfterFailures ?? 5,
    };
  }

  start(): void {
    if (this.#closed || this.#timer) return;
    this.#schedule(0);
  }

  /** Looks for due deliveries now (after a publish or redelivery). */
  kick(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.runOnce()
        .then(
          (n) => {
            if (n > 0) this.#again = true;
          },
          (err: unknown) => {
            this.#log.error("webhook dispatch pass failed", {
              error: err instanceof Error ? err.name : "unknown",
            });
          },
        )
        .finally(() => {
          this.#running = undefined;
          const again = this.#again;
          this.#again = false;
          this.#schedule(again ? 0 : this.#opts.pollIntervalMs);
        });
    }, ms);
  }

  /**
   * One pass: claims up to `batchSize` due deliveries whose turn it is and
   * sends them, naming this pass as owner. One endpoint's deliveries go one
   * after another (each up to `requestTimeoutMs`), so the claim leases them for
   * one attempt, and settling an attempt renews, for one more, the lease of
   * the endpoint's deliveries still waiting behind it once less than an
   * attempt and half the margin is left of it. A slow pass thus never loses a
   * delivery it still holds (no second, concurrent delivery), while a pass
   * that died lets go of all of them within one attempt's lease, not a whole
   * batch's; and a fast one does not rewrite every waiting row at each
   * attempt. Each settling checks that the pass still owns the next delivery
   * (a manual redelivery takes it back), and an attempt is skipped when
   * another worker has taken its delivery over. Returns how many were claimed.
   */
  async runOnce(): Promise<number> {
    const now = new Date(this.#clock.now());
    const owner = newSecret(12);
    const lease = new Date(this.#clock.now() + this.#leaseMs());
    const due = await this.#sql<DueDelivery[]>`
      with claimed as (
        update notifications.deliveries set lease_until = ${lease}, lease_owner = ${owner}
        where id in (
          select d.id from notifications.deliveries d
          where d.status = 'pending' and d.next_attempt_at <= ${now}
            and (d.lease_until is null or d.lease_until <= ${now})
            and exists (select 1 from notifications.webhook_subscriptions s
                        where s.id = d.subscription_id and s.status = 'active')
            and not exists (
              select 1 from notifications.deliveries e
              where d.workflow_id <> '' and e.subscription_id = d.subscription_id
                and e.workflow_id = d.workflow_id and e.status = 'pending' and e.seq < d.seq)
          order by d.seq
          limit ${this.#opts.batchSize}
          for update skip locked)
        returning *)
      select c.id, c.attempts, c.seq, e.id as event_id, e.type, e.business_id, e.payload,
             e.created_at as event_created_at, c.subscription_id, s.url, s.secret, s.previous_secret,
             s.previous_secret_expires_at
      from claimed c
      join notifications.events e on e.id = c.event_id
      join notifications.webhook_subscriptions s on s.id = c.subscription_id
      order by c.seq`;
    // Different endpoints in parallel; one endpoint's deliveries in order.
    const byUrl = new Map<string, DueDelivery[]>();
    for (const d of due) byUrl.set(d.url, [...(byUrl.get(d.url) ?? []), d]);
    await Promise.all(
      [...byUrl.values()].map(async (list) => {
        // Ownership lost is never regained (the owner is this pass), so a delivery missing here is skipped.
        let held = new Set(list.map((d) => d.id));
        let leasedUntil = lease.getTime();
        for (const [i, d] of list.entries()) {
          if (!held.has(d.id)) continue;
          const waiting = list.slice(i + 1).map((x) => x.id);
          const settled = await this.#attempt(d, owner, waiting, leasedUntil);
          leasedUntil = settled.leasedUntil;
          if (settled.renewed) held = settled.owned;
          else if (waiting[0] && !settled.owned.has(waiting[0])) {
            // The next one was taken back: find out which of the rest this pass still holds.
            held = await this.#owned(waiting.slice(1), owner);
          }
        }
      }),
    );
    return due.length;
  }

  /** Those of `ids` that `owner` still holds. */
  async #owned(ids: string[], owner: string): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.#sql<{ id: string }[]>`
      select id from notifications.deliveries
      where id = any(${ids}::text[]) and lease_owner = ${owner} and status = 'pending'`;
    return new Set(rows.map((r) => r.id));
  }

  /** A lease long enough for one attempt, with a margin for the database round trips. */
  #leaseMs(): number {
    return this.#opts.requestTimeoutMs + LEASE_MARGIN_MS;
  }

  /** One v1= per valid secret: the current one, and a rotated-out one during its overlap window. */
  #sign(d: DueDelivery, body: string, t: number): string {
    const header = signWebhook(this.#secrets.fromColumn(d.subscription_id, d.secret), body, t);
    if (!d.previous_secret || !d.previous_secret_expires_at) return header;
    if (d.previous_secret_expires_at.getTime() <= this.#clock.now()) return header;
    const previous = this.#secrets.fromColumn(d.subscription_id, d.previous_secret);
    return `${header},${signWebhook(previous, body, t).split(",")[1]}`;
  }

  /**
   * Sends `d`, records the attempt and settles it; `waiting` are the
   * endpoint's deliveries behind it, leased until `leasedUntil`. When the
   * next attempt could outlast what is left of that lease, it is renewed and
   * `owned` is those of `waiting` the pass still owns; otherwise `owned` says
   * only whether it still owns the first of them.
   */
  async #attempt(
    d: DueDelivery,
    owner: string,
    waiting: string[],
    leasedUntil: number,
  ): Promise<{ owned: Set<string>; renewed: boolean; leasedUntil: number }> {
    const body = JSON.stringify({
      id: d.event_id,
      type: d.type,
      created_at: d.event_created_at.toISOString(),
      business_id: d.business_id,
      data: d.payload,
    });
    const started = Date.now();
    // The signature's timestamp guards the transport against replays, so it is wall-clock time,
    // not the injected business clock (which tests move by days).
    const t = Math.floor(Date.now() / 1000);
    let code = 0;
    let error = "";
    try {
      const send = () =>
        fetch(d.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": "Linkflow-Webhooks/1",
            "linkflow-event-id": d.event_id,
            "linkflow-delivery-id": d.id,
            "linkflow-signature": this.#sign(d, body, t),
          },
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(this.#opts.requestTimeoutMs),
        });
      const res = await inSpan(
        "webhook.send",
        { "http.request.method": "POST", "linkflow.event_type": d.type, "linkflow.attempt": d.attempts + 1 },
        async (span) => {
          const r = await send();
          span.setAttribute("http.response.status_code", r.status);
          return r;
        },
        SpanKind.CLIENT,
      );
      code = res.status;
      await res.body?.cancel();
      if (code < 200 || code >= 300) error = `HTTP ${code}`;
    } catch (err) {
      error = err instanceof Error && err.name === "TimeoutError" ? "timeout" : "connection failed";
    }
    const attempts = d.attempts + 1;
    const now = new Date(this.#clock.now());
    const ok = error === "";
    const failed = !ok && attempts >= this.#opts.maxAttempts;
    countWebhookDelivery(ok ? "delivered" : failed ? "failed" : "retrying");
    const backoff = retryDelayMs(attempts, this.#opts);
    const duration = Date.now() - started;
    const renew = waiting.length > 0 && leasedUntil - now.getTime() < this.#leaseMs() - LEASE_MARGIN_MS / 2;
    const renewUntil = renew ? now.getTime() + this.#leaseMs() : leasedUntil;
    const renewing = renew ? waiting : [];
    const checked = renew ? [] : waiting.slice(0, 1);
    // One statement records the attempt, settles the delivery if this pass still owns it (a manual redelivery
    // meanwhile clears the owner), renews the lease of those waiting (or checks the next one is still owned),
    // and counts the endpoint's deliveries given up in a row (reset by a success).
    const settle = async (q: Sql | TransactionSql) => {
      const [r] = await q<{ owned: string[]; failures: number | null; status: string | null }[]>`
        with attempt as (
          insert into notifications.delivery_attempts (delivery_id, attempted_at, response_code, error, duration_ms)
          values (${d.id}, ${now}, ${code}, ${error}, ${duration})),
        settled as (
          update notifications.deliveries set
            attempts = ${attempts}, last_response_code = ${code}, last_error = ${error}, lease_until = null,
            lease_owner = null,
            status = ${ok ? "delivered" : failed ? "failed" : "pending"},
            delivered_at = ${ok ? now : null},
            next_attempt_at = ${ok || failed ? now : new Date(now.getTime() + backoff)}
          where id = ${d.id} and lease_owner = ${owner}
          returning id),
        renewed as (
          update notifications.deliveries set lease_until = ${new Date(renewUntil)}
          where id = any(${renewing}::text[]) and lease_owner = ${owner} and status = 'pending'
          returning id),
        held as (
          select id from notifications.deliveries
          where id = any(${checked}::text[]) and lease_owner = ${owner} and status = 'pending'
          union all select id from renewed),
        endpoint as (
          update notifications.webhook_subscriptions
          set consecutive_failures = case when ${ok}::boolean then 0 else consecutive_failures + 1 end
          where id = ${d.subscription_id} and exists (select 1 from settled)
            and (${ok}::boolean and consecutive_failures <> 0 or ${failed}::boolean)
          returning consecutive_failures, status)
        select coalesce((select array_agg(id) from held), '{}') as owned,
               (select consecutive_failures from endpoint) as failures, (select status from endpoint) as status`;
      return r!;
    };
    let owned: string[];
    if (!failed) owned = (await settle(this.#sql)).owned;
    else {
      // Given up: the endpoint may have to pause, in the same transaction (rare: once per delivery at most).
      owned = await this.#sql.begin(async (tx) => {
        const r = await settle(tx);
        if (r.status === "active" && r.failures !== null && r.failures >= this.#opts.pauseAfterFailures) {
          await tx`update notifications.webhook_subscriptions set status = 'paused',
              status_reason = ${`paused after ${r.failures} failed deliveries in a row`}
            where id = ${d.subscription_id}`;
          this.#log.warn("webhook endpoint paused after repeated failures", {
            subscription_id: d.subscription_id,
            business_id: d.business_id,
            consecutive_failures: r.failures,
          });
        }
        return r.owned;
      });
    }
    const fields = { delivery_id: d.id, event_id: d.event_id, business_id: d.business_id, attempt: attempts };
    if (ok) this.#log.info("webhook delivered", { ...fields, status_code: code });
    else if (failed)
      this.#log.warn("webhook delivery failed; giving up", { ...fields, status_code: code, error });
    else
      this.#log.info("webhook attempt failed; will retry", {
        ...fields,
        status_code: code,
        error,
        backoff_ms: backoff,
      });
    return { owned: new Set(owned), renewed: renew, leasedUntil: renewUntil };
  }

  /** Stops the loop and waits for an in-flight pass. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
