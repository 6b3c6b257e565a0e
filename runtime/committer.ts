import { JournalConflictError, ShardNotOwnedError } from "./errors.ts";
import type { Journal, TurnWrite } from "./journal.ts";

interface Pending {
  write: TurnWrite;
  resolve: (o: "ok" | "duplicate") => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: turns that arrive while commits are in flight are committed
 * together in the next statement. Up to `maxInFlight` statements run at once
 * (turns of one actor are never in flight twice, since an actor runs one turn
 * at a time). Each turn succeeds or fails on its own: a fenced shard or a
 * conflicting actor never fails its neighbours. When the statement itself
 * fails, the batch is retried turn by turn to isolate the culprit.
 */
export class GroupCommitter {
  #queue: Pending[] = [];
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #pumpScheduled = false;
  batches = 0;
  committedTurns = 0;
  lastBatchSize = 0;
  /** Observer of every statement: turns in it, seconds it took, whether it succeeded. */
  onBatch?: (size: number, seconds: number, ok: boolean) => void;

  constructor(
    private readonly journal: Journal,
    private readonly nodeId: string,
    private readonly maxBatch = 1000,
    private readonly maxInFlight = 2,
  ) {}

  /**
   * Resolves "ok" once the turn committed, or "duplicate" when the journal
   * had already applied its command id (nothing was written); rejects with
   * ShardNotOwnedError or JournalConflictError.
   */
  commit(write: TurnWrite): Promise<"ok" | "duplicate"> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ write, resolve, reject });
      // Turns decided in the same pass of the event loop share one statement: pump once, after them.
      if (!this.#pumpScheduled) {
        this.#pumpScheduled = true;
        setImmediate(() => {
          this.#pumpScheduled = false;
          this.#pump();
        });
      }
    });
  }

  /** Resolves once nothing is queued or in flight. */
  async flushed(): Promise<void> {
    if (this.#inFlight === 0 && this.#queue.length === 0) return;
    await new Promise<void>((r) => this.#idle.push(r));
  }

  #pump(): void {
    while (this.#inFlight < this.maxInFlight && this.#queue.length > 0) {
      const batch = this.#take();
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.#inFlight === 0 && this.#queue.length === 0) for (const r of this.#idle.splice(0)) r();
      });
    }
  }

  /** Up to maxBatch turns, at most one per actor (a second one waits for the next batch). */
  #take(): Pending[] {
    const batch: Pending[] = [];
    const seen = new Set<string>();
    const rest: Pending[] = [];
    for (const p of this.#queue) {
      if (batch.length < this.maxBatch && !seen.has(p.write.actorId)) {
        seen.add(p.write.actorId);
        batch.push(p);
      } else rest.push(p);
    }
    this.#queue = rest;
    return batch;
  }

  async #run(batch: Pending[]): Promise<void> {
    this.lastBatchSize = batch.length;
    this.batches++;
    let outcomes: Awaited<ReturnType<Journal["commit"]>>;
    const t0 = performance.now();
    try {
      outcomes = await this.journal.commit(
        this.nodeId,
        batch.map((p) => p.write),
      );
      this.onBatch?.(batch.length, (performance.now() - t0) / 1000, true);
    } catch (err) {
      this.onBatch?.(batch.length, (performance.now() - t0) / 1000, false);
      if (batch.length === 1) {
        batch[0]?.reject(err);
        return;
      }
      for (const p of batch) await this.#run([p]);
      return;
    }
    batch.forEach((p, i) => {
      const o = outcomes[i];
      if (o === "ok") {
        this.committedTurns++;
        p.resolve("ok");
      } else if (o === "duplicate") p.resolve("duplicate");
      else if (o === "fenced") p.reject(new ShardNotOwnedError(p.write.shard));
      else p.reject(new JournalConflictError(p.write.actorId));
    });
  }
}
