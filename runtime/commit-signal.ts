/** A pending wait for one actor's next commit; cancel it when no longer needed. */
export interface NextCommit {
  /** Resolves at the commit, or after `ms`, whichever comes first. */
  within(ms: number): Promise<void>;
  cancel(): void;
}

/**
 * Tells those waiting on an actor that one of its turns committed, so a
 * waiting query (`RuntimeNode.query` with `waitMs`) answers at once instead of
 * polling. Only the node holding the actor commits its turns, and that node
 * evaluates the query, so no commit is missed across nodes.
 */
export class CommitSignal {
  #waiting = new Map<string, Set<() => void>>();

  /**
   * Registers interest in the actor's next commit. Register before reading
   * the state you check, so a commit in between is not missed.
   */
  next(actorId: string): NextCommit {
    let fire: () => void = () => {};
    const fired = new Promise<void>((resolve) => {
      fire = resolve;
    });
    const set = this.#waiting.get(actorId) ?? new Set();
    this.#waiting.set(actorId, set);
    set.add(fire);
    const cancel = () => {
      set.delete(fire);
      if (set.size === 0 && this.#waiting.get(actorId) === set) this.#waiting.delete(actorId);
    };
    return {
      async within(ms) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([fired, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
        clearTimeout(timer);
        cancel();
      },
      cancel,
    };
  }

  /** A turn of the actor committed on this node. */
  committed(actorId: string): void {
    const set = this.#waiting.get(actorId);
    if (!set) return;
    this.#waiting.delete(actorId);
    for (const fire of set) fire();
  }

  /** The actors someone waits on. */
  waitedOn(): string[] {
    return [...this.#waiting.keys()];
  }

  /** Actors with someone waiting (for tests and metrics). */
  get size(): number {
    return this.#waiting.size;
  }
}
