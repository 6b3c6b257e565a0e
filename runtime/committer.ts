import type { Journal, TurnWrite } from "./journal.ts";

interface Pending {
  write: TurnWrite;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: turns that arrive while a transaction is in flight are
 * committed together in the next one. A failed batch is retried turn by turn
 * so one actor's conflict or fenced shard never fails its neighbours.
 */
export class GroupCommitter {
  #queue: Pending[] = [];
  #running = false;
  #idle: Array<() => void> = [];
  batches = 0;
  committedTurns = 0;
  lastBatchSize = 0;

  constructor(
    private readonly journal: Journal,
    private readonly nodeId: string,
    private readonly maxBatch = 512,
  ) {}

  commit(write: TurnWrite): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ write, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  async flushed(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return;
    await new Promise<void>((r) => this.#idle.push(r));
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.maxBatch);
        this.lastBatchSize = batch.length;
        this.batches++;
        try {
          await this.journal.commit(
            this.nodeId,
            batch.map((p) => p.write),
          );
          this.committedTurns += batch.length;
          for (const p of batch) p.resolve();
        } catch (err) {
          if (batch.length === 1) {
            batch[0]?.reject(err);
            continue;
          }
          for (const p of batch) {
            try {
              await this.journal.commit(this.nodeId, [p.write]);
              this.committedTurns++;
              p.resolve();
            } catch (e) {
              p.reject(e);
            }
          }
        }
      }
    } finally {
      this.#running = false;
      for (const r of this.#idle.splice(0)) r();
    }
  }
}
