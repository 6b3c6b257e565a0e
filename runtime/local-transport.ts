import { ShardUnavailableError } from "./errors.ts";
import {
  type Heartbeat,
  type ShardHandler,
  type ShardReply,
  type ShardRequest,
  sleep,
  type Transport,
} from "./transport.ts";

/** In-process transport for the single-node embedded default. */
export class LocalTransport implements Transport {
  readonly kind = "local" as const;
  #handlers = new Map<number, ShardHandler>();
  #listeners = new Set<(hb: Heartbeat) => void>();
  #closed = false;

  async request(shard: number, req: ShardRequest, opts: { deadline: number }): Promise<ShardReply> {
    for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
      const h = this.#handlers.get(shard);
      // A command is copied, as it would be on the wire, so the actor never shares objects with the
      // caller; a query only reads.
      if (h) return h(req.type === "query" ? req : structuredClone(req));
      if (this.#closed || Date.now() + wait > opts.deadline) throw new ShardUnavailableError(shard);
      await sleep(wait);
    }
  }

  async serveShard(shard: number, handler: ShardHandler): Promise<void> {
    this.#handlers.set(shard, handler);
  }

  async stopServingShard(shard: number): Promise<void> {
    this.#handlers.delete(shard);
  }

  async publishHeartbeat(hb: Heartbeat): Promise<void> {
    for (const l of this.#listeners) l(hb);
  }

  onHeartbeat(listener: (hb: Heartbeat) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    this.#listeners.clear();
  }
}
