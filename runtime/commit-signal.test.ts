import { describe, expect, it } from "vitest";
import { CommitSignal } from "./commit-signal.ts";

describe("CommitSignal", () => {
  it("wakes the wait at the actor's commit, long before its bound", async () => {
    const signal = new CommitSignal();
    let woke = false;
    void signal
      .next("wf_a")
      .within(60_000)
      .then(() => {
        woke = true;
      });
    await new Promise((r) => setImmediate(r));
    expect(woke).toBe(false);
    signal.committed("wf_a");
    await new Promise((r) => setImmediate(r));
    expect(woke).toBe(true);
    expect(signal.size).toBe(0);
  });

  it("a commit of another actor does not wake it; the bound does", async () => {
    const signal = new CommitSignal();
    const next = signal.next("wf_a");
    let woke = false;
    const done = next.within(20).then(() => {
      woke = true;
    });
    signal.committed("wf_b");
    await Promise.resolve();
    expect(woke).toBe(false);
    await done;
    expect(woke).toBe(true);
    expect(signal.size).toBe(0);
  });

  it("a commit between registering and waiting is not missed", async () => {
    const signal = new CommitSignal();
    const next = signal.next("wf_a");
    signal.committed("wf_a");
    let woke = false;
    void next.within(60_000).then(() => {
      woke = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(woke).toBe(true);
  });

  it("cancelled waits are forgotten; every waiter of an actor wakes", async () => {
    const signal = new CommitSignal();
    const a = signal.next("wf_a");
    const b = signal.next("wf_a");
    const c = signal.next("wf_c");
    c.cancel();
    expect(signal.size).toBe(1);
    signal.committed("wf_a");
    await Promise.all([a.within(60_000), b.within(60_000)]);
    expect(signal.size).toBe(0);
  });
});
