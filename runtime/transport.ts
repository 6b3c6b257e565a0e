import type { SerializedError } from "../core/index.ts";

/** A message to the node serving a shard. */
export type ShardRequest =
  | { type: "command"; envelope: import("./actor.ts").CommandEnvelope }
  | {
      type: "query";
      actorId: string;
      query: unknown;
      /** How long the holder may wait for the answer to become ready (ActorBehavior.queryReady). */
      waitMs?: number;
    };

export type ShardReply = { ok: true; value: unknown } | { ok: false; error: SerializedError };

export type ShardHandler = (req: ShardRequest) => Promise<ShardReply>;

/** One node's liveness announcement. */
export interface Heartbeat {
  nodeId: string;
  draining: boolean;
  shards: number[];
  activeActors: number;
  at: number;
}

/**
 * The port between runtime nodes. `local` serves every shard in process;
 * `nats` routes `linkflow.shard.<n>` request/reply over a NATS cluster.
 */
export interface Transport {
  readonly kind: "local" | "nats";
  /** Sends to whichever node serves `shard`; retried until the deadline while no node answers. */
  request(
    shard: number,
    req: ShardRequest,
    opts: { deadline: number; traceparent?: string },
  ): Promise<ShardReply>;
  serveShard(shard: number, handler: ShardHandler): Promise<void>;
  stopServingShard(shard: number): Promise<void>;
  publishHeartbeat(hb: Heartbeat): Promise<void>;
  onHeartbeat(listener: (hb: Heartbeat) => void): () => void;
  close(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
