import { describe, expect, it } from "vitest";
import { assignShards, shardOf } from "./shard.ts";

describe("shardOf", () => {
  it("never changes an actor's shard: timers, effects and actors rows store it", () => {
    // Values of the first SHA-1 word modulo the shard count, fixed when the mapping was made.
    const fixed: [string, number, number][] = [
      ["wf_06h04m1grnwbweajt79dtjj4fw", 256, 175],
      ["wf_06h04m1grnwbweajt79dtjj4fw", 64, 47],
      ["counter-1", 16, 4],
      ["cus_a", 1024, 599],
    ];
    for (let round = 0; round < 2; round++) {
      // The second round is answered from memory and must agree.
      for (const [id, count, shard] of fixed) expect(shardOf(id, count)).toBe(shard);
    }
  });

  it("spreads many actors over every shard", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(shardOf(`wf_${i}`, 64));
    expect(seen.size).toBe(64);
  });
});

describe("assignShards", () => {
  it("gives every shard to exactly one live node and moves few when one joins", () => {
    const before = assignShards(["a", "b"], 128);
    const after = assignShards(["a", "b", "c"], 128);
    expect(before.size).toBe(128);
    let moved = 0;
    for (const [s, n] of after) if (before.get(s) !== n) moved++;
    // Only shards that go to the newcomer move.
    for (const [s, n] of after) if (before.get(s) !== n) expect(n).toBe("c");
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThan(128);
  });
});
