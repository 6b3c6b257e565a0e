import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  connect,
  ErrorCode,
  headers,
  JSONCodec,
  type NatsConnection,
  NatsError,
  type Subscription,
} from "nats";
import { ShardUnavailableError } from "./errors.ts";
import {
  type Heartbeat,
  type ShardHandler,
  type ShardReply,
  type ShardRequest,
  sleep,
  type Transport,
} from "./transport.ts";

const codec = JSONCodec<unknown>();
const ATTEMPT_TIMEOUT_MS = 2_000;
export const HEARTBEAT_SUBJECT = "linkflow.cluster.heartbeat";
export const shardSubject = (shard: number) => `linkflow.shard.${shard}`;

/**
 * Routes shard requests over NATS request/reply. Only the lease holder of a
 * shard subscribes to its subject, so "no responders" means the shard is
 * moving: the request is retried with backoff until the caller's deadline.
 */
export class NatsTransport implements Transport {
  readonly kind = "nats" as const;
  #subs = new Map<number, Subscription>();
  #hbSub?: Subscription;
  #listeners = new Set<(hb: Heartbeat) => void>();
  /** Connection events since connect (exported as metrics). */
  readonly connection = { reconnects: 0, disconnects: 0 };

  private constructor(readonly nc: NatsConnection) {}

  static async connect(servers: string | string[], name: string): Promise<NatsTransport> {
    const nc = await connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // The client would capture a stack trace (two Errors) for every request, in case it times out:
      // a cost on every cross-node ask for a stack the transport's own typed errors never show.
      noAsyncTraces: true,
    });
    const t = new NatsTransport(nc);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "reconnect") t.connection.reconnects++;
        else if (s.type === "disconnect") t.connection.disconnects++;
      }
    })().catch(() => {});
    t.#hbSub = nc.subscribe(HEARTBEAT_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        const hb = codec.decode(msg.data) as Heartbeat;
        for (const l of t.#listeners) l(hb);
      },
    });
    return t;
  }

  async request(
    shard: number,
    req: ShardRequest,
    opts: { deadline: number; traceparent?: string },
  ): Promise<ShardReply> {
    const subject = shardSubject(shard);
    // A CLIENT span for the NATS round trip; the turn on the far side stays a child of the
    // caller's span (the `traceparent` it passed), so the span tree does not depend on the transport.
    const span = trace.getTracer("linkflow.runtime").startSpan("nats.request linkflow.shard", {
      kind: SpanKind.CLIENT,
      attributes: {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.operation.type": "send",
        "linkflow.request": req.type,
      },
    });
    try {
      const reply = await this.#request(subject, shard, req, opts);
      if (!reply.ok) span.setAttribute("linkflow.error_code", reply.error.code);
      return reply;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).name });
      throw err;
    } finally {
      span.end();
    }
  }

  async #request(
    subject: string,
    shard: number,
    req: ShardRequest,
    opts: { deadline: number; traceparent?: string },
  ): Promise<ShardReply> {
    const h = headers();
    if (opts.traceparent) h.set("traceparent", opts.traceparent);
    // A waiting query may take its wait on the far side: each attempt allows for what is left of it.
    const waitUntil = req.type === "query" && req.waitMs ? Date.now() + req.waitMs : undefined;
    for (let wait = 10; ; wait = Math.min(wait * 2, 250)) {
      const waitLeft = waitUntil === undefined ? 0 : Math.max(0, waitUntil - Date.now());
      // Bounded attempts: a request swallowed by a node that died is sent again (same command
      // id, so the actor applies it once) instead of waiting out the whole deadline.
      const timeout = Math.max(1, Math.min(opts.deadline - Date.now(), ATTEMPT_TIMEOUT_MS + waitLeft));
      const body = waitUntil === undefined ? req : { ...req, waitMs: waitLeft };
      try {
        const msg = await this.nc.request(subject, codec.encode(body), { timeout, headers: h });
        return codec.decode(msg.data) as ShardReply;
      } catch (err) {
        const retry =
          err instanceof NatsError && (err.code === ErrorCode.NoResponders || err.code === ErrorCode.Timeout);
        if (!retry || Date.now() + wait >= opts.deadline || this.nc.isClosed()) {
          throw new ShardUnavailableError(shard, err);
        }
        await sleep(wait);
      }
    }
  }

  async serveShard(shard: number, handler: ShardHandler): Promise<void> {
    if (this.#subs.has(shard)) return;
    const sub = this.nc.subscribe(shardSubject(shard), {
      callback: (err, msg) => {
        if (err) return;
        const req = codec.decode(msg.data) as ShardRequest;
        const tp = msg.headers?.get("traceparent");
        if (tp && req.type === "command") req.envelope.traceparent = tp;
        handler(req).then(
          (reply) => msg.respond(codec.encode(reply)),
          (e) =>
            msg.respond(
              codec.encode({
                ok: false,
                error: {
                  code: "internal",
                  message: String(e),
                  grpcStatus: 13,
                  retryable: true,
                  violations: [],
                },
              }),
            ),
        );
      },
    });
    this.#subs.set(shard, sub);
    await this.nc.flush();
  }

  async stopServingShard(shard: number): Promise<void> {
    const sub = this.#subs.get(shard);
    if (!sub) return;
    this.#subs.delete(shard);
    sub.unsubscribe();
    await this.nc.flush().catch(() => {});
  }

  async publishHeartbeat(hb: Heartbeat): Promise<void> {
    if (!this.nc.isClosed()) this.nc.publish(HEARTBEAT_SUBJECT, codec.encode(hb));
  }

  onHeartbeat(listener: (hb: Heartbeat) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const s of this.#subs.values()) s.unsubscribe();
    this.#subs.clear();
    this.#hbSub?.unsubscribe();
    this.#listeners.clear();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
