/** A pending wait for one workflow's next commit; cancel it when no longer needed. */
export interface NextCommit {
  /** Resolves at the commit, or after `ms`, whichever comes first. */
  within(ms: number): Promise<void>;
  cancel(): void;
}

/**
 * Tells those waiting on a workflow that one of its turns committed on this
 * node, so the customer's page can move on at once instead of polling the
 * actor. Commits on other nodes are not seen: waiters also give up after a
 * bound and look again.
 */
export class CommitSignal {
  #waiting = new Map<string, Set<() => void>>();

  /**
   * Registers interest in the workflow's next commit. Register before reading
   * the state you check, so a commit in between is not missed.
   */
  next(workflowId: string): NextCommit {
    let fire: () => void = () => {};
    const fired = new Promise<void>((resolve) => {
      fire = resolve;
    });
    const set = this.#waiting.get(workflowId) ?? new Set();
    this.#waiting.set(workflowId, set);
    set.add(fire);
    const cancel = () => {
      set.delete(fire);
      if (set.size === 0 && this.#waiting.get(workflowId) === set) this.#waiting.delete(workflowId);
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

  /** A turn of the workflow committed on this node. */
  committed(workflowId: string): void {
    const set = this.#waiting.get(workflowId);
    if (!set) return;
    this.#waiting.delete(workflowId);
    for (const fire of set) fire();
  }

  /** Workflows with someone waiting (for tests and metrics). */
  get size(): number {
    return this.#waiting.size;
  }
}
