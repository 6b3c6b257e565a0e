import { createHash } from "node:crypto";

/** Recently mapped actor ids per shard count: every ask, query and effect maps its actor again. */
const recent = new Map<number, Map<string, number>>();
const RECENT_MAX = 50_000;

/** Maps an actor id to one of `shardCount` shards; stable across nodes and restarts. */
export function shardOf(actorId: string, shardCount: number): number {
  let known = recent.get(shardCount);
  const hit = known?.get(actorId);
  if (hit !== undefined) return hit;
  const shard = createHash("sha1").update(actorId).digest().readUInt32BE(0) % shardCount;
  if (!known) {
    known = new Map();
    recent.set(shardCount, known);
  }
  if (known.size >= RECENT_MAX) known.clear();
  known.set(actorId, shard);
  return shard;
}

/**
 * Rendezvous (highest random weight) assignment: each shard goes to the node
 * with the highest hash of (node, shard). A join or leave moves only the
 * shards that must move.
 */
export function assignShards(nodes: string[], shardCount: number): Map<number, string> {
  const out = new Map<number, string>();
  if (nodes.length === 0) return out;
  for (let s = 0; s < shardCount; s++) {
    let best = "";
    let bestScore = -1;
    for (const n of nodes) {
      const score = createHash("sha1").update(`${n}#${s}`).digest().readUInt32BE(0);
      if (score > bestScore || (score === bestScore && n < best)) {
        best = n;
        bestScore = score;
      }
    }
    out.set(s, best);
  }
  return out;
}
